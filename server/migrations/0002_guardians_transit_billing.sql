-- Guardians (P1), tap-in/tap-out (P3.6), alert delivery and billing (P1).
-- Plain SQL that runs unchanged on SQLite and PostgreSQL 15.

-- Per-account counter of events on the device stream (GET /v1/devices/me/events),
-- bumped inside the transaction that appends an event.
ALTER TABLE accounts ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0;

-- Settlement fee of a merchant in basis points (1/100 of a percent), and the
-- operator it settles under (a transit company, a mall...).
ALTER TABLE merchants ADD COLUMN fee_bps BIGINT NOT NULL DEFAULT 0;
ALTER TABLE merchants ADD COLUMN operator_name TEXT NOT NULL DEFAULT 'default';

-- A rider's invitation to a guardian: a short code (and a QR payload carrying
-- it), valid until expires_at_ms, usable once.
CREATE TABLE guardian_invitations (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    rider_account_id TEXT NOT NULL REFERENCES accounts (id),
    scope TEXT NOT NULL,
    shown_as TEXT NOT NULL,
    shown_value TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used_at_ms BIGINT,
    binding_id TEXT
);

-- A binding exists only after the guardian accepted the rider's invitation.
-- status: active, revoked (by the rider) or left (by the guardian).
CREATE TABLE guardian_bindings (
    id TEXT PRIMARY KEY,
    invitation_id TEXT NOT NULL REFERENCES guardian_invitations (id),
    rider_account_id TEXT NOT NULL REFERENCES accounts (id),
    guardian_account_id TEXT NOT NULL REFERENCES accounts (id),
    scope TEXT NOT NULL,
    shown_as TEXT NOT NULL,
    shown_value TEXT NOT NULL,
    status TEXT NOT NULL,
    daily_limit_minor BIGINT,
    limit_utc_offset_minutes BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL,
    ended_at_ms BIGINT
);
CREATE INDEX guardian_bindings_rider ON guardian_bindings (rider_account_id, status);
CREATE INDEX guardian_bindings_guardian ON guardian_bindings (guardian_account_id, status);
CREATE UNIQUE INDEX guardian_bindings_one_active
    ON guardian_bindings (rider_account_id, guardian_account_id) WHERE status = 'active';

-- One row per alert made for a guardian, written in the payment's transaction.
CREATE TABLE guardian_alerts (
    id TEXT PRIMARY KEY,
    binding_id TEXT NOT NULL REFERENCES guardian_bindings (id),
    guardian_account_id TEXT NOT NULL REFERENCES accounts (id),
    payment_id TEXT NOT NULL REFERENCES payments (id),
    event_seq BIGINT NOT NULL,
    data TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (binding_id, payment_id)
);
CREATE INDEX guardian_alerts_guardian ON guardian_alerts (guardian_account_id, created_at_ms);

-- Transactional outbox of events for an account's devices (guardian alerts
-- now, merchant prompts later), streamed over SSE with seq as the event id.
CREATE TABLE account_events (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, seq)
);

-- Transactional outbox of messages for the outbound gateway (SMS/push),
-- delivered by a worker that retries with backoff until delivered.
CREATE TABLE outbound_messages (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    data TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL,
    delivered_at_ms BIGINT,
    last_error TEXT,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX outbound_messages_due ON outbound_messages (delivered_at_ms, next_attempt_at_ms);

-- Tap-in tokens already paid for: a second payment naming the same token is
-- refused, whichever exit terminal it comes from.
CREATE TABLE used_tap_in_tokens (
    token_id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments (id),
    used_at_ms BIGINT NOT NULL
);

-- Extra facts of a payment used by alerts, settlements and reconciliation.
CREATE INDEX payments_completed ON payments (completed_at_ms);
CREATE INDEX payments_account_time ON payments (account_id, completed_at_ms);
