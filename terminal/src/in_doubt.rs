//! In-doubt sales: an unknown outcome is never a decline.
//!
//! A sale is in doubt when the phone was sent the payment request but the
//! terminal does not know whether the payment server committed the payment:
//! the phone said `PaymentPending` (it could not learn the server's answer
//! even after retrying), the session broke after the request was sent, or a
//! verified receipt could not be confirmed because the control center was
//! unreachable. Such a sale is neither paid nor declined. The terminal
//! keeps it (durably, in sled) and a resolver task asks the platform —
//! the confirmation endpoint by order id, and the payment push stream —
//! until the request expires (plus a grace for clock skew); then it settles
//! it as paid (the linkage device switches on, once) or unpaid. The payment
//! server re-checks the expiry inside its commit, so `not_paid` after the
//! expiry is final.
//!
//! A phone that reconnects for the same sale is offered the same order —
//! the open POS sale, or at a tap-out gate the order kept for the same
//! tap-in token — so it re-sends the same signed instruction and the
//! server answers with the original payment: never charged twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use wayfare_protocol::ids::redact;
use wayfare_protocol::messages::PaymentRequest;

use crate::error::{Result, TerminalError};
use crate::sale::{Sale, SaleOutcome, SaleState};
use crate::{now_ms, Shared};

/// Longest pause between two questions to the platform.
const MAX_PAUSE: Duration = Duration::from_secs(2);
/// First pause between two questions to the platform.
const FIRST_PAUSE: Duration = Duration::from_millis(100);

/// A sale whose outcome the terminal does not know yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InDoubtSale {
    /// The sale (order id, amount, description).
    pub sale: Sale,
    /// The request the phone was sent; offered again, unchanged, to a
    /// phone that reconnects for this sale.
    pub request: PaymentRequest,
    /// At a tap-out gate: the tap-in token the exit charges (id, expiry),
    /// which also finds this sale again when the rider taps again.
    pub token: Option<(String, u64)>,
    /// The payment a genuine receipt named, when the phone delivered one
    /// the platform could not confirm yet: only that payment settles it.
    #[serde(default)]
    pub payment_id: Option<String>,
    /// Why the outcome is unknown, for the cashier and the report.
    pub reason: String,
    /// When the sale went into doubt (Unix ms).
    pub since_ms: u64,
}

/// The in-doubt sales of this terminal, kept in memory and in sled.
pub(crate) struct InDoubtBook {
    tree: sled::Tree,
    sales: Mutex<HashMap<String, InDoubtSale>>,
}

impl std::fmt::Debug for InDoubtBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InDoubtBook")
            .field("len", &self.lock().len())
            .finish()
    }
}

