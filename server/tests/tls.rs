//! The server serves HTTPS itself: a throwaway CA and a server certificate
//! for 127.0.0.1/localhost are made in the test; clients that trust the CA
//! get answers (plain, signed and the SSE push), others fail the handshake,
//! plain HTTP gets no API answer, and bad certificate or key files stop the
//! start with an error naming the file.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{shop, TestServer};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use reqwest::StatusCode;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wayfare_server::{start, ServerConfig, ServerError, TlsConfig, TlsError};

/// A test CA and a server certificate it issued, as PEM files in `dir`.
struct Pki {
    dir: TempDir,
    ca_pem: String,
    cert: PathBuf,
    key: PathBuf,
}

fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let pem = params.self_signed(&key).unwrap().pem();
    (params, key, pem)
}

impl Pki {
    fn new() -> Self {
        let (ca_params, ca_key, ca_pem) = ca("Wayfare test CA");
        let issuer = Issuer::new(ca_params, ca_key);
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "wayfare control center");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cert_path = dir.path().join("server.crt");
        let key_path = dir.path().join("server.key");
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        Self {
            dir,
            ca_pem,
            cert: cert_path,
            key: key_path,
        }
    }

    fn tls(&self) -> TlsConfig {
        TlsConfig::new(&self.cert, &self.key)
    }

    /// A file in the PKI directory with `contents`.
    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

/// A client trusting only the certificates in `ca_pem`.
fn client_trusting(ca_pem: &str) -> reqwest::Client {
    let _ = common::client(); // installs the ring provider
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap()
}

fn config(data_dir: &Path, tls: TlsConfig) -> ServerConfig {
    ServerConfig::new(data_dir, "127.0.0.1:0".parse().unwrap()).with_tls(tls)
}

/// A TLS server whose `http` client trusts the test CA.
async fn tls_server(pki: &Pki) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let server = start(config(dir.path(), pki.tls())).await.unwrap();
    assert!(server.is_tls());
    let base = server.base_url();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let admin = server.admin_token();
    TestServer {
        server,
        dir,
        http: client_trusting(&pki.ca_pem),
        base,
        admin,
        database_url: None,
    }
}

async fn health(client: &reqwest::Client, base: &str) -> reqwest::Result<reqwest::Response> {
    client.get(format!("{base}/v1/health")).send().await
}

#[tokio::test]
async fn a_client_trusting_the_ca_gets_answers_over_https() {
    let pki = Pki::new();
    let s = tls_server(&pki).await;
    let resp = health(&s.http, &s.base).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["status"],
        "ok"
    );
    // The name in the certificate works as well as the address.
    let by_name = s.base.replace("127.0.0.1", "localhost");
    let resp = health(&s.http, &by_name).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    s.server.shutdown().await;
}

#[tokio::test]
async fn a_client_not_trusting_the_ca_fails_the_handshake() {
    let pki = Pki::new();
    let s = tls_server(&pki).await;
    // The system's roots, and a client trusting another CA only.
    let (_, _, other_ca) = ca("Someone else's CA");
    for client in [common::client(), client_trusting(&other_ca)] {
        let err = health(&client, &s.base)
            .await
            .expect_err("an untrusted certificate was accepted");
        assert!(err.is_connect(), "not a connection failure: {err:?}");
    }
    // The server is still fine for a trusting client.
    assert_eq!(
        health(&s.http, &s.base).await.unwrap().status(),
        StatusCode::OK
    );
    s.server.shutdown().await;
}

#[tokio::test]
async fn plain_http_to_the_tls_port_gets_no_api_answer() {
    let pki = Pki::new();
    let s = tls_server(&pki).await;
    let mut tcp = tokio::net::TcpStream::connect(s.server.addr())
        .await
        .unwrap();
    tcp.write_all(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    // The server closes the connection; the timeout only turns a bug into
    // a failure instead of a hang.
    let _ = tokio::time::timeout(Duration::from_secs(30), tcp.read_to_end(&mut answer))
        .await
        .expect("the server kept a plain-HTTP connection open");
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP got an HTTP answer: {:?}",
        String::from_utf8_lossy(&answer)
    );
    assert!(!String::from_utf8_lossy(&answer).contains("\"ok\""));

    // Through reqwest too.
    let plain = s.base.replace("https://", "http://");
    match health(&common::client(), &plain).await {
        Err(_) => {}
        Ok(resp) => panic!("plain HTTP got an answer: {}", resp.status()),
    }
    assert_eq!(
        health(&s.http, &s.base).await.unwrap().status(),
        StatusCode::OK
    );
    s.server.shutdown().await;
}

