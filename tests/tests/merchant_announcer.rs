//! The terminal as the merchant's on-site prompt device (P4): it speaks each
//! order once through its command hook, also across its own restart.

use crate::merchant_common;

use std::time::Duration;

use merchant_common::shop;
use wayfare_core::{MerchantOperation as Op, PromptAttribute as Attr};

/// Lines the announcer's command hook wrote so far.
fn spoken(file: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Polls until the hook wrote `n` lines (20 s at most).
async fn wait_spoken(file: &std::path::Path, n: usize) -> Vec<String> {
    for _ in 0..400 {
        let lines = spoken(file);
        if lines.len() >= n {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the announcer spoke {:?}", spoken(file));
}

#[tokio::test]
async fn the_terminal_announces_each_order_once_through_its_command_hook() {
    use wayfare_terminal::announcer::{self, AnnouncerConfig};
    let s = shop("zh").await;
    let inv = s
        .invite(
            vec![Op::ReceivePrompts],
            vec![Attr::Amount, Attr::PaymentPlatform],
            Some("counter speaker".into()),
        )
        .await;
    let dir = s.system.new_dir("announcer");
    let out = dir.join("spoken.txt");
    let config = AnnouncerConfig {
        invitation: Some(inv.code),
        command: vec![
            "sh".into(),
            "-c".into(),
            "printf '%s\\n' \"$1\" >> \"$2\"".into(),
            "sh".into(),
            "{speech}".into(),
            out.display().to_string(),
        ],
        timeout_ms: 10_000,
        name: "Counter speaker".into(),
    };
    let run = |c: AnnouncerConfig| {
        let dir = dir.clone();
        let url = s.system.base_url().to_string();
        async move {
            let speaker = announcer::speaker_for(&c);
            announcer::start(&c, &dir, &url, speaker).await.unwrap()
        }
    };
    let speaker = run(config.clone()).await;
    let (order1, _) = s.pay(1_250).await;
    assert_eq!(wait_spoken(&out, 1).await, vec!["Wayfare到账12.50元"]);

    // Another copy of the same order (outside platform) is not spoken;
    // after a restart of the announcer neither is anything already spoken.
    s.forward("Alipay", &order1, 1_250).await;
    speaker.shutdown().await;
    let speaker = run(config).await;
    s.pay(300).await;
    let lines = wait_spoken(&out, 2).await;
    assert_eq!(lines, vec!["Wayfare到账12.50元", "Wayfare到账3.00元"]);
    // The count moves once the hook's command has exited, a moment after
    // it wrote the line: poll for it.
    for _ in 0..400 {
        if speaker.announced() >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(speaker.announced(), 1);
    speaker.shutdown().await;
    s.pos.shutdown().await;
}
