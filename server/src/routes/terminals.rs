//! Access terminals: registration with an operator-signed certificate, the
//! platform confirmation (P3.3) and the payment push over SSE (P2).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use wayfare_protocol::certificate::{CertificateBody, TerminalCertificate, TransitPlacement};
use wayfare_protocol::ids::{new_id, redact};
use wayfare_protocol::keys::PublicKey;
use wayfare_protocol::messages::TerminalKind;
use wayfare_protocol::PROTOCOL_VERSION;

use crate::auth::{Admin, Signed, Terminal};
use crate::db::{now_ms, to_i64, to_u64};
use crate::error::ApiError;
use crate::extract::{check_id, check_text, ApiJson};
use crate::state::AppState;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterTerminal {
    merchant_id: String,
    kind: String,
    terminal_key: String,
    label: Option<String>,
    location: Option<Location>,
    valid_for_days: Option<i64>,
}

/// Where a terminal is installed (transit terminals).
#[derive(Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct Location {
    line: Option<String>,
    vehicle: Option<String>,
    station: Option<String>,
    /// The station's position on the line (transit terminals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    station_index: Option<u32>,
    /// For tap-in/tap-out gates: `entry`, `exit` or `both`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tap_role: Option<String>,
    direction_from: Option<String>,
    direction_towards: Option<String>,
    /// The local time zone of the terminal as a UTC offset in minutes
    /// (e.g. 480 for China Standard Time); alerts show times in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    utc_offset_minutes: Option<i64>,
}

/// The UTC offset stored with a terminal's location, if any.
pub(crate) fn utc_offset_of(location_json: Option<&str>) -> Option<i64> {
    let location: Location = serde_json::from_str(location_json?).ok()?;
    location.utc_offset_minutes
}

/// A flat fare's context at a transit terminal (its line and station),
/// for payments made there without a fare from the phone (express taps).
pub(crate) fn flat_fare_of(
    location_json: Option<&str>,
) -> Option<wayfare_protocol::fare::FareContext> {
    let location: Location = serde_json::from_str(location_json?).ok()?;
    Some(wayfare_protocol::fare::FareContext {
        mode: wayfare_protocol::fare::FareMode::Flat,
        line: location.line?,
        vehicle: location.vehicle.unwrap_or_default(),
        direction: wayfare_protocol::fare::FareDirection {
            from: location.direction_from.unwrap_or_default(),
            towards: location.direction_towards.unwrap_or_default(),
        },
        station: location.station?,
        station_index: location.station_index.unwrap_or(0),
        entry: None,
    })
}

impl Location {
    fn validate(&self) -> Result<(), ApiError> {
        for (name, value) in [
            ("location.line", &self.line),
            ("location.vehicle", &self.vehicle),
            ("location.station", &self.station),
            ("location.direction_from", &self.direction_from),
            ("location.direction_towards", &self.direction_towards),
        ] {
            if let Some(v) = value {
                check_text(name, v, 100)?;
            }
        }
        if let Some(offset) = self.utc_offset_minutes {
            crate::civil::check_offset("location.utc_offset_minutes", offset)?;
        }
        if let Some(role) = &self.tap_role {
            if !matches!(role.as_str(), "entry" | "exit" | "both") {
                return Err(ApiError::field(
                    "location.tap_role",
                    "must be one of entry, exit, both",
                ));
            }
        }
        Ok(())
    }

    /// The placement the operator signs into a transit terminal's
    /// certificate: line, station and index, and whether it records
    /// entries. Only a gate or tram registered with all three gets one.
    fn placement(&self, kind: TerminalKind) -> Option<TransitPlacement> {
        if kind == TerminalKind::Pos {
            return None;
        }
        Some(TransitPlacement {
            line: self.line.clone()?,
            station: self.station.clone()?,
            station_index: self.station_index?,
            issues_tap_in: matches!(self.tap_role.as_deref(), Some("entry" | "both")),
        })
    }
}

#[derive(Serialize)]
pub(crate) struct RegisteredTerminal {
    terminal_id: String,
    certificate: String,
    operator_key: String,
    receipt_key: String,
}