#[tokio::test]
async fn signed_requests_and_the_payment_push_work_over_tls() {
    let pki = Pki::new();
    let s = tls_server(&pki).await;
    // Device registration, top-up and terminal creation are signed or
    // bearer requests over HTTPS.
    let (_m, terminal, phone) = shop(&s, 1_000).await;

    // The terminal's SSE stream over TLS.
    let mut events = s.terminal_events(&terminal, None).await;

    let (ins, idem) = phone.instruction(&terminal, "ord-tls", 120);
    let (status, paid) = s.pay(&phone, &ins, &idem).await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    assert_eq!(s.balance(&phone.account_id).await, 880);

    let event = events.next().await;
    assert_eq!(event.event, "payment.completed");
    assert_eq!(event.data["payment_id"], paid["payment_id"]);

    // Graceful shutdown ends the open stream, and the port is free again
    // for a new TLS server on the same data.
    let common::TestServer {
        server, dir, http, ..
    } = s;
    let addr = server.addr();
    tokio::time::timeout(Duration::from_secs(30), server.shutdown())
        .await
        .expect("shutdown hung with an SSE stream open over TLS");
    let again = start(ServerConfig {
        listen: addr,
        ..config(dir.path(), pki.tls())
    })
    .await
    .unwrap();
    assert_eq!(
        health(&http, &again.base_url()).await.unwrap().status(),
        StatusCode::OK
    );
    again.shutdown().await;
}

/// Starting with `tls` fails; returns the error.
async fn start_error(tls: TlsConfig) -> ServerError {
    let dir = tempfile::tempdir().unwrap();
    match start(config(dir.path(), tls)).await {
        Ok(server) => {
            server.shutdown().await;
            panic!("the server started with a bad TLS configuration")
        }
        Err(e) => e,
    }
}

#[tokio::test]
async fn bad_certificate_or_key_files_stop_the_start_with_the_file_named() {
    let pki = Pki::new();

    let garbage = pki.file("garbage.key", "not a key\n");
    let e = start_error(TlsConfig::new(&pki.cert, &garbage)).await;
    assert!(
        matches!(&e, ServerError::Tls(TlsError::BadKey { path, .. }) if *path == garbage),
        "{e:?}"
    );
    let message = e.to_string();
    assert!(message.contains("TLS key file"), "{message}");
    assert!(
        message.contains(&garbage.display().to_string()),
        "{message}"
    );

    let missing = pki.dir.path().join("missing.key");
    let e = start_error(TlsConfig::new(&pki.cert, &missing)).await;
    assert!(
        matches!(&e, ServerError::Tls(TlsError::ReadKey { path, .. }) if *path == missing),
        "{e:?}"
    );
    assert!(e.to_string().contains(&missing.display().to_string()));

    let missing = pki.dir.path().join("missing.crt");
    let e = start_error(TlsConfig::new(&missing, &pki.key)).await;
    assert!(
        matches!(&e, ServerError::Tls(TlsError::ReadCertificate { path, .. }) if *path == missing),
        "{e:?}"
    );

    // The key given as the certificate: no certificate in it.
    let e = start_error(TlsConfig::new(&pki.key, &pki.key)).await;
    assert!(
        matches!(&e, ServerError::Tls(TlsError::BadCertificate { path, .. }) if *path == pki.key),
        "{e:?}"
    );

    // A well-formed key that is not the certificate's.
    let other = pki.file("other.key", &KeyPair::generate().unwrap().serialize_pem());
    let e = start_error(TlsConfig::new(&pki.cert, &other)).await;
    assert!(
        matches!(&e, ServerError::Tls(TlsError::KeyMismatch { cert, key }) if *cert == pki.cert && *key == other),
        "{e:?}"
    );
    let message = e.to_string();
    assert!(message.contains(&other.display().to_string()), "{message}");
    assert!(
        message.contains(&pki.cert.display().to_string()),
        "{message}"
    );
}

#[tokio::test]
async fn the_binary_wants_both_tls_flags_and_names_a_bad_file() {
    let pki = Pki::new();
    let data = tempfile::tempdir().unwrap();
    let run = |extra: &[&std::ffi::OsStr]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_wayfare-server"))
            .arg("--data-dir")
            .arg(data.path())
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .output()
            .unwrap()
    };
    let only_cert = run(&["--tls-cert".as_ref(), pki.cert.as_os_str()]);
    assert!(!only_cert.status.success());
    let stderr = String::from_utf8_lossy(&only_cert.stderr);
    assert!(stderr.contains("--tls-key"), "{stderr}");

    let only_key = run(&["--tls-key".as_ref(), pki.key.as_os_str()]);
    assert!(!only_key.status.success());
    let stderr = String::from_utf8_lossy(&only_key.stderr);
    assert!(stderr.contains("--tls-cert"), "{stderr}");

    let garbage = pki.file("garbage.key", "not a key\n");
    let bad = run(&[
        "--tls-cert".as_ref(),
        pki.cert.as_os_str(),
        "--tls-key".as_ref(),
        garbage.as_os_str(),
    ]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains(&format!("TLS key file {}", garbage.display())),
        "{stderr}"
    );
}
