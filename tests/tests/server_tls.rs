//! A private deployment over HTTPS: the control center serves TLS with a
//! certificate from its own CA, and a terminal trusts that CA through its
//! `server_ca_file` (signed requests and the payment push work); without
//! it the terminal cannot connect.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::json;
use wayfare_protocol::keys::SigningKey;
use wayfare_server::{ServerConfig, TlsConfig};
use wayfare_terminal::platform::{load_server_roots, PlatformClient};
use wayfare_terminal::TerminalError;

#[tokio::test]
async fn a_terminal_trusting_the_private_ca_talks_to_the_tls_server() {
    wayfare_e2e::init();
    let dir = tempfile::tempdir().unwrap();

    // The deployment's CA and the server certificate it issued.
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Private deployment CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate().unwrap();
    let server_cert = params.signed_by(&server_key, &issuer).unwrap();
    let (ca_file, cert_file, key_file) = (
        dir.path().join("ca.pem"),
        dir.path().join("server.crt"),
        dir.path().join("server.key"),
    );
    std::fs::write(&ca_file, &ca_pem).unwrap();
    std::fs::write(&cert_file, server_cert.pem()).unwrap();
    std::fs::write(&key_file, server_key.serialize_pem()).unwrap();

    let server = wayfare_server::start(
        ServerConfig::new(dir.path().join("server"), "127.0.0.1:0".parse().unwrap())
            .with_tls(TlsConfig::new(&cert_file, &key_file)),
    )
    .await
    .unwrap();
    let base = server.base_url();
    assert!(base.starts_with("https://"), "{base}");
    let roots = load_server_roots(&ca_file).await.unwrap();

    // The operator certifies a terminal over HTTPS.
    let mut admin = reqwest::Client::builder();
    for root in &roots {
        admin = admin.add_root_certificate(root.clone());
    }
    let admin = admin.build().unwrap();
    let merchant: serde_json::Value = admin
        .post(format!("{base}/v1/merchants"))
        .bearer_auth(server.admin_token())
        .json(&json!({"name": "Harbour Kiosk", "currency": "CNY"}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = Arc::new(SigningKey::generate().unwrap());
    let terminal: serde_json::Value = admin
        .post(format!("{base}/v1/terminals"))
        .bearer_auth(server.admin_token())
        .json(
            &json!({"merchant_id": merchant["merchant_id"], "kind": "pos",
            "terminal_key": key.public_key().to_base64(), "label": "kiosk"}),
        )
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let terminal_id = terminal["terminal_id"].as_str().unwrap();

    // With the CA: the signed event stream opens and a signed confirmation
    // request gets the platform's answer.
    let platform = PlatformClient::with_roots(&base, terminal_id, key.clone(), &roots).unwrap();
    let events = platform.open_events(None).await.unwrap();
    assert!(events.status().is_success());
    drop(events);
    match platform.order_status("ord-never-paid").await {
        Ok(answer) => assert!(!answer.confirmed),
        Err(TerminalError::Platform {
            status: Some(_), ..
        }) => {}
        Err(e) => panic!("no answer from the platform over TLS: {e}"),
    }

    // Without it: the handshake fails, a retryable transport error.
    let stranger = PlatformClient::new(&base, terminal_id, key).unwrap();
    match stranger.open_events(None).await {
        Err(TerminalError::Platform {
            status: None,
            retryable: true,
            ..
        }) => {}
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("a terminal not trusting the private CA connected"),
    }
    server.shutdown().await;
}
