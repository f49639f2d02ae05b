//! The control interface refuses what a web page on the POS host could
//! send it (cross-site request forgery, DNS rebinding) and serves the
//! cashier's app that holds the token.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::net::SocketAddr;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wayfare_protocol::messages::TerminalKind;
use wayfare_terminal::RunningTerminal;

/// An HTTP/1.1 answer: status, headers (lower-case names) and body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn error_code(&self) -> String {
        let v: serde_json::Value = serde_json::from_str(&self.body).unwrap_or_default();
        v["error"]["code"].as_str().unwrap_or("").to_string()
    }
}

/// Sends a request exactly as written (headers included), as a browser
/// or a rebinding page would, and reads the answer.
async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut request = format!("{method} {path} HTTP/1.1\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Answer {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

const SALE: &str = r#"{"amount_minor": 1250, "description": "Flat white"}"#;

async fn pos() -> (Fixture, RunningTerminal) {
    let f = Fixture::new(TerminalKind::Pos).await;
    let t = wayfare_terminal::start(f.pos_config(UNREACHABLE))
        .await
        .unwrap();
    (f, t)
}

fn host(t: &RunningTerminal) -> String {
    t.control_addr().to_string()
}

fn bearer(t: &RunningTerminal) -> String {
    format!("Bearer {}", t.control_token())
}

/// No sale was entered (one at a time): a new one can be.
async fn no_sale_entered(t: &RunningTerminal) {
    t.new_sale(100, "probe").await.unwrap();
}

#[tokio::test]
async fn a_cross_origin_form_post_is_refused() {
    let (_f, t) = pos().await;
    let h = host(&t);
    // `<form enctype="text/plain">` can make a body that parses as JSON.
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let a = raw(
            t.control_addr(),
            "POST",
            "/sales",
            &[
                ("host", &h),
                ("origin", "http://evil.example"),
                ("content-type", content_type),
            ],
            SALE,
        )
        .await;
        assert_eq!(a.status, 403, "{content_type}: {}", a.body);
        assert_eq!(a.error_code(), "origin_not_allowed");
    }
    // Even a page that somehow had the token is refused by its origin.
    let a = raw(
        t.control_addr(),
        "POST",
        "/sales",
        &[
            ("host", &h),
            ("origin", "null"),
            ("authorization", &bearer(&t)),
            ("content-type", "application/json"),
        ],
        SALE,
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    no_sale_entered(&t).await;
    t.shutdown().await;
}

#[tokio::test]
async fn a_text_plain_or_untyped_post_is_refused() {
    let (_f, t) = pos().await;
    let (h, b) = (host(&t), bearer(&t));
    for content_type in ["text/plain", "multipart/form-data; boundary=x"] {
        let a = raw(
            t.control_addr(),
            "POST",
            "/sales",
            &[
                ("host", &h),
                ("authorization", &b),
                ("content-type", content_type),
            ],
            SALE,
        )
        .await;
        assert_eq!(a.status, 415, "{content_type}: {}", a.body);
        assert_eq!(a.error_code(), "unsupported_media_type");
    }
    let a = raw(
        t.control_addr(),
        "POST",
        "/sales",
        &[("host", &h), ("authorization", &b)],
        SALE,
    )
    .await;
    assert_eq!(a.status, 415, "{}", a.body);
    no_sale_entered(&t).await;
    t.shutdown().await;
}

#[tokio::test]
async fn a_request_without_the_token_is_refused() {
    let (_f, t) = pos().await;
    let h = host(&t);
    for auth in [None, Some("Bearer not-the-token"), Some(t.control_token())] {
        let mut headers = vec![("host", h.as_str()), ("content-type", "application/json")];
        if let Some(auth) = auth {
            headers.push(("authorization", auth));
        }
        let a = raw(t.control_addr(), "POST", "/sales", &headers, SALE).await;
        assert_eq!(a.status, 401, "{auth:?}: {}", a.body);
        assert_eq!(a.error_code(), "unauthorized");
        assert_eq!(a.header("www-authenticate"), Some("Bearer"));
    }
    let a = raw(t.control_addr(), "GET", "/status", &[("host", &h)], "").await;
    assert_eq!(a.status, 401);
    no_sale_entered(&t).await;
    t.shutdown().await;
}

#[tokio::test]
async fn a_wrong_host_is_refused() {
    let (_f, t) = pos().await;
    let b = bearer(&t);
    let port = t.control_addr().port();
    // A DNS-rebinding page talks to 127.0.0.1 under its own name.
    for wrong in [
        format!("evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("192.168.1.10:{port}"),
    ] {
        let a = raw(
            t.control_addr(),
            "POST",
            "/sales",
            &[
                ("host", &wrong),
                ("authorization", &b),
                ("content-type", "application/json"),
            ],
            SALE,
        )
        .await;
        assert_eq!(a.status, 403, "{wrong}: {}", a.body);
        assert_eq!(a.error_code(), "bad_host");
        let a = raw(
            t.control_addr(),
            "GET",
            "/status",
            &[("host", &wrong), ("authorization", &b)],
            "",
        )
        .await;
        assert_eq!(a.status, 403, "{wrong}");
    }
    no_sale_entered(&t).await;
    t.shutdown().await;
}

#[tokio::test]
async fn the_cashiers_app_with_the_token_is_served() {
    let (_f, t) = pos().await;
    let b = bearer(&t);
    let port = t.control_addr().port();
    let localhost = format!("localhost:{port}");
    let a = raw(
        t.control_addr(),
        "POST",
        "/sales",
        &[
            ("host", &localhost),
            ("authorization", &b),
            ("content-type", "application/json; charset=utf-8"),
        ],
        SALE,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let order: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    let order = order["order_id"].as_str().unwrap().to_string();

    // reqwest sends Host 127.0.0.1:port; the harness client adds the token.
    let client = control_client(&t);
    let base = format!("http://{}", t.control_addr());
    let sale = get_json(&client, format!("{base}/sales/{order}")).await;
    assert_eq!(sale["state"], "pending");
    // Cancelling changes state: JSON only.
    let r = client
        .delete(format!("{base}/sales/{order}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = client
        .delete(format!("{base}/sales/{order}"))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["state"],
        "cancelled"
    );
    t.shutdown().await;
}

#[tokio::test]
async fn an_allowed_origin_gets_cors_answers_and_others_do_not() {
    let f = Fixture::new(TerminalKind::Pos).await;
    let mut config = f.pos_config(UNREACHABLE);
    config.control.allowed_origins = vec!["http://localhost:5173".into()];
    let t = wayfare_terminal::start(config).await.unwrap();
    let (h, b) = (host(&t), bearer(&t));

    let a = raw(
        t.control_addr(),
        "OPTIONS",
        "/sales",
        &[
            ("host", &h),
            ("origin", "http://localhost:5173"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization, content-type",
            ),
        ],
        "",
    )
    .await;
    assert_eq!(a.status, 204);
    assert_eq!(
        a.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert!(a
        .header("access-control-allow-headers")
        .unwrap()
        .contains("authorization"));

    let a = raw(
        t.control_addr(),
        "POST",
        "/sales",
        &[
            ("host", &h),
            ("origin", "http://localhost:5173"),
            ("authorization", &b),
            ("content-type", "application/json"),
        ],
        SALE,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(
        a.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );

    let a = raw(
        t.control_addr(),
        "OPTIONS",
        "/sales",
        &[
            ("host", &h),
            ("origin", "http://localhost:5174"),
            ("access-control-request-method", "POST"),
        ],
        "",
    )
    .await;
    assert_eq!(a.status, 403);
    assert_eq!(a.header("access-control-allow-origin"), None);
    t.shutdown().await;
}
