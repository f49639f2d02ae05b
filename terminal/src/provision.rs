//! Provisioning: enrolling a new terminal with the control center
//! (`POST /v1/terminals`, admin credentials) to get its certificate and the
//! keys to pin.

use serde::{Deserialize, Serialize};
use wayfare_protocol::certificate::TerminalCertificate;
use wayfare_protocol::keys::{PublicKey, SigningKey};
use wayfare_protocol::messages::TerminalKind;

use crate::error::{Result, TerminalError};
use crate::platform::{endpoint, http_client, read_answer, send_checked};

/// Where a transit terminal is installed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalLocation {
    /// Line name.
    pub line: String,
    /// Vehicle identifier.
    pub vehicle: String,
    /// Station.
    pub station: String,
    /// The station's position on the line; with `tap_role`, the operator
    /// binds line, station and index into the certificate, so only this
    /// terminal's entries at this station are honoured (P3.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station_index: Option<u32>,
    /// For tap-in/tap-out gates: entry, exit or both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tap_role: Option<crate::config::TapRole>,
    /// Terminus the vehicle comes from.
    pub direction_from: String,
    /// Terminus the vehicle heads to.
    pub direction_towards: String,
    /// The local time zone as minutes east of UTC (e.g. 480 for China), so
    /// guardian alerts say "08:12" rather than a UTC time. `None`: UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offset_minutes: Option<i64>,
}

/// What to enroll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrollRequest {
    /// The merchant (or transit operator) the terminal collects for.
    pub merchant_id: String,
    /// The terminal kind.
    pub kind: TerminalKind,
    /// A label for operators.
    pub label: Option<String>,
    /// Where a transit terminal is.
    pub location: Option<TerminalLocation>,
    /// Certificate validity in days (server default if `None`).
    pub valid_for_days: Option<u32>,
}

/// What enrollment returns.
#[derive(Clone, Debug)]
pub struct Enrollment {
    /// The new terminal id.
    pub terminal_id: String,
    /// The operator-issued certificate for our key.
    pub certificate: TerminalCertificate,
    /// The operator key to pin.
    pub operator_key: PublicKey,
    /// The receipt key to pin.
    pub receipt_key: PublicKey,
}

#[derive(Serialize)]
struct Body<'a> {
    merchant_id: &'a str,
    kind: TerminalKind,
    terminal_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<&'a TerminalLocation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_for_days: Option<u32>,
}

#[derive(Deserialize)]
struct Answer {
    terminal_id: String,
    certificate: String,
    operator_key: PublicKey,
    receipt_key: PublicKey,
}

/// Enrolls a terminal whose key is `key`: calls `POST /v1/terminals` with
/// the admin token and checks that the returned certificate verifies with
/// the returned operator key and names `key`.
pub async fn enroll(
    server_url: &str,
    admin_token: &str,
    request: EnrollRequest,
    key: &SigningKey,
) -> Result<Enrollment> {
    let base = reqwest::Url::parse(server_url)
        .map_err(|e| TerminalError::Config(format!("server URL {server_url:?}: {e}")))?;
    let body = Body {
        merchant_id: &request.merchant_id,
        kind: request.kind,
        terminal_key: key.public_key().to_base64(),
        label: request.label.as_deref(),
        location: request.location.as_ref(),
        valid_for_days: request.valid_for_days,
    };
    let request = http_client()?
        .post(endpoint(&base, "/v1/terminals")?)
        .bearer_auth(admin_token)
        .json(&body)
        .timeout(std::time::Duration::from_secs(15));
    let answer: Answer = read_answer(send_checked(request).await?, "enrollment", false).await?;
    let certificate = TerminalCertificate::from_base64(&answer.certificate)?;
    let cert_body = certificate
        .verify(&answer.operator_key, crate::now_ms())
        .map_err(|e| {
            TerminalError::Identity(format!("the issued certificate does not verify: {e}"))
        })?;
    if cert_body.terminal_key != key.public_key() || cert_body.terminal_id != answer.terminal_id {
        return Err(TerminalError::Identity(
            "the issued certificate names another key or terminal".into(),
        ));
    }
    tracing::info!(terminal = %wayfare_protocol::ids::redact(&answer.terminal_id), "terminal enrolled");
    Ok(Enrollment {
        terminal_id: answer.terminal_id,
        certificate,
        operator_key: answer.operator_key,
        receipt_key: answer.receipt_key,
    })
}
