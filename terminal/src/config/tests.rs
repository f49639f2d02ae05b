use super::*;
use wayfare_protocol::keys::SigningKey;

fn keys() -> (String, String) {
    (
        SigningKey::generate().unwrap().public_key().to_base64(),
        SigningKey::generate().unwrap().public_key().to_base64(),
    )
}

fn tram_toml(extra: &str) -> String {
    let (op, rc) = keys();
    format!(
        r#"
server_url = "http://127.0.0.1:8080"
data_dir = "data"
operator_key = "{op}"
receipt_key = "{rc}"
terminal_id = "term_1"
{extra}
[mode]
kind = "tram"
fare_minor = 200
currency = "CNY"
line = "T1"
vehicle = "tram 1207"
direction_from = "Airport"
direction_towards = "Harbour"
station = "Central"
station_index = 4
"#
    )
}

#[test]
fn parses_tram_config_with_defaults() {
    let c = TerminalConfig::from_toml_str(&tram_toml("")).unwrap();
    assert!(
        matches!(c.mode, ModeConfig::Tram(ref t) if t.fare_minor == 200 && t.request_ttl_ms == 60_000)
    );
    assert!(matches!(c.linkage, LinkageConfig::Log));
    assert!(c.mdns.enabled);
    assert_eq!(c.mdns.interfaces, MdnsInterfaces::Loopback);
    assert_eq!(c.key_path(), PathBuf::from("data/terminal.key"));
    assert!(c.listen.ip().is_loopback());
}

