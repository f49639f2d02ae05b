//! The desktop stand-in for the Android Keystore / iOS Keychain: a random
//! wrapping key kept in a 0600 file beside the wallet data. Phones supply a
//! hardware-backed key store through the `KeyStore` foreign trait instead.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use wayfare_core::InMemoryKeyStore;

const FILE_NAME: &str = "desktop-wrapping.key";

/// Loads the wrapping key from `dir`, creating it on first use.
pub fn load_or_create(dir: &Path) -> Result<Arc<InMemoryKeyStore>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(FILE_NAME);
    if let Ok(key) = std::fs::read(&path) {
        return InMemoryKeyStore::with_key(key).context("the desktop wrapping key file is damaged");
    }
    let store = InMemoryKeyStore::new();
    let key = store.export_key();
    write_private(&path, &key)?;
    Ok(store)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}