impl InDoubtBook {
    /// Loads the sales left in doubt by an earlier run.
    pub(crate) fn open(tree: sled::Tree) -> Result<Self> {
        let mut sales = HashMap::new();
        for entry in tree.iter() {
            let (key, value) = entry?;
            match serde_json::from_slice::<InDoubtSale>(&value) {
                Ok(sale) => {
                    sales.insert(sale.sale.order_id.clone(), sale);
                }
                Err(e) => {
                    tracing::error!(error = %e, "dropping an unreadable in-doubt sale record");
                    let _ = tree.remove(key);
                }
            }
        }
        Ok(Self {
            tree,
            sales: Mutex::new(sales),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, InDoubtSale>> {
        // Every update is a single insert or remove: a panic elsewhere
        // cannot leave the map half-changed.
        self.sales.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a sale in doubt (durably). Returns false if it already was.
    pub(crate) async fn insert(&self, sale: InDoubtSale) -> Result<bool> {
        let order_id = sale.sale.order_id.clone();
        let bytes = serde_json::to_vec(&sale)
            .map_err(|e| TerminalError::Config(format!("cannot encode an in-doubt sale: {e}")))?;
        let new = self.lock().insert(order_id.clone(), sale).is_none();
        self.tree.insert(order_id.as_bytes(), bytes)?;
        crate::durable::flush(&self.tree).await?;
        Ok(new)
    }

    /// The in-doubt sale of an order.
    pub(crate) fn get(&self, order_id: &str) -> Option<InDoubtSale> {
        self.lock().get(order_id).cloned()
    }

    /// The in-doubt sale that charges this tap-in token, if any.
    pub(crate) fn by_token(&self, token_id: &str) -> Option<InDoubtSale> {
        self.lock()
            .values()
            .find(|s| s.token.as_ref().is_some_and(|(id, _)| id == token_id))
            .cloned()
    }

    /// Claims the right to settle an order: exactly one caller (a session
    /// that got the receipt, or the resolver) gets the sale; the others get
    /// `None` and must not switch the linkage device on.
    pub(crate) fn claim(&self, order_id: &str) -> Option<InDoubtSale> {
        let claimed = self.lock().remove(order_id);
        if claimed.is_some() {
            if let Err(e) = self.tree.remove(order_id.as_bytes()) {
                tracing::error!(order = %redact(order_id), error = %e, "cannot drop a settled in-doubt sale from sled");
            }
        }
        claimed
    }

    /// Every in-doubt sale, oldest first.
    pub(crate) fn list(&self) -> Vec<InDoubtSale> {
        let mut all: Vec<_> = self.lock().values().cloned().collect();
        all.sort_by_key(|s| s.since_ms);
        all
    }
}

/// What an in-doubt sale looks like to the cashier (`GET /status`).
pub(crate) fn outcome_of(shared: &Shared, s: &InDoubtSale) -> SaleOutcome {
    shared
        .sales
        .outcome(&s.sale.order_id)
        .unwrap_or_else(|| SaleOutcome {
            order_id: s.sale.order_id.clone(),
            state: SaleState::InDoubt,
            amount_minor: s.sale.amount_minor,
            currency: s.request.currency.code().to_string(),
            description: s.sale.description.clone(),
            payment_id: None,
            message: Some(s.reason.clone()),
            updated_at_ms: s.since_ms,
        })
}

/// Puts a sale in doubt and starts its resolver (once per sale).
pub(crate) async fn hold(shared: &Arc<Shared>, sale: InDoubtSale) {
    let order_id = sale.sale.order_id.clone();
    shared
        .sales
        .mark_in_doubt(&sale.sale, &sale.request.currency, &sale.reason, now_ms());
    match shared.in_doubt.insert(sale).await {
        Ok(true) => {
            tracing::warn!(order = %redact(&order_id), "sale in doubt: settling it with the platform");
            spawn_resolver(shared.clone(), order_id);
        }
        Ok(false) => {}
        Err(e) => {
            tracing::error!(order = %redact(&order_id), error = %e, "cannot record the in-doubt sale durably; resolving it in memory");
            spawn_resolver(shared.clone(), order_id);
        }
    }
}

/// Starts the resolver of one in-doubt order.
pub(crate) fn spawn_resolver(shared: Arc<Shared>, order_id: String) {
    tokio::spawn(async move { resolve(shared, order_id).await });
}

/// Asks the platform (and watches the push stream) until the order is
/// settled: paid, or unpaid once the request expired plus the grace.
async fn resolve(shared: Arc<Shared>, order_id: String) {
    let mut pushed = shared.pushes.subscribe();
    let mut shutdown = shared.shutdown.clone();
    let grace = shared.config.timeouts.in_doubt_grace_ms;
    let mut pause = FIRST_PAUSE;
    loop {
        let Some(held) = shared.in_doubt.get(&order_id) else {
            return; // a session settled it
        };
        let request = &held.request;
        let expected =
            |payment_id: &str| held.payment_id.as_deref().is_none_or(|p| p == payment_id);
        if let Some(push) = shared.pushes.get(&order_id) {
            if push.amount_minor == request.amount_minor
                && push.currency == request.currency.code()
                && expected(&push.payment_id)
            {
                settle_paid(&shared, &order_id, push.payment_id, "the payment push").await;
                return;
            }
        }
        match shared.platform.order_status(&order_id).await {
            Ok(c) if c.confirmed => {
                let matches = c.amount_minor == Some(request.amount_minor)
                    && c.currency.as_deref() == Some(request.currency.code());
                match c.payment_id {
                    Some(payment_id) if matches && expected(&payment_id) => {
                        settle_paid(&shared, &order_id, payment_id, "the platform").await;
                        return;
                    }
                    _ => {
                        tracing::error!(order = %redact(&order_id), "the platform confirmed a different amount for an in-doubt order; settling it unpaid");
                        settle_unpaid(
                            &shared,
                            &order_id,
                            "the platform reported a payment that does not match the sale",
                        )
                        .await;
                        return;
                    }
                }
            }
            Ok(_) if now_ms() > request.expires_at_ms.saturating_add(grace) => {
                settle_unpaid(
                    &shared,
                    &order_id,
                    "no payment was made before the request expired",
                )
                .await;
                return;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(order = %redact(&order_id), error = %e, "cannot ask the platform about an in-doubt order; retrying");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep_until(Instant::now() + pause) => {}
            _ = pushed.changed() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Settles an in-doubt order as paid: the linkage device switches on once.
pub(crate) async fn settle_paid(
    shared: &Arc<Shared>,
    order_id: &str,
    payment_id: String,
    by: &str,
) {
    let Some(held) = shared.in_doubt.claim(order_id) else {
        return;
    };
    let switched = crate::session::report::switch_on(shared, &held.request, &payment_id).await;
    let (state, kind, message) = match &switched {
        Ok(message) => (SaleState::Accepted, "payment_accepted", message.clone()),
        Err(_) => (
            SaleState::Refused,
            "linkage_failed",
            "Payment confirmed, but the device did not switch on; please ask staff".to_string(),
        ),
    };
    if state == SaleState::Accepted {
        if let Some((id, expires)) = &held.token {
            if let Err(e) = shared.used_tokens.remember(id, *expires).await {
                tracing::error!(error = %e, "cannot record the used tap-in token");
            }
        }
    }
    tracing::info!(order = %redact(order_id), payment = %redact(&payment_id), "in-doubt sale settled as paid, confirmed by {by}");
    let detail = match switched {
        Ok(_) => format!("in-doubt sale settled as paid, confirmed by {by}"),
        Err(e) => e,
    };
    finish(
        shared,
        &held,
        state,
        Some(payment_id),
        &message,
        kind,
        &detail,
    )
    .await;
}

/// Settles an in-doubt order as unpaid: the linkage device stays off.
async fn settle_unpaid(shared: &Arc<Shared>, order_id: &str, why: &str) {
    let Some(held) = shared.in_doubt.claim(order_id) else {
        return;
    };
    tracing::info!(order = %redact(order_id), "in-doubt sale settled as unpaid");
    let message = format!("Not paid: {why}");
    finish(
        shared,
        &held,
        SaleState::Unpaid,
        None,
        &message,
        "payment_unpaid",
        why,
    )
    .await;
}

async fn finish(
    shared: &Arc<Shared>,
    held: &InDoubtSale,
    state: SaleState,
    payment_id: Option<String>,
    message: &str,
    kind: &str,
    detail: &str,
) {
    shared
        .sales
        .finish(&held.sale, state, payment_id.clone(), message, now_ms());
    shared.record_last_outcome(&held.sale.order_id);
    crate::session::report::queue_report(
        shared,
        &held.sale,
        held.request.fare.clone(),
        kind,
        payment_id,
        detail,
    )
    .await;
}
