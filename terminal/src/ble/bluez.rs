//! The BlueZ peripheral (bluer): advertises the beacon as service data of
//! the Wayfare service and serves its GATT service, one phone at a time.
//! BlueZ hands each phone's writes over a socket (`AcquireWrite`) and takes
//! our notifications over another (`AcquireNotify`); once both belong to
//! the same phone, they are the two halves of its link.
//!
//! Thin on purpose: it cannot run on machines without an adapter. With no
//! D-Bus system bus, no BlueZ or no such adapter, the start fails with
//! [`TerminalError::BluetoothUnavailable`].

use std::sync::Arc;

use bluer::adv::Advertisement;
use bluer::gatt::local::{
    characteristic_control, Application, Characteristic, CharacteristicControl,
    CharacteristicControlEvent, CharacteristicNotify, CharacteristicNotifyMethod,
    CharacteristicWrite, CharacteristicWriteMethod, ReqError, Service,
};
use bluer::gatt::{CharacteristicReader, CharacteristicWriter};
use bluer::Uuid;
use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wayfare_protocol::codec::to_cbor;
use wayfare_protocol::gatt::link::{FragmentSink, FragmentSource, LinkError};
use wayfare_protocol::gatt::{NOTIFY_CHAR_UUID, SERVICE_UUID, WRITE_CHAR_UUID};
use wayfare_protocol::messages::Beacon;

use super::{serve_link, BleConfig};
use crate::error::{Result, TerminalError};
use crate::Shared;

fn unavailable(e: bluer::Error) -> TerminalError {
    TerminalError::BluetoothUnavailable(e.to_string())
}

fn uuid(s: &str) -> Result<Uuid> {
    s.parse()
        .map_err(|e| TerminalError::Config(format!("bad Bluetooth UUID {s}: {e}")))
}

/// Powers the adapter, advertises, registers the GATT service, and spawns
/// the loop that serves the phones that connect.
pub(super) async fn start(
    shared: Arc<Shared>,
    config: &BleConfig,
    beacon: &Beacon,
    shutdown: watch::Receiver<bool>,
) -> Result<JoinHandle<()>> {
    let service = uuid(SERVICE_UUID)?;
    let session = bluer::Session::new().await.map_err(unavailable)?;
    let adapter = session.adapter(&config.adapter).map_err(unavailable)?;
    adapter.set_powered(true).await.map_err(unavailable)?;

    // The beacon is larger than a legacy advertisement's 31 bytes: BlueZ
    // uses extended advertising when the controller has it (Bluetooth 5).
    let advertisement = Advertisement {
        service_uuids: [service].into_iter().collect(),
        service_data: [(service, to_cbor(beacon)?)].into_iter().collect(),
        discoverable: Some(true),
        ..Default::default()
    };
    let advertising = adapter
        .advertise(advertisement)
        .await
        .map_err(unavailable)?;

    let (writes, write_handle) = characteristic_control();
    let (notifies, notify_handle) = characteristic_control();
    let app = Application {
        services: vec![Service {
            uuid: service,
            primary: true,
            characteristics: vec![
                Characteristic {
                    uuid: uuid(WRITE_CHAR_UUID)?,
                    write: Some(CharacteristicWrite {
                        write_without_response: true,
                        method: CharacteristicWriteMethod::Io,
                        ..Default::default()
                    }),
                    control_handle: write_handle,
                    ..Default::default()
                },
                Characteristic {
                    uuid: uuid(NOTIFY_CHAR_UUID)?,
                    notify: Some(CharacteristicNotify {
                        notify: true,
                        method: CharacteristicNotifyMethod::Io,
                        ..Default::default()
                    }),
                    control_handle: notify_handle,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }],
        ..Default::default()
    };
    let serving = adapter
        .serve_gatt_application(app)
        .await
        .map_err(unavailable)?;
    tracing::info!(adapter = %config.adapter, "serving phones over Bluetooth LE");

    Ok(tokio::spawn(async move {
        run(shared, writes, notifies, shutdown).await;
        // Withdrawn when dropped, after the loop.
        drop((serving, advertising, session));
    }))
}

/// Pairs each phone's write socket with its notify socket and serves it;
/// a second phone is refused while one is served.
async fn run(
    shared: Arc<Shared>,
    mut writes: CharacteristicControl,
    mut notifies: CharacteristicControl,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut reader: Option<CharacteristicReader> = None;
    let mut writer: Option<CharacteristicWriter> = None;
    let mut current: Option<JoinHandle<()>> = None;
    loop {
        let busy = current.as_ref().is_some_and(|s| !s.is_finished());
        tokio::select! {
            _ = shutdown.changed() => break,
            event = writes.next() => match event {
                Some(CharacteristicControlEvent::Write(request)) if busy => {
                    request.reject(ReqError::InProgress);
                }
                Some(CharacteristicControlEvent::Write(request)) => match request.accept() {
                    Ok(r) => reader = Some(r),
                    Err(e) => tracing::warn!(error = %e, "cannot accept a phone's Bluetooth writes"),
                },
                Some(CharacteristicControlEvent::Notify(_)) => {}
                None => break,
            },
            event = notifies.next() => match event {
                // Dropping the socket ends that phone's subscription.
                Some(CharacteristicControlEvent::Notify(_)) if busy => {}
                Some(CharacteristicControlEvent::Notify(w)) => writer = Some(w),
                Some(CharacteristicControlEvent::Write(request)) => {
                    request.reject(ReqError::NotSupported);
                }
                None => break,
            },
        }
        let same_phone = matches!((&reader, &writer), (Some(r), Some(w))
            if r.device_address() == w.device_address());
        if let (true, Some(r), Some(w)) = (same_phone, reader.take(), writer.take()) {
            let mtu = u16::try_from(r.mtu().min(w.mtu())).unwrap_or(u16::MAX);
            tracing::info!(mtu, "a phone connected over Bluetooth");
            match serve_link(&shared, mtu, NotifySink(w), WriteSource(r)) {
                Ok(session) => current = Some(session),
                Err(e) => tracing::warn!(error = %e, "cannot serve a phone over Bluetooth"),
            }
        }
    }
    tracing::info!("Bluetooth LE service stopped");
}

/// Our sending half: one notification per fragment.
struct NotifySink(CharacteristicWriter);

impl FragmentSink for NotifySink {
    async fn send(&mut self, fragment: Vec<u8>) -> std::result::Result<(), LinkError> {
        self.0.send(&fragment).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotConnected | std::io::ErrorKind::BrokenPipe => {
                LinkError::Disconnected
            }
            _ => LinkError::Failed(e.to_string()),
        })
    }
}

/// The phone's sending half: one write per fragment.
struct WriteSource(CharacteristicReader);

impl FragmentSource for WriteSource {
    async fn recv(&mut self) -> Option<Vec<u8>> {
        // An empty read is the end of the socket.
        self.0.recv().await.ok().filter(|v| !v.is_empty())
    }
}
