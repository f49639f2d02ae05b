//! The wallet's local database (sled): identity, payment outbox, receipts.
//!
//! Trees:
//! - `meta`: the schema version;
//! - `identity`: the sealed device seed, account and device ids, pinned
//!   operator and receipt keys;
//! - `outbox`: payment intents by idempotency key (see [`outbox`]);
//! - `receipts_newest_first`: verified receipts, newest first (schema 2;
//!   schema 1 kept them oldest first in `receipts`, see [`receipts`]);
//! - `events`, `event_keys`: the app's event queue (see `crate::events`).
//!
//! Values are JSON. Every write that matters for money (intents, receipts,
//! identity) is flushed (`Store::flush`) before the caller goes on.

pub(crate) mod identity;
pub(crate) mod outbox;
pub(crate) mod receipts;
pub(crate) mod stream_tree;

use std::path::PathBuf;

use serde::{de::DeserializeOwned, Serialize};

/// The schema this build writes. Older versions are migrated on open;
/// newer ones are refused (a downgraded app must not corrupt data).
///
/// 2: receipts and guardian alerts are keyed newest first, so the newest
/// are read with a forward scan (sled's reverse iterator carries a 1 MiB
/// constant into every app's library; see [`receipts`]).
pub(crate) const SCHEMA_VERSION: u32 = 2;

const META_SCHEMA: &[u8] = b"schema_version";

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// sled failed (I/O, lock held by another process, corruption).
    #[error("database error: {0}")]
    Db(#[from] sled::Error),
    /// A record could not be decoded.
    #[error("corrupt record in {tree}: {reason}")]
    Corrupt {
        /// The tree.
        tree: &'static str,
        /// Why.
        reason: String,
    },
    /// The data was written by a newer version of the core.
    #[error("the wallet data was written by a newer app version (schema {found}; this build reads up to {supported})")]
    NewerSchema {
        /// Version found on disk.
        found: u32,
        /// Version this build supports.
        supported: u32,
    },
    /// The blocking open task failed.
    #[error("could not open the database: {0}")]
    Open(String),
    /// The blocking flush task stopped before it finished (a panic in
    /// sled, or the runtime shutting down): the writes may not be durable.
    #[error("could not make the wallet's writes durable: {0}")]
    Flush(String),
}

impl StoreError {
    /// A record of `tree` that could not be decoded (each area names its
    /// own tree, so the message says where).
    pub(crate) fn corrupt(tree: &'static str, reason: impl ToString) -> Self {
        Self::Corrupt {
            tree,
            reason: reason.to_string(),
        }
    }
}

/// Result alias of the store.
pub(crate) type Result<T> = std::result::Result<T, StoreError>;

