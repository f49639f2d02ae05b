//! Bluetooth LE scan (btleplug, central role) for terminals advertising the
//! Wayfare service. Thin on purpose: it cannot be tested on machines without
//! an adapter. The beacon travels as CBOR in the service data of
//! [`WAYFARE_BLE_SERVICE_UUID`].
//!
//! Android: the app calls `System.loadLibrary("wayfare_core")` first so that
//! btleplug's JNI initialisation can run; iOS needs
//! `NSBluetoothAlwaysUsageDescription`.

use std::collections::BTreeMap;
use std::time::Duration;

use btleplug::api::{Central, CentralEvent, Manager as _, ScanFilter};
use btleplug::platform::Manager;
use futures::StreamExt;
use wayfare_protocol::codec::from_cbor;
use wayfare_protocol::messages::Beacon;

use super::{DiscoveredTerminal, DiscoveryError, DiscoverySource};

/// The 128-bit service UUID Wayfare terminals advertise over BLE. The
/// terminal's advertiser must use the same value.
pub(crate) const WAYFARE_BLE_SERVICE_UUID: &str = "6c9f3a10-5d0b-4b8e-9a57-77a7e1f4d001";

fn unavailable(e: btleplug::Error) -> DiscoveryError {
    DiscoveryError::BluetoothUnavailable(match e {
        btleplug::Error::PermissionDenied => "Bluetooth permission denied".to_string(),
        btleplug::Error::NoAdapterAvailable => "no Bluetooth adapter".to_string(),
        // With no Bluetooth stack (no BlueZ / D-Bus) btleplug reports a
        // catch-all error.
        other => format!("Bluetooth stack unavailable ({other})"),
    })
}

/// Scans for `timeout` and returns the terminals whose beacon decoded.
pub(crate) async fn scan(timeout: Duration) -> Result<Vec<DiscoveredTerminal>, DiscoveryError> {
    let manager = Manager::new().await.map_err(unavailable)?;
    let adapter = manager
        .adapters()
        .await
        .map_err(unavailable)?
        .into_iter()
        .next()
        .ok_or_else(|| DiscoveryError::BluetoothUnavailable("no Bluetooth adapter".into()))?;
    let mut events = adapter
        .events()
        .await
        .map_err(|e| DiscoveryError::Ble(e.to_string()))?;
    let mut filter = ScanFilter::default();
    filter.services.push(
        WAYFARE_BLE_SERVICE_UUID
            .parse()
            .map_err(|e| DiscoveryError::Ble(format!("bad service UUID: {e}")))?,
    );
    adapter.start_scan(filter).await.map_err(unavailable)?;

    let mut found: BTreeMap<String, DiscoveredTerminal> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.next()).await {
        if let CentralEvent::ServiceDataAdvertisement { service_data, .. } = event {
            for (uuid, data) in service_data {
                if uuid.to_string() != WAYFARE_BLE_SERVICE_UUID {
                    continue;
                }
                if let Ok(beacon) = from_cbor::<Beacon>(&data) {
                    found.insert(
                        beacon.terminal_id.clone(),
                        DiscoveredTerminal {
                            terminal_id: beacon.terminal_id,
                            merchant_name: beacon.merchant_name,
                            kind: beacon.kind.into(),
                            host: String::new(),
                            port: 0,
                            source: DiscoverySource::Ble,
                        },
                    );
                }
            }
        }
    }
    let _ = adapter.stop_scan().await;
    Ok(found.into_values().collect())
}
