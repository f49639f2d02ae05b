//! Bluetooth LE (btleplug, central role): the scan for terminals
//! advertising the Wayfare service, and the GATT link a session runs over
//! (see `wayfare_protocol::gatt`). Thin on purpose: it cannot be tested on
//! machines without an adapter; everything above the two link halves
//! ([`CentralSink`], [`CentralSource`]) is the shared pump and the session
//! code, tested over an in-memory link. The beacon travels as CBOR in the
//! service data of [`WAYFARE_BLE_SERVICE_UUID`].
//!
//! Android: the app calls `System.loadLibrary("wayfare_core")` first so that
//! btleplug's JNI initialisation can run; iOS needs
//! `NSBluetoothAlwaysUsageDescription`.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use btleplug::api::{
    Central, CentralEvent, CentralState, CharPropFlags, Characteristic, Manager as _,
    Peripheral as _, ScanFilter, ValueNotification, WriteType,
};
use btleplug::platform::{Adapter, Manager, Peripheral, PeripheralId};
use futures::{Stream, StreamExt};
use wayfare_protocol::codec::from_cbor;
use wayfare_protocol::gatt::link::{FragmentSink, FragmentSource, LinkError};
use wayfare_protocol::gatt::{NOTIFY_CHAR_UUID, SERVICE_UUID, WRITE_CHAR_UUID};
use wayfare_protocol::messages::Beacon;

use super::{DiscoveredTerminal, DiscoveryError, DiscoverySource};

/// The 128-bit service UUID Wayfare terminals advertise over BLE (the
/// terminal's advertiser and GATT server use the same value).
pub(crate) const WAYFARE_BLE_SERVICE_UUID: &str = SERVICE_UUID;

/// How long [`open_link`] scans for a terminal this adapter has not seen.
const RESCAN: Duration = Duration::from_secs(5);
/// How often [`watch`] looks at its stop flag while the air is quiet.
const STOP_POLL: Duration = Duration::from_millis(200);

fn unavailable(e: btleplug::Error) -> DiscoveryError {
    DiscoveryError::BluetoothUnavailable(match e {
        btleplug::Error::PermissionDenied => "Bluetooth permission denied".to_string(),
        btleplug::Error::NoAdapterAvailable => "no Bluetooth adapter".to_string(),
        // With no Bluetooth stack (no BlueZ / D-Bus) btleplug reports a
        // catch-all error.
        other => format!("Bluetooth stack unavailable ({other})"),
    })
}

/// The first adapter, or why there is none.
async fn adapter() -> Result<Adapter, DiscoveryError> {
    #[cfg(target_os = "android")]
    if !crate::android::ble_ready() {
        return Err(DiscoveryError::BluetoothUnavailable(
            "Bluetooth is not initialised: the app must call System.loadLibrary(\"wayfare_core\") first".into(),
        ));
    }
    let manager = Manager::new().await.map_err(unavailable)?;
    manager
        .adapters()
        .await
        .map_err(unavailable)?
        .into_iter()
        .next()
        .ok_or_else(|| DiscoveryError::BluetoothUnavailable("no Bluetooth adapter".into()))
}

/// Starts a scan for the Wayfare service; returns the adapter's events.
async fn start_scan(
    adapter: &Adapter,
) -> Result<Pin<Box<dyn Stream<Item = CentralEvent> + Send>>, DiscoveryError> {
    let events = adapter
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
    Ok(events)
}

/// The terminal in a Wayfare service-data advertisement, if it has one.
fn beacon_terminal<U: std::fmt::Display>(
    id: &PeripheralId,
    service_data: &HashMap<U, Vec<u8>>,
    rssi: Option<i16>,
) -> Option<DiscoveredTerminal> {
    let data = service_data
        .iter()
        .find(|(uuid, _)| uuid.to_string() == WAYFARE_BLE_SERVICE_UUID)?
        .1;
    let beacon = from_cbor::<Beacon>(data).ok()?;
    Some(DiscoveredTerminal {
        terminal_id: beacon.terminal_id,
        merchant_name: beacon.merchant_name,
        kind: beacon.kind.into(),
        host: String::new(),
        port: 0,
        source: DiscoverySource::Ble,
        rssi,
        ble_id: Some(id.to_string()),
    })
}

