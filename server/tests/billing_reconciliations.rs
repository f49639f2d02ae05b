//! Reconciliation back (issue 12.4): the billing system's files, JSON and
//! CSV, stored with each missing, mismatched and unknown payment named;
//! bad files refused without storing anything. SQLite and, when
//! WAYFARE_TEST_DATABASE_URL is set, PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::days::{today, unused_past_day};
use common::{database_urls, shop, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn csv_line(id: &str, amount: i64) -> String {
    format!("{id},{amount},CNY,\"note, quoted\"\r\n")
}

#[tokio::test]
async fn reconciliation_files_are_stored_naming_each_difference() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let (merchant, terminal, phone) = shop(&s, 10_000).await;
        let mut ids = Vec::new();
        for (order, amount) in [("r-1", 100), ("r-2", 200), ("r-3", 300)] {
            let (instruction, idem) = phone.instruction(&terminal, order, amount);
            let (status, paid) = s.pay(&phone, &instruction, &idem).await;
            assert_eq!(status, StatusCode::CREATED, "{paid}");
            ids.push(paid["payment_id"].as_str().unwrap().to_string());
        }
        let date = today();
        // r-1 right, r-2 with a wrong amount, r-3 missing, one unknown line.
        let entries = json!([
            {"payment_id": ids[0], "amount_minor": 100, "currency": "CNY"},
            {"payment_id": ids[1], "amount_minor": 201, "currency": "CNY"},
            {"payment_id": "pay_nobodyknowsthisone", "amount_minor": 5, "currency": "CNY"},
        ]);
        let (status, stored) = s
            .admin(
                Method::POST,
                "/v1/billing/reconciliations",
                Some(
                    json!({"date": date, "merchant_id": merchant.merchant_id, "entries": entries}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{stored}");
        let id = stored["reconciliation_id"].as_str().unwrap().to_string();
        let (status, shown) = s
            .admin(
                Method::GET,
                &format!("/v1/billing/reconciliations/{id}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{shown}");
        for r in [&stored, &shown] {
            assert_eq!(r["balanced"], false);
            assert_eq!(r["matched"], 1);
            assert_eq!(r["source_format"], "json");
            assert_eq!(r["mismatched"][0]["payment_id"], ids[1].as_str());
            assert_eq!(r["mismatched"][0]["reason"], "amount");
            assert_eq!(r["mismatched"][0]["ledger"]["amount_minor"], 200);
            assert_eq!(r["mismatched"][0]["statement"]["amount_minor"], 201);
            assert_eq!(r["missing"].as_array().unwrap().len(), 1);
            assert_eq!(r["missing"][0]["payment_id"], ids[2].as_str());
            assert_eq!(r["unknown"][0]["payment_id"], "pay_nobodyknowsthisone");
        }

        // The same file as CSV, columns in another order, an extra column.
        let mut csv = String::from("payment_id,amount_minor,currency,note\r\n");
        csv.push_str(&csv_line(&ids[0], 100));
        csv.push_str(&csv_line(&ids[1], 201));
        csv.push_str(&csv_line(&ids[2], 300));
        let (status, from_csv) = upload_csv(
            &s,
            &format!("date={date}&merchant_id={}", merchant.merchant_id),
            csv,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{from_csv}");
        assert_eq!(from_csv["source_format"], "csv");
        assert_eq!(from_csv["matched"], 2);
        assert_eq!(from_csv["mismatched"][0]["payment_id"], ids[1].as_str());
        assert!(from_csv["missing"].as_array().unwrap().is_empty());

        let (status, list) = s
            .admin(
                Method::GET,
                &format!("/v1/billing/reconciliations?date={date}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let listed: Vec<&str> = list["reconciliations"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["reconciliation_id"].as_str())
            .collect();
        assert!(listed.contains(&id.as_str()));
        assert!(listed.contains(&from_csv["reconciliation_id"].as_str().unwrap()));
        let summary = list["reconciliations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["reconciliation_id"] == id.as_str())
            .unwrap();
        assert_eq!(summary["mismatched_count"], 1);
        assert_eq!(summary["missing_count"], 1);
        assert_eq!(summary["unknown_count"], 1);

        // The old endpoint still answers without storing.
        let (status, old) = s
            .admin(
                Method::POST,
                "/v1/settlements/reconciliations",
                Some(json!({"date": date, "merchant_id": merchant.merchant_id, "entries": []})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{old}");
        assert_eq!(old["missing"].as_array().unwrap().len(), 3);
        s.server.shutdown().await;
    }
}

async fn upload_csv(s: &TestServer, query: &str, csv: String) -> (StatusCode, Value) {
    let resp = s
        .http
        .post(s.url(&format!("/v1/billing/reconciliations?{query}")))
        .bearer_auth(&s.admin)
        .header("content-type", "text/csv; charset=utf-8")
        .body(csv)
        .send()
        .await
        .unwrap();
    common::read(resp).await
}

#[tokio::test]
async fn bad_reconciliation_files_are_typed_errors_and_store_nothing() {
    for url in database_urls() {
        let s = TestServer::start_with(url).await;
        let (date, _) = unused_past_day();
        let q = format!("date={date}");
        let header = "payment_id,amount_minor,currency\n";
        let many: String = std::iter::once(header.to_string())
            .chain((0..5_001).map(|i| format!("pay_{i},1,CNY\n")))
            .collect();
        let cases: Vec<(String, StatusCode, &str)> = vec![
            (
                format!("{header}pay_a,1"),
                StatusCode::BAD_REQUEST,
                "malformed_csv",
            ),
            (
                format!("{header}\"pay_a,1,CNY"),
                StatusCode::BAD_REQUEST,
                "malformed_csv",
            ),
            (
                format!("{header}pay_a,ten,CNY"),
                StatusCode::BAD_REQUEST,
                "malformed_csv",
            ),
            (
                "amount,currency\n1,CNY".into(),
                StatusCode::BAD_REQUEST,
                "malformed_csv",
            ),
            (String::new(), StatusCode::BAD_REQUEST, "malformed_csv"),
            (
                format!("{header}pay_a,1,XXQ"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_currency",
            ),
            (many, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            (
                format!("{header}{}", "pay_a,1,CNY,\n".repeat(110_000)),
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
            ),
        ];
        for (csv, want, code) in cases {
            let (status, body) = upload_csv(&s, &q, csv).await;
            assert_eq!(status, want, "{body}");
            assert_eq!(body["error"]["code"], code, "{body}");
        }
        // JSON: a wrong currency, and a CSV without its day.
        let (status, body) = s
            .admin(
                Method::POST,
                "/v1/billing/reconciliations",
                Some(json!({"date": date, "entries": [
                    {"payment_id": "pay_a", "amount_minor": 1, "currency": "cny!"}]})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "unsupported_currency");
        let (status, body) = upload_csv(&s, "", format!("{header}pay_a,1,CNY")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

        let (status, list) = s
            .admin(
                Method::GET,
                &format!("/v1/billing/reconciliations?date={date}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list["reconciliations"], json!([]), "nothing stored");
        let (status, body) = s
            .admin(Method::GET, "/v1/billing/reconciliations/brc_nope", None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        s.server.shutdown().await;
    }
}
