//! `POST /v1/devices`: a phone registers its key (proof of possession: the
//! request is signed by the key it registers) and gets a wallet account
//! with a pseudonymous handle. Registering the same key again returns the
//! same account, so a registration whose answer was lost can be retried.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;
use wayfare_protocol::ids::{hex_lower, new_id, redact};
use wayfare_protocol::keys::{random_bytes, PublicKey};

use crate::auth::UnverifiedRequest;
use crate::db::{is_unique_violation, now_ms, to_i64};
use crate::error::ApiError;
use crate::extract::{check_text, parse_currency};
use crate::openapi::{constraints, Fails};
use crate::state::AppState;

/// The key-id header value of a registration request.
pub const REGISTER_KEY_ID: &str = "register";
/// Currency of a wallet registered without one.
pub const DEFAULT_CURRENCY: &str = "CNY";

/// A phone's registration.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RegisterDevice {
    #[schema(schema_with = constraints::text::<64>)]
    display_name: String,
    #[schema(schema_with = constraints::key)]
    device_key: String,
    /// 6 to 15 digits with an optional leading + (`check_phone`).
    #[schema(schema_with = phone_number_or_null)]
    phone_number: Option<String>,
    #[schema(schema_with = constraints::currency_or_null)]
    currency: Option<String>,
}

/// `check_phone`'s numbers, or `null`.
fn phone_number_or_null() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .pattern(Some("^\\+?[0-9]{6,15}$"))
        .into()
}

/// The answer to a registration.
#[derive(Serialize, ToSchema)]
pub(crate) struct Registered {
    account_id: String,
    device_id: String,
    handle: String,
    currency: String,
}

/// Checks a phone number: digits only, 6 to 15 of them, optional leading +.
fn check_phone(phone: &str) -> Result<String, ApiError> {
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    if !(6..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::field(
            "phone_number",
            "must be 6 to 15 digits with an optional leading +",
        ));
    }
    Ok(phone.to_string())
}

/// `POST /v1/devices`.
#[utoipa::path(post, path = "/v1/devices", operation_id = "registerDevice", tag = "accounts",
    summary = "Registers a phone key and creates its wallet. Signed with x-wayfare-key-id: register by the key in the body (proof of possession). Re-registering the same key answers 200 with the same account. Currency defaults to CNY; the phone number stays server-side.",
    security(("deviceSignature" = [])),
    request_body = RegisterDevice,
    responses(
        (status = 201, description = "success", body = Registered),
        (status = 200, description = "the same request again (a replay), or the object as it already was", body = Registered),
        Fails<400, 401, 422>))]
pub(crate) async fn register(
    State(state): State<AppState>,
    request: UnverifiedRequest,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    if request.signature.key_id != REGISTER_KEY_ID {
        return Err(ApiError::Unauthorized(format!(
            "a registration is signed with x-wayfare-key-id: {REGISTER_KEY_ID}"
        )));
    }
    let req: RegisterDevice = request.json()?;
    let key = PublicKey::from_base64(&req.device_key)
        .map_err(|e| ApiError::from_protocol("device_key", e))?;
    request
        .verify_with(
            &state,
            &key,
            &format!("{REGISTER_KEY_ID}:{}", key.to_base64()),
        )
        .await?;
    check_text("display_name", &req.display_name, 64)?;
    let phone = req.phone_number.as_deref().map(check_phone).transpose()?;
    let currency = parse_currency(
        "currency",
        req.currency.as_deref().unwrap_or(DEFAULT_CURRENCY),
    )?;

    if let Some(existing) = find_by_key(&state, &key).await? {
        return Ok((StatusCode::OK, Json(existing)));
    }
    let now = to_i64(now_ms());
    for _ in 0..8 {
        let new_id_or = |p: &str| new_id(p).map_err(|e| ApiError::Internal(e.to_string()));
        let answer = Registered {
            account_id: new_id_or("acc")?,
            device_id: new_id_or("dev")?,
            // 64 random bits: collisions stay negligible far beyond 10⁹
            // accounts. Terminals never see the handle (they see a
            // per-merchant pseudonym, see `ServerKeys::pseudonym`).
            handle: format!(
                "rider-{}",
                hex_lower(&random_bytes::<8>().map_err(|e| ApiError::Internal(e.to_string()))?)
            ),
            currency: currency.code().to_string(),
        };
        let row = NewDevice {
            account_id: answer.account_id.clone(),
            device_id: answer.device_id.clone(),
            handle: answer.handle.clone(),
            currency: answer.currency.clone(),
            display_name: req.display_name.clone(),
            phone_number: phone.clone(),
            public_key: key.to_base64(),
        };
        let result = state
            .db()
            .write_tx(move |conn| {
                let r = row.clone();
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO accounts (id, kind, display_name, handle, phone_number, \
                         currency, created_at_ms) VALUES ($1, 'user', $2, $3, $4, $5, $6)",
                    )
                    .bind(r.account_id.clone())
                    .bind(r.display_name)
                    .bind(r.handle)
                    .bind(r.phone_number)
                    .bind(r.currency)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query(
                        "INSERT INTO devices (id, account_id, public_key, created_at_ms) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(r.device_id)
                    .bind(r.account_id)
                    .bind(r.public_key)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                })
            })
            .await;
        match result {
            Ok(()) => {
                tracing::info!(device = %redact(&answer.device_id), "device registered");
                return Ok((StatusCode::CREATED, Json(answer)));
            }
            Err(e) if is_unique_violation(&e) => {
                // Either the handle collided (try another) or the same key
                // registered concurrently (answer with that account).
                if let Some(existing) = find_by_key(&state, &key).await? {
                    return Ok((StatusCode::OK, Json(existing)));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::Internal(
        "could not allocate a unique handle".into(),
    ))
}

async fn find_by_key(state: &AppState, key: &PublicKey) -> Result<Option<Registered>, ApiError> {
    let row: Option<(String, String, Option<String>, String)> = sqlx::query_as(
        "SELECT a.id, d.id, a.handle, a.currency FROM devices d \
         JOIN accounts a ON a.id = d.account_id WHERE d.public_key = $1",
    )
    .bind(key.to_base64())
    .fetch_optional(&state.db().pool)
    .await?;
    Ok(
        row.map(|(account_id, device_id, handle, currency)| Registered {
            account_id,
            device_id,
            handle: handle.unwrap_or_default(),
            currency,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_validated() {
        assert!(check_phone("+8613800138000").is_ok());
        assert!(check_phone("123456").is_ok());
        for bad in ["12345", "+1234567890123456", "12-3456", "", "+", "abcdefg"] {
            assert!(check_phone(bad).is_err(), "{bad}");
        }
    }
}

/// The rows a registration writes: the account and its first device.
#[derive(Clone)]
struct NewDevice {
    account_id: String,
    device_id: String,
    handle: String,
    currency: String,
    display_name: String,
    phone_number: Option<String>,
    public_key: String,
}