#[tokio::test]
async fn relative_paths_are_resolved_against_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("terminal.toml");
    std::fs::write(&path, tram_toml("certificate_file = \"certs/t.cert\"\n")).unwrap();
    let c = TerminalConfig::from_file(&path).await.unwrap();
    assert_eq!(c.data_dir, dir.path().join("data"));
    assert_eq!(c.key_path(), dir.path().join("data/terminal.key"));
    assert_eq!(c.certificate_path(), dir.path().join("certs/t.cert"));
    let err = TerminalConfig::from_file(&dir.path().join("missing.toml"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.toml"), "{err}");
}

/// Issue 8.3: plain http only to this machine.
#[test]
fn plain_http_to_another_machine_is_refused() {
    let (op, rc) = keys();
    let text = |url: &str| {
        format!(
            "server_url = \"{url}\"\ndata_dir = \"/tmp/x\"\noperator_key = \"{op}\"\n\
             receipt_key = \"{rc}\"\nterminal_id = \"term_1\"\n\
             mode = {{ kind = \"pos\", currency = \"EUR\" }}\n"
        )
    };
    let err = TerminalConfig::from_toml_str(&text("http://cc.example")).unwrap_err();
    assert!(err.to_string().contains("https://"), "{err}");
    assert!(TerminalConfig::from_toml_str(&text("http://127.0.0.1:8080")).is_ok());
    assert!(TerminalConfig::from_toml_str(&text("https://cc.example")).is_ok());
}

#[test]
fn parses_pos_linkage_and_interfaces() {
    let (op, rc) = keys();
    let text = format!(
        r#"
server_url = "https://cc.example"
data_dir = "/tmp/x"
operator_key = "{op}"
receipt_key = "{rc}"
terminal_id = "term_1"
mode = {{ kind = "pos", currency = "EUR" }}
linkage = {{ kind = "command", open = ["gate", "open"], close = ["gate", "close"] }}
mdns = {{ enabled = true, interfaces = ["eth0"] }}
"#
    );
    let c = TerminalConfig::from_toml_str(&text).unwrap();
    assert!(matches!(c.mode, ModeConfig::Pos(ref p) if p.currency.code() == "EUR"));
    assert!(matches!(c.linkage, LinkageConfig::Command(ref l) if l.open == ["gate", "open"]));
    assert_eq!(
        c.mdns.interfaces,
        MdnsInterfaces::Named(vec!["eth0".into()])
    );
}

#[test]
fn control_and_connection_sections_parse_and_are_checked() {
    let c = TerminalConfig::from_toml_str(&tram_toml("")).unwrap();
    assert!(c.control.require_token);
    assert!(c.control.allowed_origins.is_empty());
    assert_eq!(c.control_token_path(), PathBuf::from("data/control-token"));
    assert_eq!(c.connections.max_handshakes_per_peer, 4);

    let c = TerminalConfig::from_toml_str(&tram_toml(
        "control = { token_file = \"t\", allowed_origins = [\"http://localhost:5173\"] }\n\
         connections = { max_handshakes = 10, max_handshakes_per_peer = 2 }\n",
    ))
    .unwrap();
    assert_eq!(c.control_token_path(), PathBuf::from("t"));
    assert_eq!(c.connections.max_handshakes, 10);

    for bad in ["*", "http://localhost:5173/", "http://x/path", "localhost"] {
        let err = TerminalConfig::from_toml_str(&tram_toml(&format!(
            "control = {{ allowed_origins = [{bad:?}] }}\n"
        )))
        .unwrap_err()
        .to_string();
        assert!(err.contains("allowed_origins"), "{bad}: {err}");
    }
    let err = TerminalConfig::from_toml_str(&tram_toml(
        "connections = { max_handshakes_per_peer = 0 }\n",
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("max_handshakes"), "{err}");
}

#[test]
fn unknown_fields_and_bad_values_are_clear_errors() {
    let err = TerminalConfig::from_toml_str(&tram_toml("colour = \"red\"\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("colour"), "{err}");

    let err = TerminalConfig::from_toml_str(
        &tram_toml("").replace("fare_minor = 200", "fare_minor = 200\nfare = 1"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("fare"), "{err}");

    let err = TerminalConfig::from_toml_str(&tram_toml("").replace("\"CNY\"", "\"XYZ\""))
        .unwrap_err()
        .to_string();
    assert!(err.contains("XYZ"), "{err}");

    let err = TerminalConfig::from_toml_str(&tram_toml("control_listen = \"0.0.0.0:9000\"\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("loopback"), "{err}");

    let err = TerminalConfig::from_toml_str(&tram_toml("mdns = { interfaces = \"eth0\" }\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("interfaces"), "{err}");

    let err =
        TerminalConfig::from_toml_str(&tram_toml("").replace("fare_minor = 200", "fare_minor = 0"))
            .unwrap_err()
            .to_string();
    assert!(err.contains("fare_minor"), "{err}");
}

#[test]
fn nfc_and_express_sections_parse_with_defaults() {
    let c = TerminalConfig::from_toml_str(&tram_toml("")).unwrap();
    assert_eq!(c.nfc, None);
    assert_eq!(c.express, crate::express::ExpressConfig::default());
    assert!(c.express.enabled);
    let c = TerminalConfig::from_toml_str(&tram_toml(
        "[nfc]\nreader = \"ACS ACR122U\"\n[express]\nmax_deny_list_age_ms = 3600000\n",
    ))
    .unwrap();
    assert_eq!(c.nfc.unwrap().reader.as_deref(), Some("ACS ACR122U"));
    assert_eq!(c.express.max_deny_list_age_ms, 3_600_000);
    assert_eq!(c.express.deny_list_sync_ms, 60_000);
    let err = TerminalConfig::from_toml_str(&tram_toml("[express]\nmax_age = 1\n")).unwrap_err();
    assert!(err.to_string().contains("max_age"), "{err}");
}

#[test]
fn the_stop_list_and_position_feed_parse_and_are_checked() {
    let stops = r#"stops = [
  { id = "S3", name = "Museum", index = 3 },
  { id = "S4", name = "Central", index = 4 },
]
"#;
    let feed = "[position]\nfeed_file = \"feeds/vp.pb\"\nmax_age_ms = 30000\n";
    let text = format!("{}{stops}{feed}", tram_toml(""));
    let mut c = TerminalConfig::from_toml_str(&text).unwrap();
    let ModeConfig::Tram(t) = &c.mode else {
        panic!("tram mode")
    };
    assert_eq!(t.stops.len(), 2);
    assert_eq!(t.stops[0].name, "Museum");
    let p = c.position.clone().unwrap();
    assert_eq!((p.poll_ms, p.max_age_ms), (5_000, 30_000));
    c.resolve_paths(Path::new("/etc/wayfare"));
    assert_eq!(
        c.position.unwrap().feed_file,
        Some(PathBuf::from("/etc/wayfare/feeds/vp.pb"))
    );

    // Without stops the static station stays; a feed then has nothing to
    // map to.
    let err = TerminalConfig::from_toml_str(&format!("{}{feed}", tram_toml("")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("mode.stops"), "{err}");
    let unknown_station = text.replace("name = \"Central\"", "name = \"Elsewhere\"");
    let err = TerminalConfig::from_toml_str(&unknown_station)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not one of mode.stops"), "{err}");
    let empty_name = text.replace("name = \"Museum\"", "name = \"\"");
    let err = TerminalConfig::from_toml_str(&empty_name)
        .unwrap_err()
        .to_string();
    assert!(err.contains("name is empty"), "{err}");
    let typo = text.replace("max_age_ms", "max_agee_ms");
    assert!(TerminalConfig::from_toml_str(&typo).is_err());
}
