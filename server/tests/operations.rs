//! Running the `wayfare-server` binary as an operator does: settings from
//! a `[server]` file section, overridden by `WAYFARE_*` environment
//! variables and flags; JSON log lines on request; a stop on SIGTERM that
//! exits cleanly; `--help` naming each variable.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The binary with no `WAYFARE_*` or `RUST_LOG` inherited from the test's
/// own environment, so each test states every setting it relies on.
fn server() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wayfare-server"));
    for (key, _) in std::env::vars() {
        if key.starts_with("WAYFARE_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// The base URL the server prints once it listens.
async fn listening(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("stdout piped");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the server printed where it listens within 60 s")
        .unwrap()
        .expect("a line on stdout");
    line.strip_prefix("wayfare-server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string()
}

/// Sends SIGTERM (with `kill`, as an init system does) and waits for the
/// exit status.
async fn terminate(mut child: Child) -> std::process::ExitStatus {
    let pid = child.id().expect("running").to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stopped within 30 s of SIGTERM")
        .unwrap()
}

fn write_config(dir: &Path, server_section: &str) -> std::path::PathBuf {
    let path = dir.join("wayfare-server.toml");
    std::fs::write(&path, format!("[server]\n{server_section}")).unwrap();
    path
}

#[tokio::test]
async fn the_config_file_sets_the_server_up_and_sigterm_stops_it_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(
        dir.path(),
        &format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:0\"\nlog_format = \"json\"\n",
            data.display().to_string()
        ),
    );
    let mut child = server()
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "info,wayfare_server::request_span=debug")
        .spawn()
        .unwrap();
    let base = listening(&mut child).await;
    let health = crate::common::client()
        .get(format!("{base}/v1/health"))
        .header("x-request-id", "ops-check-1")
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success());
    assert_eq!(health.headers()["x-request-id"], "ops-check-1");
    // An id that is not a short token is replaced, never logged.
    let replaced = crate::common::client()
        .get(format!("{base}/v1/health"))
        .header("x-request-id", "not a token")
        .send()
        .await
        .unwrap();
    let fresh = replaced.headers()["x-request-id"].to_str().unwrap();
    assert!(fresh.starts_with("req_"), "{fresh}");
    assert!(
        data.join("admin-token").exists(),
        "data_dir came from the file"
    );

    let stderr = child.stderr.take().unwrap();
    let status = terminate(child).await;
    assert!(status.success(), "{status:?}");
    let mut lines = BufReader::new(stderr).lines();
    let mut messages = Vec::new();
    let mut answered = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        let value: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(
            value["level"].is_string() && value["timestamp"].is_string(),
            "{line}"
        );
        assert!(!line.contains("not a token"), "{line}");
        if value["fields"]["message"] == "answered" {
            answered.push(value["span"].clone());
        }
        messages.push(
            value["fields"]["message"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        );
    }
    assert!(
        messages.iter().any(|m| m.starts_with("stopping")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m == "server stopped"),
        "{messages:?}"
    );
    // The request's line is in its span: id, method and route template.
    assert!(
        answered.iter().any(|span| span["name"] == "request"
            && span["id"] == "ops-check-1"
            && span["method"] == "GET"
            && span["route"] == "/v1/health"),
        "{answered:?}"
    );
}

#[tokio::test]
async fn flags_and_environment_win_over_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let from_file = dir.path().join("from-file");
    let from_env = dir.path().join("from-env");
    let config = write_config(
        dir.path(),
        &format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:0\"\nlog_format = \"json\"\n",
            from_file.display().to_string()
        ),
    );
    let mut child = server()
        .arg("--config")
        .arg(&config)
        .arg("--log-format")
        .arg("text")
        .env("WAYFARE_DATA_DIR", &from_env)
        .env("RUST_LOG", "info")
        .spawn()
        .unwrap();
    listening(&mut child).await;
    assert!(from_env.join("admin-token").exists());
    assert!(!from_file.exists());
    let stderr = child.stderr.take().unwrap();
    assert!(terminate(child).await.success());
    let mut lines = BufReader::new(stderr).lines();
    let first = lines.next_line().await.unwrap().expect("a log line");
    assert!(
        serde_json::from_str::<serde_json::Value>(&first).is_err(),
        "--log-format text wins over the file: {first}"
    );
}

#[tokio::test]
async fn a_bad_setting_is_named_wherever_it_comes_from() {
    let dir = tempfile::tempdir().unwrap();
    let run = |cmd: &mut Command| {
        let out = std::mem::replace(cmd, server())
            .into_std()
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };

    let err = run(server().env("WAYFARE_LISTEN", "nonsense"));
    assert!(err.contains("--listen"), "{err}");

    let err = run(&mut server());
    assert!(err.contains("no data directory"), "{err}");

    let typo = write_config(dir.path(), "data_dri = \"/tmp\"\n");
    let err = run(server().arg("--config").arg(&typo));
    assert!(err.contains("data_dri"), "{err}");

    let half_tls = write_config(dir.path(), "tls_cert = \"/etc/cert.pem\"\n");
    let err = run(server()
        .arg("--config")
        .arg(&half_tls)
        .env("WAYFARE_DATA_DIR", dir.path()));
    assert!(err.contains("--tls-key"), "{err}");

    let err = run(server()
        .env("WAYFARE_DATA_DIR", dir.path())
        .env("WAYFARE_BILLING_URL", "http://127.0.0.1:1/billing"));
    assert!(err.contains("--billing-secret-file"), "{err}");
}

#[test]
fn help_names_each_environment_variable() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wayfare-server"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "WAYFARE_DATA_DIR",
        "WAYFARE_LISTEN",
        "WAYFARE_DATABASE_URL",
        "WAYFARE_ALERT_WEBHOOK_URL",
        "WAYFARE_BILLING_URL",
        "WAYFARE_BILLING_SECRET_FILE",
        "WAYFARE_BILLING_CLOSE_UTC_OFFSET_MINUTES",
        "WAYFARE_TLS_CERT",
        "WAYFARE_TLS_KEY",
        "WAYFARE_CONFIG",
        "WAYFARE_METRICS_LISTEN",
        "WAYFARE_LOG_FORMAT",
    ] {
        assert!(help.contains(var), "{var} missing from --help");
    }
}
