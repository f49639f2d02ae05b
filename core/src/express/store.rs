//! The express area's records in the wallet database (tree `express`):
//!
//! - `settings`: the rider's [`ExpressSettings`] (JSON);
//! - `allowance`: the allowance held now, with its tap-key nonce, the caps
//!   it was asked for, the last counter signed and the total spent under it
//!   ([`StoredAllowance`], JSON);
//! - `pending/<allowance id>/<counter, 4 bytes big-endian>`: each express
//!   tap signed on this phone, until the server reports it settled
//!   ([`PendingExpressTap`], JSON).
//!
//! A tap's counter, spent total and pending record are written in one batch
//! and flushed before the tap leaves the phone, so a crash can neither sign
//! two taps with one counter nor forget a fare.

use serde::{Deserialize, Serialize};
use wayfare_protocol::express::{Allowance, AllowanceBody};
use wayfare_protocol::ids::{b64_decode, b64_encode};

use super::types::{ExpressSettings, PendingExpressTap};
use crate::store::{Store, StoreError};

const TREE: &str = "express";
const KEY_SETTINGS: &[u8] = b"settings";
const KEY_ALLOWANCE: &[u8] = b"allowance";
const PENDING_PREFIX: &[u8] = b"pending/";

fn corrupt(reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        tree: TREE,
        reason: reason.to_string(),
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(corrupt)
}

fn decode<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(raw).map_err(corrupt)
}

fn pending_key(allowance_id: &str, counter: u32) -> Vec<u8> {
    let mut key = PENDING_PREFIX.to_vec();
    key.extend_from_slice(allowance_id.as_bytes());
    key.push(b'/');
    key.extend_from_slice(&counter.to_be_bytes());
    key
}

/// The allowance held now and what the phone has done under it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredAllowance {
    /// The server-signed allowance (COSE, base64url).
    pub allowance: String,
    /// The tap key's nonce (base64url, 16 bytes): with the device seed it
    /// gives the tap key (see `tap_key`).
    pub nonce: String,
    /// The per-tap cap the rider asked for (the server may have lowered
    /// it): a change of settings is noticed against these.
    pub requested_per_tap_max_minor: u64,
    /// The total cap the rider asked for.
    pub requested_total_max_minor: u64,
    /// The last counter signed (0: no tap yet).
    pub counter: u32,
    /// Fares authorised under it so far (minor units).
    pub spent_minor: u64,
}

impl StoredAllowance {
    /// The allowance and its body (the phone's own copy: verified when it
    /// was stored).
    pub(crate) fn read(&self) -> Result<(Allowance, AllowanceBody), StoreError> {
        let allowance = Allowance::from_base64(&self.allowance).map_err(corrupt)?;
        let body = allowance.peek().map_err(corrupt)?;
        Ok((allowance, body))
    }

    /// The tap key's nonce.
    pub(crate) fn nonce(&self) -> Result<Vec<u8>, StoreError> {
        b64_decode(&self.nonce).map_err(|_| corrupt("allowance nonce is not base64url"))
    }

    /// A record for a freshly issued allowance.
    pub(crate) fn fresh(
        allowance: &Allowance,
        nonce: &[u8],
        requested: &ExpressSettings,
    ) -> StoredAllowance {
        StoredAllowance {
            allowance: allowance.to_base64(),
            nonce: b64_encode(nonce),
            requested_per_tap_max_minor: requested.per_tap_max_minor,
            requested_total_max_minor: requested.total_max_minor,
            counter: 0,
            spent_minor: 0,
        }
    }
}

/// A handle on the tree. Cheap to create.
#[derive(Clone)]
pub(crate) struct ExpressStore {
    store: Store,
    tree: sled::Tree,
}

impl ExpressStore {
    /// The tree of an open store.
    pub(crate) fn new(store: &Store) -> Result<Self, StoreError> {
        Ok(Self {
            store: store.clone(),
            tree: store.tree(TREE)?,
        })
    }

    /// The rider's settings (the defaults, express off, until saved).
    pub(crate) fn settings(&self) -> Result<ExpressSettings, StoreError> {
        match self.tree.get(KEY_SETTINGS)? {
            None => Ok(ExpressSettings::default()),
            Some(raw) => decode(&raw),
        }
    }

    /// Saves the settings durably.
    pub(crate) async fn save_settings(&self, settings: &ExpressSettings) -> Result<(), StoreError> {
        self.tree.insert(KEY_SETTINGS, encode(settings)?)?;
        self.store.flush().await
    }

    /// The allowance held, if any.
    pub(crate) fn allowance(&self) -> Result<Option<StoredAllowance>, StoreError> {
        match self.tree.get(KEY_ALLOWANCE)? {
            None => Ok(None),
            Some(raw) => decode(&raw).map(Some),
        }
    }

