//! `POST /v1/terminals` (admin): an access terminal is registered with a
//! certificate the operator signs, binding its key to its merchant, its
//! kind and, for transit, its line, stop and fares; the location's
//! fares and UTC offset are read back by payments and express taps.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::ToSchema;
use wayfare_protocol::certificate::{CertificateBody, TerminalCertificate, TransitPlacement};
use wayfare_protocol::ids::{new_id, redact};
use wayfare_protocol::keys::PublicKey;
use wayfare_protocol::messages::TerminalKind;
use wayfare_protocol::PROTOCOL_VERSION;

use crate::auth::Admin;
use crate::db::{now_ms, to_i64};
use crate::error::ApiError;
use crate::extract::{check_id, check_text, ApiJson};
use crate::openapi::{constraints, Fails};
use crate::state::AppState;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// A terminal's registration.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterTerminal {
    #[schema(schema_with = constraints::id)]
    merchant_id: String,
    #[schema(schema_with = terminal_kind)]
    kind: String,
    #[schema(schema_with = constraints::key)]
    terminal_key: String,
    #[schema(schema_with = constraints::text_or_null::<100>)]
    label: Option<String>,
    location: Option<Location>,
    #[schema(schema_with = constraints::range_or_null::<1, 3650>)]
    valid_for_days: Option<i64>,
}

/// `TerminalKind::parse`'s names.
fn terminal_kind() -> RefOr<Schema> {
    constraints::one_of(&["pos", "tram", "gate", "top_up"])
}

/// `Location::validate`'s tap roles, or `null`.
fn tap_role_or_null() -> RefOr<Schema> {
    constraints::one_of_or_null(&["entry", "exit", "both"])
}

/// Where a terminal is installed (transit terminals).
#[derive(Deserialize, Serialize, Clone, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Location {
    #[schema(schema_with = constraints::text_or_null::<100>)]
    line: Option<String>,
    #[schema(schema_with = constraints::text_or_null::<100>)]
    vehicle: Option<String>,
    #[schema(schema_with = constraints::text_or_null::<100>)]
    station: Option<String>,
    /// The station's position on the line (transit terminals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = constraints::u32_or_null)]
    station_index: Option<u32>,
    /// For tap-in/tap-out gates: `entry`, `exit` or `both`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = tap_role_or_null)]
    tap_role: Option<String>,
    #[schema(schema_with = constraints::text_or_null::<100>)]
    direction_from: Option<String>,
    #[schema(schema_with = constraints::text_or_null::<100>)]
    direction_towards: Option<String>,
    /// The local time zone of the terminal as a UTC offset in minutes
    /// (e.g. 480 for China Standard Time); alerts show times in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = constraints::offset_or_null)]
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

/// A registered terminal with its certificate and the keys it pins.
#[derive(Serialize, ToSchema)]
pub(crate) struct RegisteredTerminal {
    terminal_id: String,
    certificate: String,
    operator_key: String,
    receipt_key: String,
}

/// `POST /v1/terminals` (admin): registers a terminal and issues its
/// certificate.
#[utoipa::path(post, path = "/v1/terminals", operation_id = "registerTerminal", tag = "terminals",
    summary = "Registers an access terminal and issues its operator-signed certificate (valid from now-1min for valid_for_days, default 365). Unknown merchant 404.",
    security(("adminToken" = [])),
    request_body = RegisterTerminal,
    responses((status = 201, description = "success", body = RegisteredTerminal), Fails<400, 401, 404, 422>))]
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
    let row = NewTerminal {
        id: terminal_id.clone(),
        merchant_id: req.merchant_id.clone(),
        kind: kind.as_str().to_string(),
        public_key: terminal_key.to_base64(),
        label: req.label.clone(),
        location_json,
    };
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
                .bind(row.id)
                .bind(row.merchant_id)
                .bind(row.kind)
                .bind(row.public_key)
                .bind(row.label)
                .bind(row.location_json)
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

/// The row a registration writes.
#[derive(Clone)]
struct NewTerminal {
    id: String,
    merchant_id: String,
    kind: String,
    public_key: String,
    label: Option<String>,
    location_json: Option<String>,
}