/// The signal strength the adapter last measured for `id`.
async fn rssi_of(adapter: &Adapter, id: &PeripheralId) -> Option<i16> {
    match adapter.peripheral(id).await {
        Ok(peripheral) => peripheral.properties().await.ok().flatten(),
        Err(_) => None,
    }
    .and_then(|p| p.rssi)
}

/// Scans until `stop` is set, calling `seen` with each Wayfare terminal
/// heard and again with every new signal strength reading for it (which
/// platforms report as `RssiUpdate` or as a changed peripheral). Ends when
/// `seen` returns `false` (nobody listens any more). Fails with
/// `BluetoothUnavailable` when there is no adapter, Bluetooth is off (at
/// the start or later) or not permitted.
pub(crate) async fn watch(
    stop: &AtomicBool,
    mut seen: impl FnMut(DiscoveredTerminal) -> bool,
) -> Result<(), DiscoveryError> {
    let adapter = adapter().await?;
    let mut events = start_scan(&adapter).await?;
    // The terminals heard so far, by peripheral: readings without service
    // data name only the peripheral.
    let mut known: HashMap<PeripheralId, DiscoveredTerminal> = HashMap::new();
    let result = loop {
        if stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        let event = match tokio::time::timeout(STOP_POLL, events.next()).await {
            Err(_) => continue,
            Ok(None) => break Err(DiscoveryError::Ble("the Bluetooth scan ended".into())),
            Ok(Some(event)) => event,
        };
        let heard = match event {
            CentralEvent::ServiceDataAdvertisement { id, service_data } => {
                let rssi = rssi_of(&adapter, &id).await;
                beacon_terminal(&id, &service_data, rssi).inspect(|t| {
                    known.insert(id.clone(), t.clone());
                })
            }
            CentralEvent::RssiUpdate { id, rssi } => known.get(&id).map(|t| DiscoveredTerminal {
                rssi: Some(rssi),
                ..t.clone()
            }),
            CentralEvent::DeviceUpdated(id) if known.contains_key(&id) => {
                let rssi = rssi_of(&adapter, &id).await;
                known
                    .get(&id)
                    .map(|t| DiscoveredTerminal { rssi, ..t.clone() })
            }
            CentralEvent::StateUpdate(CentralState::PoweredOff) => {
                break Err(DiscoveryError::BluetoothUnavailable(
                    "Bluetooth is off".into(),
                ))
            }
            _ => None,
        };
        if let Some(terminal) = heard {
            if !seen(terminal) {
                break Ok(());
            }
        }
    };
    let _ = adapter.stop_scan().await;
    result
}

/// Scans for `timeout` and returns the terminals whose beacon decoded,
/// with their signal strength and the peripheral id to connect to.
pub(crate) async fn scan(timeout: Duration) -> Result<Vec<DiscoveredTerminal>, DiscoveryError> {
    let adapter = adapter().await?;
    let mut events = start_scan(&adapter).await?;

    let mut found: BTreeMap<String, DiscoveredTerminal> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.next()).await {
        if let CentralEvent::ServiceDataAdvertisement { id, service_data } = event {
            let rssi = rssi_of(&adapter, &id).await;
            if let Some(t) = beacon_terminal(&id, &service_data, rssi) {
                found.insert(t.terminal_id.clone(), t);
            }
        }
    }
    let _ = adapter.stop_scan().await;
    Ok(found.into_values().collect())
}