    /// Holds `allowance` from now on (replacing any other), durably.
    pub(crate) async fn hold_allowance(
        &self,
        allowance: &StoredAllowance,
    ) -> Result<(), StoreError> {
        self.tree.insert(KEY_ALLOWANCE, encode(allowance)?)?;
        self.store.flush().await
    }

    /// Forgets the allowance held (its nonce with it: no tap can be signed
    /// under it again), durably. Pending taps stay.
    pub(crate) async fn forget_allowance(&self) -> Result<bool, StoreError> {
        let had = self.tree.remove(KEY_ALLOWANCE)?.is_some();
        self.store.flush().await?;
        Ok(had)
    }

    /// Records a tap: the allowance's new counter and spent total and the
    /// pending tap, in one batch, flushed before returning.
    pub(crate) async fn record_tap(
        &self,
        allowance: &StoredAllowance,
        tap: &PendingExpressTap,
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        batch.insert(KEY_ALLOWANCE, encode(allowance)?);
        batch.insert(pending_key(&tap.allowance_id, tap.counter), encode(tap)?);
        self.tree.apply_batch(batch)?;
        self.store.flush().await
    }

    /// Taps not yet known settled, oldest first.
    pub(crate) fn pending_taps(&self) -> Result<Vec<PendingExpressTap>, StoreError> {
        let mut taps = self
            .tree
            .scan_prefix(PENDING_PREFIX)
            .map(|entry| {
                let (_, raw) = entry?;
                decode::<PendingExpressTap>(&raw)
            })
            .collect::<Result<Vec<_>, _>>()?;
        taps.sort_by_key(|t| (t.tapped_at_ms, t.counter));
        Ok(taps)
    }

    /// Drops the pending taps the server reported settled; returns how
    /// many were dropped.
    pub(crate) async fn drop_settled<'a>(
        &self,
        settled: impl Iterator<Item = (&'a str, u32)>,
    ) -> Result<usize, StoreError> {
        let mut dropped = 0;
        for (allowance_id, counter) in settled {
            if self
                .tree
                .remove(pending_key(allowance_id, counter))?
                .is_some()
            {
                dropped += 1;
            }
        }
        if dropped > 0 {
            self.store.flush().await?;
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tap(allowance_id: &str, counter: u32, at: u64) -> PendingExpressTap {
        PendingExpressTap {
            allowance_id: allowance_id.into(),
            counter,
            terminal_id: "trm_1".into(),
            merchant_name: "Metro".into(),
            line: "T1".into(),
            station: "Harbour".into(),
            amount_minor: 200,
            currency: "EUR".into(),
            offered_at_ms: at,
            tapped_at_ms: at,
        }
    }

    #[tokio::test]
    async fn settings_allowance_and_pending_taps_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let held = StoredAllowance {
            allowance: "AAAA".into(),
            nonce: "AAAA".into(),
            requested_per_tap_max_minor: 300,
            requested_total_max_minor: 900,
            counter: 2,
            spent_minor: 400,
        };
        {
            let store = Store::open(path.clone()).await.unwrap();
            let express = ExpressStore::new(&store).unwrap();
            assert_eq!(express.settings().unwrap(), ExpressSettings::default());
            assert!(!express.settings().unwrap().enabled);
            let on = ExpressSettings {
                enabled: true,
                per_tap_max_minor: 300,
                total_max_minor: 900,
            };
            express.save_settings(&on).await.unwrap();
            express
                .record_tap(&held, &tap("alw_b", 1, 20))
                .await
                .unwrap();
            express
                .record_tap(&held, &tap("alw_a", 7, 10))
                .await
                .unwrap();
        }
        let store = Store::open(path).await.unwrap();
        let express = ExpressStore::new(&store).unwrap();
        assert!(express.settings().unwrap().enabled);
        assert_eq!(express.allowance().unwrap(), Some(held));
        let pending = express.pending_taps().unwrap();
        assert_eq!(
            pending
                .iter()
                .map(|t| (t.allowance_id.as_str(), t.counter))
                .collect::<Vec<_>>(),
            [("alw_a", 7), ("alw_b", 1)]
        );
        let dropped = express
            .drop_settled([("alw_a", 7), ("alw_a", 8)].into_iter())
            .await
            .unwrap();
        assert_eq!(dropped, 1);
        assert_eq!(express.pending_taps().unwrap().len(), 1);
        assert!(express.forget_allowance().await.unwrap());
        assert_eq!(express.allowance().unwrap(), None);
        assert!(!express.forget_allowance().await.unwrap());
    }
}
