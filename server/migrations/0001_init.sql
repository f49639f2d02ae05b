-- Wayfare control-center schema. Plain SQL that runs unchanged on SQLite and
-- PostgreSQL 15: TEXT ids, BIGINT money (minor units), BIGINT Unix-ms times.

-- Every wallet, merchant and funding account. balance_minor always equals the
-- sum of the account's ledger entries (checked by GET /v1/ledger/check).
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    display_name TEXT NOT NULL,
    handle TEXT UNIQUE,
    phone_number TEXT,
    currency TEXT NOT NULL,
    balance_minor BIGINT NOT NULL DEFAULT 0,
    points BIGINT NOT NULL DEFAULT 0,
    entry_seq BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL
);

-- Phones: each holds an Ed25519 key that signs requests and instructions.
CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    public_key TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE merchants (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL UNIQUE REFERENCES accounts (id),
    name TEXT NOT NULL,
    currency TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- Access terminals. event_seq and report_seq are per-terminal counters bumped
-- inside the transaction that adds an event or a report.
CREATE TABLE terminals (
    id TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    kind TEXT NOT NULL,
    public_key TEXT NOT NULL,
    label TEXT,
    location_json TEXT,
    not_before_ms BIGINT NOT NULL,
    not_after_ms BIGINT NOT NULL,
    event_seq BIGINT NOT NULL DEFAULT 0,
    report_seq BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL
);

-- One row per completed payment. An idempotency key is used once and an
-- order is paid once per terminal.
CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    instruction_digest TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    device_id TEXT NOT NULL REFERENCES devices (id),
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    terminal_id TEXT NOT NULL REFERENCES terminals (id),
    order_id TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    receipt TEXT NOT NULL,
    balance_after_minor BIGINT NOT NULL,
    points_awarded BIGINT NOT NULL,
    completed_at_ms BIGINT NOT NULL,
    UNIQUE (terminal_id, order_id)
);

-- Sandbox top-ups; reference makes a top-up idempotent.
CREATE TABLE top_ups (
    id TEXT PRIMARY KEY,
    reference TEXT UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- Double-entry ledger: the entries of one movement sum to zero.
CREATE TABLE ledger_entries (
    id TEXT PRIMARY KEY,
    movement_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    account_seq BIGINT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    balance_after_minor BIGINT NOT NULL,
    payment_id TEXT REFERENCES payments (id),
    description TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (account_id, account_seq)
);
CREATE INDEX ledger_entries_movement ON ledger_entries (movement_id);

-- Transactional outbox of events pushed to terminals over SSE.
CREATE TABLE terminal_events (
    terminal_id TEXT NOT NULL REFERENCES terminals (id),
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    payment_id TEXT NOT NULL REFERENCES payments (id),
    data TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (terminal_id, seq)
);

-- Reports uploaded by terminals, stored once per report_id.
CREATE TABLE terminal_reports (
    terminal_id TEXT NOT NULL REFERENCES terminals (id),
    report_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    order_id TEXT NOT NULL,
    payment_id TEXT,
    amount_minor BIGINT,
    currency TEXT,
    fare_json TEXT,
    at_ms BIGINT NOT NULL,
    detail TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    PRIMARY KEY (terminal_id, report_id)
);

-- Nonces of signed requests, kept for the clock-skew window (replay guard).
CREATE TABLE request_nonces (
    key_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    PRIMARY KEY (key_id, nonce)
);
CREATE INDEX request_nonces_expiry ON request_nonces (expires_at_ms);
