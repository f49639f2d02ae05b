//! Anonymous connections cannot block a terminal: a connection holds the
//! terminal (one phone at a time, P3.7) only once its handshake is
//! complete, the handshake and idle sessions have deadlines, and each peer
//! has a few places in the handshake at most.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::net::{Ipv4Addr, SocketAddr};

use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use wayfare_protocol::framing::encode_frame;
use wayfare_protocol::messages::{
    DoneOutcome, ErrorCode, HandshakeMessage, SessionMessage, TerminalKind,
};

/// A TCP connection to `to` from the loopback address `from` (all of
/// 127.0.0.0/8 is loopback), so tests can play several peers.
async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// The first bytes of a frame that announces 100 bytes and never sends them.
fn half_a_frame() -> Vec<u8> {
    encode_frame(&[7u8; 100]).unwrap()[..10].to_vec()
}

#[tokio::test]
async fn fifty_idle_connections_do_not_keep_a_phone_from_paying() {
    let f = Fixture::new(TerminalKind::Tram).await;
    let stub = f.stub().await;
    let mut config = f.tram_config(&stub.url);
    // The idle connections outlive the test unless something drops them.
    config.timeouts.handshake_ms = 120_000;
    let t = wayfare_terminal::start(config).await.unwrap();

    // 25 peers, two connections each: one silent, one stopped mid-frame.
    let mut idle = Vec::new();
    for i in 2..27u8 {
        let from = Ipv4Addr::new(127, 0, 0, i);
        idle.push(connect_from(from, t.phone_addr()).await);
        let mut half = connect_from(from, t.phone_addr()).await;
        half.write_all(&half_a_frame()).await.unwrap();
        idle.push(half);
    }
    assert_eq!(idle.len(), 50);
    assert!(!t.status().busy);

    // A real phone (from 127.0.0.1) pays as if nobody else were there.
    let mut phone = f.phone(t.phone_addr()).await;
    let req = phone.expect_request().await;
    assert_eq!(
        pay_with_receipt(&mut phone, &f, &req).await,
        DoneOutcome::Accepted
    );
    assert_eq!(t.status().linkage_activations, 1);
    assert_eq!(t.status().sessions_served, 1);
    drop(idle);
    t.shutdown().await;
}

#[tokio::test]
async fn a_peer_over_its_handshake_cap_is_refused() {
    let f = Fixture::new(TerminalKind::Tram).await;
    let mut config = f.tram_config(UNREACHABLE);
    config.timeouts.handshake_ms = 120_000;
    config.connections.max_handshakes_per_peer = 2;
    let t = wayfare_terminal::start(config).await.unwrap();
    let crowded = Ipv4Addr::new(127, 0, 0, 1);

    // Two silent connections fill this peer's places; the third is closed
    // at once, unanswered.
    let first = connect_from(crowded, t.phone_addr()).await;
    let _second = connect_from(crowded, t.phone_addr()).await;
    let mut third = RawPhone {
        stream: connect_from(crowded, t.phone_addr()).await,
        channel: None,
    };
    third.expect_closed().await;

    // Another peer is not affected and takes the terminal.
    let mut other = RawPhone {
        stream: connect_from(Ipv4Addr::new(127, 0, 0, 2), t.phone_addr()).await,
        channel: None,
    };
    other.send_hello().await;
    assert!(matches!(
        other.read_handshake().await,
        Some(HandshakeMessage::TerminalHello(_))
    ));

    // The first connection was kept: it completes its handshake and hears
    // that the terminal is busy.
    let mut first = RawPhone {
        stream: first,
        channel: None,
    };
    first.send_hello().await;
    assert!(matches!(
        first.read_handshake().await,
        Some(HandshakeMessage::Busy { .. })
    ));
    first.expect_closed().await;
    drop(other);
    t.shutdown().await;
}

#[tokio::test]
async fn idle_connections_and_idle_sessions_are_dropped_at_their_deadlines() {
    let f = Fixture::new(TerminalKind::Pos).await;
    let mut config = f.pos_config(UNREACHABLE);
    config.timeouts.handshake_ms = 2_000;
    config.timeouts.sale_wait_ms = 500;
    let t = wayfare_terminal::start(config).await.unwrap();

    // Connections that never finish the handshake do not hold the terminal…
    let silent = RawPhone::connect(t.phone_addr()).await;
    let mut half = RawPhone::connect(t.phone_addr()).await;
    half.send_raw(&half_a_frame()).await;
    let mut phone = f.phone(t.phone_addr()).await;
    assert!(t.status().busy);

    // …and the phone, idle with no sale entered, is let go after
    // `sale_wait_ms`, freeing the terminal.
    match phone.recv().await {
        Some(SessionMessage::Error(e)) => assert_eq!(e.code, ErrorCode::Expired),
        other => panic!("expected the Expired error, got {other:?}"),
    }
    phone.expect_closed().await;
    eventually("terminal free", || !t.status().busy).await;

    // The unfinished handshakes are dropped after `handshake_ms`.
    let mut silent = silent;
    silent.expect_closed().await;
    half.expect_closed().await;
    assert_eq!(t.status().sessions_served, 1);
    t.shutdown().await;
}
