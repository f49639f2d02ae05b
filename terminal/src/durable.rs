//! Making the terminal's sled writes durable before it answers anyone.
//!
//! A blocking `flush` on tokio's blocking pool, never sled's `flush_async`:
//! sled 0.34 runs that on its own small I/O pool, where it waits for a
//! buffer write queued behind it on the same pool, so seven flushes in
//! flight (a few busy stores in one process) lock every store up for good
//! (spacejam/sled#1241, #1308). It hung `cargo bench -p wayfare-e2e`.

/// Flushes everything written to `tree`'s database so far; `Db` derefs to
/// `Tree`, so a whole database is flushed the same way.
pub(crate) async fn flush(tree: &sled::Tree) -> sled::Result<usize> {
    let tree = tree.clone();
    tokio::task::spawn_blocking(move || tree.flush())
        .await
        .map_err(|e| {
            sled::Error::Io(std::io::Error::other(format!(
                "the flush task stopped before it finished: {e}"
            )))
        })?
}

#[cfg(test)]
mod tests {
    /// Many concurrent flushes over several databases all finish. Bounded
    /// even when it locks up: the load runs on a thread of its own (a
    /// lockup blocks the runtime's workers and timers too) and the test
    /// waits for it with a deadline.
    #[test]
    fn many_concurrent_flushes_all_finish() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let dirs: Vec<_> = (0..8).map(|_| tempfile::tempdir().unwrap()).collect();
                let dbs: Vec<sled::Db> =
                    dirs.iter().map(|d| sled::open(d.path()).unwrap()).collect();
                let mut tasks = tokio::task::JoinSet::new();
                for i in 0..400usize {
                    let db = dbs[i % 8].clone();
                    tasks.spawn(async move {
                        for round in 0..5 {
                            db.insert(format!("k{i}-{round}"), &[0u8; 64][..]).unwrap();
                            super::flush(&db).await.unwrap();
                        }
                    });
                }
                while let Some(task) = tasks.join_next().await {
                    task.unwrap();
                }
            });
            let _ = done.send(());
        });
        finished
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("every flush finishes (no lockup in the flush pool)");
    }
}
