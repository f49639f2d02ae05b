//! The gate's compute per express tap (issue 9.2; target ≤ 5 ms on these
//! cores, 2.5% of Suica's 200 ms): checking the allowance against the
//! server key and the deny list, building and encoding the offer, checking
//! the phone's signed tap. Also prints what one tap costs on the wire.
//!
//! `cargo bench -p wayfare-terminal --bench express`
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashSet;

use criterion::{criterion_group, criterion_main, Criterion};
use wayfare_protocol::apdu::{CommandApdu, ReaderLink};
use wayfare_protocol::express::{
    Allowance, AllowanceBody, ExpressOffer, ExpressTap, ExpressTapBody, CHALLENGE_LEN,
    EXPRESS_VERSION,
};
use wayfare_protocol::keys::{random_bytes, SigningKey};
use wayfare_terminal::express::verify::{check_allowance, check_tap, DenySnapshot};

const NOW: u64 = 1_800_000_000_000;

struct Scene {
    server: SigningKey,
    tap_key: SigningKey,
    allowance: Vec<u8>,
    deny: DenySnapshot,
}

fn scene() -> Scene {
    let server = SigningKey::generate().unwrap();
    let tap_key = SigningKey::generate().unwrap();
    let body = AllowanceBody {
        version: EXPRESS_VERSION,
        allowance_id: "alw_0123456789abcdef01234567".into(),
        tap_key: tap_key.public_key(),
        per_tap_max_minor: 500,
        total_max_minor: 1_500,
        currency: "CNY".into(),
        sequence: 3,
        issued_at_ms: NOW - 60_000,
        expires_at_ms: NOW + 86_400_000,
    };
    let allowance = Allowance::issue(&server, &body)
        .unwrap()
        .as_bytes()
        .to_vec();
    // A deny list of 10 000 revoked allowances.
    let deny = DenySnapshot {
        version: 9,
        issued_at_ms: NOW - 30_000,
        allowance_ids: (0..10_000)
            .map(|i| format!("alw_{i:024x}"))
            .collect::<HashSet<_>>(),
    };
    Scene {
        server,
        tap_key,
        allowance,
        deny,
    }
}

fn offer(challenge: Vec<u8>) -> ExpressOffer {
    ExpressOffer {
        terminal_id: "term_0123456789abcdef01234567".into(),
        merchant_name: "City Metro".into(),
        line: "T1".into(),
        station: "Harbour".into(),
        amount_minor: 300,
        currency: "CNY".into(),
        challenge,
        at_ms: NOW,
    }
}

/// What the phone answers (its cost is the phone's, not the gate's).
fn phone_tap(s: &Scene, o: &ExpressOffer) -> Vec<u8> {
    ExpressTap::sign(
        &s.tap_key,
        &ExpressTapBody {
            allowance_id: "alw_0123456789abcdef01234567".into(),
            counter: 7,
            terminal_id: o.terminal_id.clone(),
            amount_minor: o.amount_minor,
            challenge: o.challenge.clone(),
            spent_before_minor: 600,
        },
    )
    .unwrap()
    .as_bytes()
    .to_vec()
}

fn print_wire_cost(s: &Scene) {
    let select = CommandApdu::select_wayfare().encode().unwrap();
    let select_answer = s.allowance.len() + 2;
    let o = offer(vec![1; CHALLENGE_LEN]);
    let express = ReaderLink::express_command(&o.encode().unwrap()).unwrap();
    let tap_answer = phone_tap(s, &o).len() + 2;
    let total = select.len() + select_answer + express.len() + tap_answer;
    println!(
        "express tap on the wire: 2 round trips; SELECT {} B + answer {} B (allowance), \
         EXPRESS {} B (offer) + answer {} B (signed tap); total {} B",
        select.len(),
        select_answer,
        express.len(),
        tap_answer,
        total
    );
}

fn bench(c: &mut Criterion) {
    let s = scene();
    print_wire_cost(&s);
    let server_key = s.server.public_key();
    let challenge = vec![5u8; CHALLENGE_LEN];
    let tap = phone_tap(&s, &offer(challenge.clone()));
    c.bench_function("express tap: gate compute (allowance, offer, tap)", |b| {
        b.iter(|| {
            let body = check_allowance(
                &server_key,
                &s.deny,
                86_400_000,
                &s.allowance,
                300,
                "CNY",
                NOW,
            )
            .unwrap();
            // A fresh challenge per tap, as at the gate.
            let _fresh = random_bytes::<CHALLENGE_LEN>().unwrap();
            let o = offer(challenge.clone());
            let command = ReaderLink::express_command(&o.encode().unwrap()).unwrap();
            let checked = check_tap(&body, &o, &tap, Some(6)).unwrap();
            (command.len(), checked.counter)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