/// The opened database and its trees. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Store {
    db: sled::Db,
    identity: sled::Tree,
    outbox: sled::Tree,
    receipts: sled::Tree,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// Opens (or creates) the database in `dir` without blocking the async
    /// executor.
    ///
    /// sled lets go of its file lock only once its background threads have
    /// released the previous handle, a moment after it is dropped; an app
    /// that closes and reopens its wallet at once can get there first, so a
    /// lock conflict is retried briefly before it is reported.
    pub(crate) async fn open(dir: PathBuf) -> Result<Self> {
        const LOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(10);
        const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(3);
        let deadline = tokio::time::Instant::now() + LOCK_PATIENCE;
        loop {
            let path = dir.clone();
            let opened = tokio::task::spawn_blocking(move || Self::open_blocking(path))
                .await
                .map_err(|e| StoreError::Open(e.to_string()))?;
            match opened {
                // sled reports the conflict as ErrorKind::Other with this text.
                Err(StoreError::Db(sled::Error::Io(e)))
                    if e.to_string().contains("could not acquire lock")
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(LOCK_RETRY).await;
                }
                other => return other,
            }
        }
    }

    /// Opens (or creates) the database in `dir`, blocking.
    pub(crate) fn open_blocking(dir: PathBuf) -> Result<Self> {
        let db = sled::Config::new().path(dir).open()?;
        let meta = db.open_tree("meta")?;
        match meta.get(META_SCHEMA)? {
            None => {
                meta.insert(META_SCHEMA, &SCHEMA_VERSION.to_be_bytes())?;
                db.flush()?;
            }
            Some(raw) => {
                let bytes: [u8; 4] = raw.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    tree: "meta",
                    reason: "schema version is not 4 bytes".into(),
                })?;
                let found = u32::from_be_bytes(bytes);
                if found > SCHEMA_VERSION {
                    return Err(StoreError::NewerSchema {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                // Each step is idempotent, so a migration cut short by a
                // crash runs again; the version is written last.
                if found < 2 {
                    receipts::migrate_to_newest_first(&db)?;
                    db.flush()?;
                    meta.insert(META_SCHEMA, &SCHEMA_VERSION.to_be_bytes())?;
                    db.flush()?;
                }
            }
        }
        Ok(Self {
            identity: db.open_tree("identity")?,
            outbox: db.open_tree("outbox")?,
            receipts: db.open_tree(receipts::TREE)?,
            db,
        })
    }

    /// Opens (or creates) another tree in this database, for an area that
    /// keeps its own records (the event queue: `events`, `event_keys`).
    pub(crate) fn tree(&self, name: &'static str) -> Result<sled::Tree> {
        Ok(self.db.open_tree(name)?)
    }

    /// A fresh id, strictly increasing across restarts (sled's generator).
    pub(crate) fn generate_id(&self) -> Result<u64> {
        Ok(self.db.generate_id()?)
    }

    /// Makes every write so far durable.
    ///
    /// A blocking `flush` on tokio's blocking pool, not sled's
    /// `flush_async`: sled 0.34 runs that on its own small I/O pool, where
    /// it waits for a buffer write queued behind it on the same pool, so
    /// seven flushes in flight lock every wallet of the process up for good
    /// (spacejam/sled#1241, #1308; see the test below).
    pub(crate) async fn flush(&self) -> Result<()> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| StoreError::Flush(e.to_string()))??;
        Ok(())
    }

    /// The schema version on disk.
    #[cfg(test)]
    pub(crate) fn schema_version(&self) -> Result<u32> {
        let meta = self.db.open_tree("meta")?;
        let raw = meta.get(META_SCHEMA)?.ok_or(StoreError::Corrupt {
            tree: "meta",
            reason: "no schema version".into(),
        })?;
        let bytes: [u8; 4] = raw.as_ref().try_into().map_err(|_| StoreError::Corrupt {
            tree: "meta",
            reason: "schema version is not 4 bytes".into(),
        })?;
        Ok(u32::from_be_bytes(bytes))
    }
}

fn encode<T: Serialize>(tree: &'static str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::corrupt(tree, e))
}

fn decode<T: DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::corrupt(tree, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn schema_version_is_written_and_newer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let store = Store::open(path.clone()).await.unwrap();
            assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
            store
                .db
                .open_tree("meta")
                .unwrap()
                .insert(META_SCHEMA, &(SCHEMA_VERSION + 1).to_be_bytes())
                .unwrap();
            store.flush().await.unwrap();
        }
        assert!(matches!(
            Store::open(path).await,
            Err(StoreError::NewerSchema { .. })
        ));
    }

    /// sled 0.34's `flush_async` runs on sled's own I/O pool and waits there
    /// for a buffer write queued on the same pool: with seven flushes in
    /// flight (several wallets in one process, or one busy wallet) every
    /// pool thread waits and the write never runs (spacejam/sled#1241,
    /// #1308; it hung `cargo bench -p wayfare-e2e`). Many concurrent
    /// flushes over several stores must all finish.
    /// Bounded even when it locks up (see `finishes_within`).
    #[test]
    fn many_concurrent_flushes_all_finish() {
        wayfare_testkit::poll::finishes_within(
            std::time::Duration::from_secs(120),
            "400 writers flushing 8 wallet stores",
            concurrent_flushes(),
        );
    }

    async fn concurrent_flushes() {
        let dirs: Vec<_> = (0..8).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut stores = Vec::new();
        for dir in &dirs {
            stores.push(Store::open(dir.path().join("db")).await.unwrap());
        }
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..400u32 {
            let store = stores[(i % 8) as usize].clone();
            tasks.spawn(async move {
                for round in 0..5u32 {
                    store
                        .outbox
                        .insert(format!("k{i}-{round}"), &[0u8; 64][..])
                        .unwrap();
                    store.flush().await.unwrap();
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
    }
}
