//! Protocol micro-benchmarks: handshake (both sides), frame seal/open,
//! receipt and instruction sign/verify.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use wayfare_protocol::certificate::{CertificateBody, TerminalCertificate};
use wayfare_protocol::handshake::{respond, PhoneHandshake};
use wayfare_protocol::keys::SigningKey;
use wayfare_protocol::messages::{PaymentRequest, SessionMessage, TerminalKind};
use wayfare_protocol::money::Currency;
use wayfare_protocol::receipt::{Receipt, ReceiptBody};
use wayfare_protocol::PROTOCOL_VERSION;

fn fixture() -> (SigningKey, SigningKey, TerminalCertificate) {
    let operator = SigningKey::generate().unwrap();
    let terminal = SigningKey::generate().unwrap();
    let cert = TerminalCertificate::issue(
        &operator,
        &CertificateBody {
            version: PROTOCOL_VERSION,
            terminal_id: "term_0123456789abcdef01234567".into(),
            merchant_id: "mer_0123456789abcdef01234567".into(),
            merchant_name: "Tram line T1".into(),
            kind: TerminalKind::Tram,
            terminal_key: terminal.public_key(),
            not_before_ms: 0,
            not_after_ms: u64::MAX / 2,
            transit: None,
        },
    )
    .unwrap();
    (operator, terminal, cert)
}

fn request() -> SessionMessage {
    SessionMessage::PaymentRequest(PaymentRequest {
        order_id: "ord_0123456789abcdef01234567".into(),
        merchant_id: "mer_0123456789abcdef01234567".into(),
        terminal_id: "term_0123456789abcdef01234567".into(),
        merchant_name: "Tram line T1".into(),
        amount_minor: 200,
        currency: Currency::parse("CNY").unwrap(),
        description: "Flat fare".into(),
        fare: None,
        created_at_ms: 1,
        expires_at_ms: 2,
    })
}

fn handshake(c: &mut Criterion) {
    let (operator, terminal, cert) = fixture();
    let op_pub = operator.public_key();
    c.bench_function(
        "handshake/full (phone start + terminal respond + phone finish)",
        |b| {
            b.iter(|| {
                let (phone, hello) = PhoneHandshake::start().unwrap();
                let (reply, _t) = respond(&hello, &terminal, &cert).unwrap();
                phone.finish(&reply, &op_pub, None, 10).unwrap()
            })
        },
    );
    c.bench_function("handshake/terminal respond", |b| {
        let (_, hello) = PhoneHandshake::start().unwrap();
        b.iter(|| respond(&hello, &terminal, &cert).unwrap())
    });
}

fn frames(c: &mut Criterion) {
    let (operator, terminal, cert) = fixture();
    let (phone, hello) = PhoneHandshake::start().unwrap();
    let (reply, mut term) = respond(&hello, &terminal, &cert).unwrap();
    let mut phone_ch = phone
        .finish(&reply, &operator.public_key(), None, 10)
        .unwrap()
        .channel;
    let msg = request();
    c.bench_function("frame/seal+open payment request", |b| {
        b.iter(|| {
            let sealed = term.seal(&msg).unwrap();
            phone_ch.open(&sealed).unwrap()
        })
    });
}

fn signatures(c: &mut Criterion) {
    let server = SigningKey::generate().unwrap();
    let body = ReceiptBody {
        version: 1,
        payment_id: "pay_0123456789abcdef01234567".into(),
        order_id: "ord_0123456789abcdef01234567".into(),
        payer: "rider-7f3a".into(),
        merchant_id: "mer_0123456789abcdef01234567".into(),
        terminal_id: "term_0123456789abcdef01234567".into(),
        amount_minor: 200,
        currency: Currency::parse("CNY").unwrap(),
        completed_at_ms: 5,
        fare: None,
        points_spent: 0,
        points_value_minor: 0,
    };
    c.bench_function("receipt/sign", |b| {
        b.iter(|| Receipt::issue(&server, &body).unwrap())
    });
    let receipt = Receipt::issue(&server, &body).unwrap();
    let pk = server.public_key();
    c.bench_function("receipt/verify", |b| {
        b.iter(|| receipt.verify(&pk).unwrap())
    });
}

criterion_group!(benches, handshake, frames, signatures);
criterion_main!(benches);
