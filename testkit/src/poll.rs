//! Bounded polling: tests wait for something to become true by asking
//! again every few milliseconds until a deadline, never by sleeping a
//! guessed time (too short is flaky, too long is slow).

use std::future::Future;
use std::time::Duration;

/// How often a condition is asked again.
const STEP: Duration = Duration::from_millis(20);

/// How long [`eventually`] waits: generous, so only a bug fails it.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Polls the async `check` until it holds; panics with "timed out waiting
/// until {what}" after `within`, so a bug fails the test instead of
/// hanging it.
pub async fn wait_until<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what} ({within:?})"
        );
        tokio::time::sleep(STEP).await;
    }
}

/// Polls the plain `check` until it holds, for at most [`PATIENCE`]: the
/// usual wait on state a test can read without awaiting.
pub async fn eventually<F: FnMut() -> bool>(what: &str, mut check: F) {
    wait_until(PATIENCE, what, || std::future::ready(check())).await;
}

/// Runs `work` on a multi-thread runtime of its own thread and panics if
/// it has not finished `within`: for a test of a lockup, which would block
/// the test's own runtime (its workers and timers too), so that no tokio
/// timeout could fire. A locked-up thread is left behind; the test fails
/// instead of hanging.
pub fn finishes_within<F>(within: Duration, what: &str, work: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("a runtime for the bounded work");
        runtime.block_on(work);
        let _ = done.send(());
    });
    if finished.recv_timeout(within).is_err() {
        panic!("{what} did not finish within {within:?}");
    }
}
