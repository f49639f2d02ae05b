//! The `wayfare-terminal` binary runs from a TOML file and stops on SIGTERM.

use crate::common;

use std::process::Stdio;

use common::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use wayfare_protocol::messages::TerminalKind;

#[cfg(unix)]
#[tokio::test]
async fn the_daemon_serves_a_phone_and_stops_on_sigterm() {
    let f = Fixture::new(TerminalKind::Tram).await;
    let config = format!(
        r#"
server_url = "{UNREACHABLE}"
data_dir = "."
operator_key = "{}"
receipt_key = "{}"
terminal_id = "{TERMINAL_ID}"
mdns = {{ enabled = false }}

[mode]
kind = "tram"
fare_minor = 250
currency = "CNY"
line = "T2"
vehicle = "tram 7"
direction_from = "North"
direction_towards = "South"
station = "Museum"
station_index = 2
"#,
        f.operator.public_key(),
        f.receipt_key.public_key()
    );
    let path = f.data_dir().join("terminal.toml");
    std::fs::write(&path, config).unwrap();

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_wayfare-terminal"))
        .arg("--config")
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .expect("no startup line")
        .unwrap()
        .unwrap();
    // "terminal ID listening for phones on ADDR, control interface on URL"
    let addr: std::net::SocketAddr = line
        .split(" on ")
        .nth(1)
        .unwrap()
        .trim_end_matches(", control interface")
        .parse()
        .unwrap();
    let mut phone = f.phone(addr).await;
    let req = phone.expect_request().await;
    assert_eq!(req.amount_minor, 250);
    assert_eq!(req.fare.unwrap().station, "Museum");
    drop(phone);

    let pid = child.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("daemon did not stop on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
}
