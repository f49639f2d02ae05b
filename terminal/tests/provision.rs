//! Enrollment against a stub of `POST /v1/terminals`.

use crate::common;

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use common::now_ms;
use wayfare_protocol::certificate::{CertificateBody, TerminalCertificate};
use wayfare_protocol::keys::{PublicKey, SigningKey};
use wayfare_protocol::messages::TerminalKind;
use wayfare_terminal::{enroll, EnrollRequest, TerminalLocation};

#[tokio::test]
async fn enroll_returns_a_certificate_for_our_key() {
    let operator = Arc::new(SigningKey::generate().unwrap());
    let receipt = SigningKey::generate().unwrap().public_key();
    let seen: Arc<Mutex<Option<serde_json::Value>>> = Arc::default();
    let app = Router::new().route(
        "/v1/terminals",
        post({
            let operator = operator.clone();
            let seen = seen.clone();
            move |headers: HeaderMap, Json(body): Json<serde_json::Value>| async move {
                if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer secret") {
                    return (StatusCode::UNAUTHORIZED, Json(serde_json::json!({"error": {"code": "unauthorized", "message": "bad token"}})));
                }
                let key = PublicKey::from_base64(body["terminal_key"].as_str().unwrap()).unwrap();
                let cert = TerminalCertificate::issue(
                    &operator,
                    &CertificateBody {
                        version: 1,
                        terminal_id: "term_new".into(),
                        merchant_id: body["merchant_id"].as_str().unwrap().into(),
                        merchant_name: "Tram T1".into(),
                        kind: TerminalKind::Tram,
                        terminal_key: key,
                        not_before_ms: now_ms() - 1_000,
                        not_after_ms: now_ms() + 86_400_000,
                        transit: None,
                    },
                )
                .unwrap();
                *seen.lock().unwrap() = Some(body);
                (
                    StatusCode::CREATED,
                    Json(serde_json::json!({
                        "terminal_id": "term_new",
                        "certificate": cert.to_base64(),
                        "operator_key": operator.public_key().to_base64(),
                        "receipt_key": receipt.to_base64(),
                    })),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let key = SigningKey::generate().unwrap();
    let request = EnrollRequest {
        merchant_id: "mer_1".into(),
        kind: TerminalKind::Tram,
        label: Some("front door".into()),
        location: Some(TerminalLocation {
            line: "T1".into(),
            vehicle: "tram 1207".into(),
            station: "Central".into(),
            station_index: Some(2),
            tap_role: None,
            direction_from: "Airport".into(),
            direction_towards: "Harbour".into(),
            utc_offset_minutes: Some(480),
        }),
        valid_for_days: None,
    };
    let enrollment = enroll(&url, "secret", request.clone(), &key).await.unwrap();
    assert_eq!(enrollment.terminal_id, "term_new");
    assert_eq!(enrollment.operator_key, operator.public_key());
    assert_eq!(enrollment.receipt_key, receipt);
    let body = seen.lock().unwrap().clone().unwrap();
    assert_eq!(body["kind"], "tram");
    assert_eq!(body["label"], "front door");
    assert_eq!(body["location"]["direction_towards"], "Harbour");
    assert!(body.get("valid_for_days").is_none());

    let err = enroll(&url, "wrong", request, &key).await.unwrap_err();
    assert!(err.to_string().contains("unauthorized"), "{err}");
}
