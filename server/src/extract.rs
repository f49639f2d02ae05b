//! Extractors and validators that turn every bad input into an [`ApiError`]
//! (JSON), so axum's plain-text rejections never reach a client.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use wayfare_protocol::money::{validate_amount, Currency};

use crate::error::ApiError;

/// The largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON body parsed with the API's error mapping.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Reads the whole body, mapping "too large" to `413 payload_too_large`.
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state)
        .await
        .map_err(|e: BytesRejection| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(format!(
                    "request body exceeds the limit of {MAX_BODY_BYTES} bytes"
                ))
            } else {
                ApiError::MalformedJson(format!("could not read the request body: {e}"))
            }
        })
}

/// Parses a JSON body: syntax errors are `400 malformed_json`, a valid JSON
/// value of the wrong shape (unknown or missing field, wrong type) is
/// `422 invalid_field`. JSON has one kind of number, so `2.0` is the
/// integer 2 (as JSON Schema and the OpenAPI document say): serde refuses
/// a float for an integer field, so a body that fails only for that is read
/// again with its whole floats (up to 2^53) written as integers.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedJson(
            "the request body is empty; send a JSON object".into(),
        ));
    }
    serde_json::from_slice(bytes).or_else(|e| match e.classify() {
        serde_json::error::Category::Data => serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|mut value| whole_floats_as_integers(&mut value).then_some(value))
            .and_then(|value| serde_json::from_value(value).ok())
            .ok_or_else(|| ApiError::InvalidField(format!("request body: {e}"))),
        _ => Err(ApiError::MalformedJson(format!(
            "request body is not valid JSON: {e}"
        ))),
    })
}

/// Rewrites every float with an integral value of at most 2^53 in
/// magnitude (where a float spells exactly one integer) as that integer;
/// true when there was one.
fn whole_floats_as_integers(value: &mut serde_json::Value) -> bool {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match value {
        serde_json::Value::Number(n) if n.is_f64() => match n.as_f64() {
            #[allow(clippy::cast_possible_truncation)]
            Some(f) if f.fract() == 0.0 && f.abs() <= EXACT => {
                *value = serde_json::Value::from(f as i64);
                true
            }
            _ => false,
        },
        serde_json::Value::Array(items) => {
            // Every element, not only up to the first (no short circuit).
            let mut any = false;
            for v in items {
                any |= whole_floats_as_integers(v);
            }
            any
        }
        serde_json::Value::Object(map) => {
            let mut any = false;
            for v in map.values_mut() {
                any |= whole_floats_as_integers(v);
            }
            any
        }
        _ => false,
    }
}

/// A path parameter; a bad one is `404 not_found`.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|e| ApiError::NotFound(format!("bad path parameter: {e}")))
    }
}

/// Query parameters; bad ones are `422 invalid_field`.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e| ApiError::InvalidField(format!("query string: {e}")))
    }
}

/// Validates an amount given as any JSON number: it must be a positive
/// integer of minor units within the protocol maximum (`250.0` is the
/// integer 250; `2.5` is refused).
pub fn parse_amount(field: &str, value: &serde_json::Number) -> Result<u64, ApiError> {
    let as_int = value
        .as_i64()
        .map(i128::from)
        .or_else(|| value.as_u64().map(i128::from))
        .or_else(|| {
            let mut whole = serde_json::Value::Number(value.clone());
            whole_floats_as_integers(&mut whole)
                .then(|| whole.as_i64().map(i128::from))
                .flatten()
        });
    match as_int {
        Some(n) => validate_amount(n).map_err(|e| ApiError::InvalidAmount(format!("{field}: {e}"))),
        None => Err(ApiError::InvalidAmount(format!(
            "{field}: {value} is not an integer of minor units within range \
             (amounts are positive integers, never fractions)"
        ))),
    }
}

/// Validates a currency code.
pub fn parse_currency(field: &str, code: &str) -> Result<Currency, ApiError> {
    Currency::parse(code).map_err(|e| ApiError::UnsupportedCurrency(format!("{field}: {e}")))
}

/// Validates a free-text field: not blank, at most `max` characters, no
/// control characters.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::field(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(ApiError::field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Validates an identifier supplied by a client (order id, report id...):
/// 1 to 128 printable ASCII characters without spaces.
pub fn check_id(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > 128 || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::field(
            field,
            "must be 1 to 128 printable ASCII characters without spaces",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_from_any_json_number() {
        let n = |s: &str| serde_json::from_str::<serde_json::Number>(s).unwrap();
        assert_eq!(parse_amount("a", &n("250")).unwrap(), 250);
        assert_eq!(parse_amount("a", &n("250.0")).unwrap(), 250);
        assert_eq!(parse_amount("a", &n("2.5e2")).unwrap(), 250);
        for bad in [
            "0",
            "-5",
            "1.5",
            "1e30",
            "99999999999999999999",
            "1000000001",
        ] {
            let err = parse_amount("a", &n(bad)).unwrap_err();
            assert!(matches!(err, ApiError::InvalidAmount(_)), "{bad}");
        }
    }

    #[test]
    fn json_errors_are_classified() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct B {
            a: String,
        }
        assert!(matches!(
            parse_json::<B>(b""),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_json::<B>(b"{"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_json::<B>(b"{\"a\":1}"),
            Err(ApiError::InvalidField(_))
        ));
        assert!(matches!(
            parse_json::<B>(b"{\"a\":\"x\",\"b\":1}"),
            Err(ApiError::InvalidField(_))
        ));
        assert!(parse_json::<B>(b"{\"a\":\"x\"}").is_ok());
    }

    #[test]
    fn whole_floats_are_integers() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        #[serde(deny_unknown_fields)]
        struct N {
            n: i64,
            list: Vec<u32>,
            inner: Option<Box<N>>,
        }
        // Found by the API fuzzer: JSON Schema's `integer` admits 2.0, serde's i64 did not.
        let parsed: N = parse_json(
            br#"{"n": -22085.0, "list": [1.0, 2], "inner": {"n": 4e3, "list": [], "inner": null}}"#,
        )
        .unwrap();
        assert_eq!(parsed.n, -22085);
        assert_eq!(parsed.list, [1, 2]);
        assert_eq!(parsed.inner.unwrap().n, 4000);
        for bad in [
            &br#"{"n": 1.5, "list": []}"#[..],
            br#"{"n": 1e300, "list": []}"#,
            br#"{"n": 1, "list": [-1.0]}"#,
        ] {
            assert!(
                matches!(parse_json::<N>(bad), Err(ApiError::InvalidField(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
