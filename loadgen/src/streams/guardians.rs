//! The measured receivers. By default raw clients parsing the same
//! `guardian.alert` events ([`bind_raw`], `raw::follow_alerts`): with
//! `--core-receivers`, one real wallet core (`wayfare-core`, as the
//! apps embed it) per guardian, each with its own store in a scratch
//! directory and an in-memory key store, registered like a phone, bound to
//! one paying rider through an invitation the rider makes and the guardian
//! accepts, and reading its alerts with `guardians().alert_stream()` — the
//! same consumer the apps use (signed SSE, resumed with `Last-Event-ID`,
//! each alert queued, kept and de-duplicated in the wallet's store before
//! `next()` returns it). An alert counts as delivered when `next()` returns
//! it. Not the default because it is not practical at scale yet: with 100
//! wallet cores in one 2-worker process, wayfare-core's sled store
//! deadlocked (both runtime workers blocked in `sled::Tree::apply_batch`
//! under `AccountApi::register` and the alert handling, sled's I/O threads
//! waiting on the same lock), which stalls the whole load generator.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use reqwest::StatusCode;
use serde_json::json;
use wayfare_core::{
    GuardianAlert, GuardianAlertStream, InMemoryKeyStore, MdnsScope, Wallet, WalletConfig,
    WalletError,
};

use crate::client::Api;
use crate::setup::{field, register_device, Device, Rider, Scene};

/// A guardian's wallet core, bound to one rider.
pub struct Guardian {
    /// The wallet.
    pub wallet: Arc<Wallet>,
}

/// Makes a guardian for each of the first `count` riders, `concurrency` at a time: a wallet core
/// registered in `dir/guardian-<i>`, bound to rider `i` (all payments,
/// shown by a nickname).
pub async fn bind_all(
    api: &Api,
    server: &str,
    dir: &Path,
    scene: &Arc<Scene>,
    count: usize,
    concurrency: usize,
) -> Result<Vec<Guardian>> {
    let mut pending = tokio::task::JoinSet::new();
    let mut made: Vec<(usize, Guardian)> = Vec::with_capacity(count);
    for i in 0..count.min(scene.riders.len()) {
        let (api, server, scene) = (api.clone(), server.to_string(), scene.clone());
        let wallet_dir = dir.join(format!("guardian-{i}"));
        pending.spawn(async move {
            let bound = bind_one(&api, &server, wallet_dir, i, &scene.riders[i]);
            match tokio::time::timeout(Duration::from_secs(60), bound).await {
                Ok(g) => g.map(|g| (i, g)),
                Err(_) => anyhow::bail!("binding guardian {i} took over a minute"),
            }
        });
        if pending.len() >= concurrency {
            if let Some(done) = pending.join_next().await {
                made.push(done??);
            }
        }
    }
    while let Some(done) = pending.join_next().await {
        made.push(done??);
    }
    made.sort_by_key(|(i, _)| *i);
    Ok(made.into_iter().map(|(_, g)| g).collect())
}

async fn bind_one(
    api: &Api,
    server: &str,
    dir: PathBuf,
    i: usize,
    rider: &Rider,
) -> Result<Guardian> {
    let config = WalletConfig {
        data_dir: dir.display().to_string(),
        server_url: server.to_string(),
        operator_key: None,
        receipt_key: None,
        mdns_scope: MdnsScope::Loopback,
    };
    let wallet = Wallet::new(config, InMemoryKeyStore::new())?;
    wallet.open().await?;
    wallet
        .account()
        .register(format!("Guardian {i}"), None)
        .await
        .with_context(|| format!("registering guardian {i}'s wallet"))?;
    let code = invite(api, rider, i).await?;
    wallet
        .guardians()
        .accept_invitation(code)
        .await
        .with_context(|| format!("guardian {i} accepting the invitation"))?;
    Ok(Guardian { wallet })
}

/// Rider `i` invites a guardian (all payments, shown by a nickname);
/// returns the code.
async fn invite(api: &Api, rider: &Rider, i: usize) -> Result<String> {
    let body = json!({ "scope": "all_payments", "shown_as": "nickname",
        "nickname": format!("Rider {i}") })
    .to_string();
    let (status, invitation) = api
        .device(
            &rider.key,
            &rider.device_id,
            "/v1/guardians/invitations",
            body.as_bytes(),
            None,
        )
        .await?;
    if status != StatusCode::CREATED {
        anyhow::bail!("rider {i}'s invitation answered {status}: {invitation}");
    }
    field(&invitation, "code")
}

/// Raw guardians: one registered device per rider, bound by a signed
/// accept of the rider's invitation.
pub async fn bind_raw(api: &Api, scene: &Scene, currency: &str) -> Result<Vec<Device>> {
    let mut guardians = Vec::with_capacity(scene.riders.len());
    for (i, rider) in scene.riders.iter().enumerate() {
        let device = register_device(api, &format!("Guardian {i}"), currency).await?;
        let code = invite(api, rider, i).await?;
        let body = json!({ "code": code }).to_string();
        let (status, answer) = api
            .device(
                &device.key,
                &device.device_id,
                "/v1/guardians/invitations/accept",
                body.as_bytes(),
                None,
            )
            .await?;
        if !status.is_success() {
            anyhow::bail!("guardian {i} accepting answered {status}: {answer}");
        }
        guardians.push(device);
    }
    Ok(guardians)
}

/// What a guardian's reader reports for every alert `next()` returns.
pub type OnAlert = Arc<dyn Fn(usize, GuardianAlert) + Send + Sync>;

/// Starts reading guardian `index`'s alerts until the returned stream is
/// cancelled; `on_alert` sees each one, `on_error` each ended connection
/// (the reader then resumes, as an app would).
pub fn read_alerts(
    index: usize,
    guardian: &Guardian,
    on_alert: OnAlert,
    on_error: Arc<dyn Fn(String) + Send + Sync>,
) -> (Arc<GuardianAlertStream>, tokio::task::JoinHandle<()>) {
    let stream = guardian.wallet.guardians().alert_stream();
    let reader = stream.clone();
    let task = tokio::spawn(async move {
        loop {
            match reader.next().await {
                Ok(alert) => on_alert(index, alert),
                Err(WalletError::Cancelled) => return,
                Err(e) => {
                    on_error(format!("guardian {index}: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    (stream, task)
}
