//! The registered devices' keys, kept in memory after their first use: a
//! signed request then costs no database read to find its key. A device
//! row is never changed or removed once written (re-registering a key
//! answers the same device), so a remembered key cannot go stale, on this
//! node or with several nodes on one database. An unknown device is not
//! remembered: it may be registered a moment later, on any node.

use std::sync::Mutex;

use hashlink::LruCache;
use wayfare_protocol::keys::PublicKey;

/// How many devices are remembered (the least recently used go first):
/// about 200 bytes each, so at most some 10 MB.
const CAPACITY: usize = 50_000;

/// A device's account and key.
pub(crate) type DeviceKey = (String, PublicKey);

/// The least recently used devices' keys, by device id.
pub(crate) struct DeviceKeys {
    keys: Mutex<LruCache<String, DeviceKey>>,
}

impl DeviceKeys {
    /// An empty cache of [`CAPACITY`] devices.
    pub(crate) fn new() -> Self {
        Self::with_capacity(CAPACITY)
    }

    fn with_capacity(capacity: usize) -> Self {
        Self {
            keys: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// The device's account and key, if remembered.
    pub(crate) fn get(&self, device_id: &str) -> Option<DeviceKey> {
        self.lock().get(device_id).cloned()
    }

    /// Remembers a device read from the database.
    pub(crate) fn remember(&self, device_id: &str, key: DeviceKey) {
        self.lock().insert(device_id.to_owned(), key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, DeviceKey>> {
        // A panic while holding the lock leaves a consistent map (every
        // operation is one call), so a poisoned lock is still usable.
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use wayfare_protocol::keys::SigningKey;

    use super::*;

    fn key() -> PublicKey {
        SigningKey::generate().unwrap().public_key()
    }

    #[test]
    fn the_least_recently_used_device_goes_first() {
        let cache = DeviceKeys::with_capacity(2);
        let (a, b, c) = (key(), key(), key());
        cache.remember("dev_a", ("acc_a".into(), a));
        cache.remember("dev_b", ("acc_b".into(), b));
        assert_eq!(cache.get("dev_a"), Some(("acc_a".into(), a)));
        cache.remember("dev_c", ("acc_c".into(), c));
        assert_eq!(cache.get("dev_b"), None, "b was used least recently");
        assert_eq!(cache.get("dev_a").map(|k| k.0), Some("acc_a".into()));
        assert_eq!(cache.get("dev_c").map(|k| k.0), Some("acc_c".into()));
        assert_eq!(cache.get("dev_unknown"), None);
    }
}
