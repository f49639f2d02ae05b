//! The deny list at the gate: the newest signed copy, kept in the store so
//! a restart does not forget a revocation, and a background sync.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use wayfare_protocol::express::DenyList;
use wayfare_protocol::keys::PublicKey;

use super::verify::DenySnapshot;
use crate::error::Result;
use crate::platform::PlatformClient;

const KEY: &[u8] = b"current";

/// The newest verified deny list.
pub(crate) struct DenyBook {
    tree: sled::Tree,
    server_key: PublicKey,
    current: RwLock<Arc<DenySnapshot>>,
}

impl DenyBook {
    /// Loads the stored copy (verified again).
    pub(crate) fn open(tree: sled::Tree, server_key: PublicKey) -> Result<Self> {
        let book = Self {
            tree,
            server_key,
            current: RwLock::new(Arc::default()),
        };
        if let Some(bytes) = book.tree.get(KEY)? {
            if let Err(e) = book.accept(&bytes, false) {
                tracing::warn!(error = %e, "the stored deny list does not verify; waiting for a fresh one");
            }
        }
        Ok(book)
    }

    /// The list as it stands.
    pub(crate) fn snapshot(&self) -> Arc<DenySnapshot> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Takes a signed list if it verifies and is not older than the one
    /// held (a replayed old list cannot un-revoke a phone).
    fn accept(&self, bytes: &[u8], store: bool) -> std::result::Result<bool, String> {
        let body = DenyList::from_bytes(bytes.to_vec())
            .verify(&self.server_key)
            .map_err(|e| e.to_string())?;
        let held = self.snapshot();
        if body.version < held.version
            || (body.version == held.version && body.issued_at_ms <= held.issued_at_ms)
        {
            return Ok(false);
        }
        if store {
            self.tree
                .insert(KEY, bytes)
                .map_err(|e| format!("cannot store the deny list: {e}"))?;
        }
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(DenySnapshot {
            version: body.version,
            issued_at_ms: body.issued_at_ms,
            allowance_ids: body.allowance_ids.into_iter().collect(),
        });
        Ok(true)
    }

    /// Fetches the list every `every` until shutdown.
    pub(crate) async fn run_sync(
        self: Arc<Self>,
        platform: PlatformClient,
        every: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut failing = false;
        loop {
            match platform.express_deny_list().await {
                Ok(bytes) => match self.accept(&bytes, true) {
                    Ok(newer) => {
                        if newer || failing {
                            let held = self.snapshot();
                            tracing::debug!(
                                version = held.version,
                                entries = held.allowance_ids.len(),
                                "deny list synced"
                            );
                        }
                        failing = false;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "the control center sent a deny list that does not verify")
                    }
                },
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "cannot fetch the deny list; express taps continue until it is too old");
                    }
                    failing = true;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
