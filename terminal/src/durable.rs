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
    /// Many concurrent flushes over several databases all finish, bounded
    /// even when they lock up (see `finishes_within`).
    #[test]
    fn many_concurrent_flushes_all_finish() {
        wayfare_testkit::poll::finishes_within(
            std::time::Duration::from_secs(120),
            "400 writers flushing 8 terminal stores",
            async {
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
            },
        );
    }
}