/// `POST /v1/terminals` (admin): registers a terminal and issues its
/// certificate.
pub(crate) async fn register(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(req): ApiJson<RegisterTerminal>,
) -> Result<(StatusCode, Json<RegisteredTerminal>), ApiError> {
    let kind = TerminalKind::parse(&req.kind).map_err(|e| ApiError::from_protocol("kind", e))?;
    let terminal_key = PublicKey::from_base64(&req.terminal_key)
        .map_err(|e| ApiError::from_protocol("terminal_key", e))?;
    if let Some(label) = &req.label {
        check_text("label", label, 100)?;
    }
    if let Some(location) = &req.location {
        location.validate()?;
    }
    let days = req.valid_for_days.unwrap_or(365);
    if !(1..=3650).contains(&days) {
        return Err(ApiError::field(
            "valid_for_days",
            "must be between 1 and 3650",
        ));
    }
    check_id("merchant_id", &req.merchant_id)?;
    let pool = &state.db().pool;
    let merchant: Option<(String,)> = sqlx::query_as("SELECT name FROM merchants WHERE id = $1")
        .bind(req.merchant_id.clone())
        .fetch_optional(pool)
        .await?;
    let (merchant_name,) = merchant.ok_or_else(|| {
        ApiError::UnknownMerchant(format!(
            "merchant {} does not exist",
            redact(&req.merchant_id)
        ))
    })?;

    let now = now_ms();
    let not_before = now.saturating_sub(60_000);
    let not_after = now + days.unsigned_abs() * DAY_MS;
    let terminal_id = new_id("term").map_err(|e| ApiError::Internal(e.to_string()))?;
    let certificate = TerminalCertificate::issue(
        &state.keys().operator,
        &CertificateBody {
            version: PROTOCOL_VERSION,
            terminal_id: terminal_id.clone(),
            merchant_id: req.merchant_id.clone(),
            merchant_name,
            kind,
            terminal_key,
            not_before_ms: not_before,
            not_after_ms: not_after,
            transit: req.location.as_ref().and_then(|l| l.placement(kind)),
        },
    )
    .map_err(|e| ApiError::Internal(format!("certificate signing: {e}")))?;
    let location_json = match &req.location {
        Some(l) => Some(serde_json::to_string(l).map_err(|e| ApiError::Internal(e.to_string()))?),
        None => None,
    };
    let row = (
        terminal_id.clone(),
        req.merchant_id.clone(),
        kind.as_str().to_string(),
        terminal_key.to_base64(),
        req.label.clone(),
        location_json,
    );
    state
        .db()
        .write_tx(move |conn| {
            let row = row.clone();
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO terminals (id, merchant_id, kind, public_key, label, location_json, \
                     not_before_ms, not_after_ms, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(row.0)
                .bind(row.1)
                .bind(row.2)
                .bind(row.3)
                .bind(row.4)
                .bind(row.5)
                .bind(to_i64(not_before))
                .bind(to_i64(not_after))
                .bind(to_i64(now))
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await?;
    tracing::info!(terminal = %redact(&terminal_id), kind = kind.as_str(), "terminal registered");
    Ok((
        StatusCode::CREATED,
        Json(RegisteredTerminal {
            terminal_id,
            certificate: certificate.to_base64(),
            operator_key: state.keys().operator.public_key().to_base64(),
            receipt_key: state.keys().receipt.public_key().to_base64(),
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmationRequest {
    /// The payment the phone's receipt names; absent when the terminal asks
    /// about an order whose outcome it does not know (an in-doubt sale).
    #[serde(default)]
    payment_id: Option<String>,
    order_id: String,
    /// For an exit whose trip was already paid elsewhere (a lost answer at
    /// another gate of the operator): the tap-in token the payment used.
    /// The payment is then confirmed if it paid this token's trip for this
    /// terminal's operator, whichever of its terminals took it.
    #[serde(default)]
    token_id: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct Confirmation {
    confirmed: bool,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount_minor: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    currency: Option<String>,
}

/// `POST /v1/platform/confirmations` (terminal): did this payment complete
/// at this terminal for this order? A payment of another terminal is
/// answered as not found, so terminals learn nothing about each other.
/// Without `payment_id` it answers for the order itself: `completed` with
/// the payment, or `not_paid` (an in-doubt sale is settled from this; the
/// payment server never commits a payment after its request expired).
pub(crate) async fn confirm(
    State(state): State<AppState>,
    request: Signed<Terminal>,
) -> Result<Json<Confirmation>, ApiError> {
    let req: ConfirmationRequest = request.json()?;
    check_id("order_id", &req.order_id)?;
    // Checked even when unused (no payment_id): a bad field is refused alike.
    if let Some(token_id) = &req.token_id {
        check_id("token_id", token_id)?;
    }
    let terminal = &request.signer.terminal_id;
    let Some(payment_id) = req.payment_id else {
        let row: Option<(String, String, i64, String)> = sqlx::query_as(
            "SELECT id, status, amount_minor, currency FROM payments \
             WHERE terminal_id = $1 AND order_id = $2",
        )
        .bind(terminal.clone())
        .bind(req.order_id.clone())
        .fetch_optional(&state.db().pool)
        .await?;
        return Ok(Json(match row {
            Some((id, status, amount, currency)) => Confirmation {
                confirmed: status == "completed",
                status,
                payment_id: Some(id),
                amount_minor: Some(to_u64(amount)),
                currency: Some(currency),
            },
            None => Confirmation {
                confirmed: false,
                status: "not_paid".into(),
                payment_id: None,
                amount_minor: None,
                currency: None,
            },
        }));
    };
    check_id("payment_id", &payment_id)?;
    if let Some(token_id) = &req.token_id {
        let row: Option<(String, String, i64, String)> = sqlx::query_as(
            "SELECT p.status, p.merchant_id, p.amount_minor, p.currency FROM used_tap_in_tokens u \
             JOIN payments p ON p.id = u.payment_id \
             JOIN terminals t ON t.id = $3 AND t.merchant_id = p.merchant_id \
             WHERE u.token_id = $1 AND u.payment_id = $2",
        )
        .bind(token_id.clone())
        .bind(payment_id.clone())
        .bind(terminal.clone())
        .fetch_optional(&state.db().pool)
        .await?;
        return match row {
            Some((status, _, amount, currency)) => Ok(Json(Confirmation {
                confirmed: status == "completed",
                status,
                payment_id: Some(payment_id),
                amount_minor: Some(to_u64(amount)),
                currency: Some(currency),
            })),
            None => Err(ApiError::NotFound(
                "no payment of this operator paid that tap-in token's trip".into(),
            )),
        };
    }
    let row: Option<(String, String, String, i64, String)> = sqlx::query_as(
        "SELECT terminal_id, order_id, status, amount_minor, currency FROM payments WHERE id = $1",
    )
    .bind(payment_id.clone())
    .fetch_optional(&state.db().pool)
    .await?;
    match row {
        Some((t, order, status, amount, currency)) if &t == terminal => {
            let confirmed = order == req.order_id && status == "completed";
            let status = if order == req.order_id {
                status
            } else {
                "order_mismatch".into()
            };
            Ok(Json(Confirmation {
                confirmed,
                status,
                payment_id: Some(payment_id),
                amount_minor: Some(to_u64(amount)),
                currency: Some(currency),
            }))
        }
        _ => Err(ApiError::NotFound(
            "no payment with this id was made at this terminal".into(),
        )),
    }
}

/// `GET /v1/terminals/me/events` (terminal): `payment.completed` events
/// after `Last-Event-ID` (or, without it, from the moment of connection).
pub(crate) async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Signed<Terminal>,
) -> Result<impl IntoResponse, ApiError> {
    let terminal_id = request.signer.terminal_id;
    // Subscribe before reading the start point: nothing committed in between
    // can be missed.
    let wake = state.subscribe_terminal_events(&terminal_id);
    let after = match crate::streams::sse::last_event_id(&headers)? {
        Some(after) => after,
        None => crate::streams::terminal::latest_seq(&state, &terminal_id).await?,
    };
    tracing::debug!(terminal = %redact(&terminal_id), after, "event stream opened");
    let stream = crate::streams::terminal::stream(state.clone(), terminal_id, after, wake);
    let stream = crate::metrics::track_stream(&state, "terminal", stream);
    Ok(crate::streams::sse::response(stream))
}
