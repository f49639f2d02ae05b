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
