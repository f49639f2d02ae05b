//! What a session (or the in-doubt resolver) does once a payment is
//! confirmed or a verdict is reached: the linkage device (P3.4) and the
//! report to the control center (P1).

use wayfare_protocol::fare::FareContext;
use wayfare_protocol::ids::{new_id, redact};
use wayfare_protocol::messages::{PaymentRequest, TerminalKind};

use crate::linkage::LinkageEvent;
use crate::now_ms;
use crate::reports::Report;
use crate::sale::Sale;
use crate::Shared;

/// Switches the linkage device on for a confirmed payment (P3.4); returns
/// what to tell the rider, or why the device failed.
pub(crate) async fn switch_on(
    shared: &Shared,
    request: &PaymentRequest,
    payment_id: &str,
) -> Result<String, String> {
    let event = LinkageEvent {
        terminal_id: request.terminal_id.clone(),
        order_id: request.order_id.clone(),
        payment_id: payment_id.to_string(),
        amount_minor: request.amount_minor,
        currency: request.currency.code().to_string(),
        receipt: None,
    };
    shared
        .linkage
        .activate(event)
        .await
        .map_err(|e| e.to_string())?;
    Ok(match shared.identity.body.kind {
        TerminalKind::Pos => "Payment accepted",
        TerminalKind::Tram | TerminalKind::Gate => "Gate opened",
        TerminalKind::TopUp => "Top-up credited",
    }
    .to_string())
}

/// Queues a report of an order for the control center (P1).
pub(crate) async fn queue_report(
    shared: &Shared,
    sale: &Sale,
    fare: Option<FareContext>,
    kind: &str,
    payment_id: Option<String>,
    detail: &str,
) {
    let report_id = match new_id("rep") {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(error = %e, "cannot make a report id");
            return;
        }
    };
    let report = Report {
        report_id,
        kind: kind.to_string(),
        order_id: sale.order_id.clone(),
        payment_id,
        amount_minor: Some(sale.amount_minor),
        currency: Some(shared.config.mode.currency().code().to_string()),
        fare,
        at_ms: now_ms(),
        detail: if sale.description.contains(crate::tram::POSITION_UNCONFIRMED) {
            // The stop in `fare` is the last known one: the feed was stale.
            format!(
                "{detail} ({}: the position feed was stale at the tap)",
                crate::tram::POSITION_UNCONFIRMED
            )
        } else {
            detail.to_string()
        },
        entry_consent: None,
    };
    if let Err(e) = shared.reports.push(&report).await {
        tracing::error!(order = %redact(&sale.order_id), error = %e, "cannot queue the session report");
    }
}