/// Connects to the peripheral `ble_id` (as a scan reported it), finds the
/// Wayfare service, subscribes to its notifications, and returns the ATT
/// MTU and the two halves of the link. Scans for up to a few seconds first
/// if this adapter has not seen the peripheral.
pub(crate) async fn open_link(
    ble_id: &str,
) -> Result<(u16, CentralSink, CentralSource), DiscoveryError> {
    let adapter = adapter().await?;
    let peripheral = match find(&adapter, ble_id).await? {
        Some(p) => p,
        None => {
            let mut events = start_scan(&adapter).await?;
            let deadline = tokio::time::Instant::now() + RESCAN;
            let mut found = None;
            while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.next()).await {
                if let CentralEvent::DeviceDiscovered(id) | CentralEvent::DeviceUpdated(id) = event
                {
                    if id.to_string() == ble_id {
                        found = adapter.peripheral(&id).await.ok();
                        break;
                    }
                }
            }
            let _ = adapter.stop_scan().await;
            found.ok_or_else(|| {
                DiscoveryError::Ble("the terminal is out of Bluetooth range".into())
            })?
        }
    };
    let failed = |e: btleplug::Error| DiscoveryError::Ble(e.to_string());
    peripheral.connect().await.map_err(failed)?;
    peripheral.discover_services().await.map_err(failed)?;
    let characteristic = |uuid: &str| {
        peripheral
            .characteristics()
            .into_iter()
            .find(|c| c.uuid.to_string() == uuid)
            .ok_or_else(|| DiscoveryError::Ble("the peripheral has no Wayfare service".into()))
    };
    let write = characteristic(WRITE_CHAR_UUID)?;
    let notify = characteristic(NOTIFY_CHAR_UUID)?;
    let notifications = peripheral.notifications().await.map_err(failed)?;
    peripheral.subscribe(&notify).await.map_err(failed)?;
    // Acknowledged writes when the terminal offers them; otherwise write
    // commands (a dropped one breaks the fragments' sequence, and so the
    // session, cleanly).
    let kind = if write.properties.contains(CharPropFlags::WRITE) {
        WriteType::WithResponse
    } else {
        WriteType::WithoutResponse
    };
    let mtu = peripheral.mtu();
    tracing::info!(target: "wayfare_core::ble", mtu, "connected to the terminal over Bluetooth");
    Ok((
        mtu,
        CentralSink {
            peripheral,
            write,
            kind,
        },
        CentralSource { notifications },
    ))
}

async fn find(adapter: &Adapter, ble_id: &str) -> Result<Option<Peripheral>, DiscoveryError> {
    Ok(adapter
        .peripherals()
        .await
        .map_err(unavailable)?
        .into_iter()
        .find(|p| p.id().to_string() == ble_id))
}

/// The phone's sending half: a GATT write per fragment. Dropping it
/// disconnects from the terminal.
pub(crate) struct CentralSink {
    peripheral: Peripheral,
    write: Characteristic,
    kind: WriteType,
}

impl FragmentSink for CentralSink {
    async fn send(&mut self, fragment: Vec<u8>) -> Result<(), LinkError> {
        self.peripheral
            .write(&self.write, &fragment, self.kind)
            .await
            .map_err(|e| match e {
                btleplug::Error::NotConnected => LinkError::Disconnected,
                other => LinkError::Failed(other.to_string()),
            })
    }
}

impl Drop for CentralSink {
    fn drop(&mut self) {
        let peripheral = self.peripheral.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = peripheral.disconnect().await;
            });
        }
    }
}

/// The phone's receiving half: the notifications of the terminal's notify
/// characteristic.
pub(crate) struct CentralSource {
    notifications: Pin<Box<dyn Stream<Item = ValueNotification> + Send>>,
}

impl FragmentSource for CentralSource {
    async fn recv(&mut self) -> Option<Vec<u8>> {
        while let Some(n) = self.notifications.next().await {
            if n.uuid.to_string() == NOTIFY_CHAR_UUID {
                return Some(n.value);
            }
        }
        None
    }
}
