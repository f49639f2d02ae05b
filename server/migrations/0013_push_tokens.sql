-- Push to a closed app (issue 13.4, docs/decisions/0019). One push token
-- per device (a new registration replaces it), and a token belongs to one
-- device only: when an app reinstalled under a new device key registers a
-- token another device had, that row goes, so a phone never receives the
-- pushes of an account it no longer holds.
CREATE TABLE push_tokens (
    device_id TEXT PRIMARY KEY REFERENCES devices (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    platform TEXT NOT NULL,
    token TEXT NOT NULL,
    locale TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (platform, token)
);
CREATE INDEX push_tokens_account ON push_tokens (account_id);

-- One push per (outbound message, device), made when the outbox worker
-- takes the message: its own attempts and backoff, so a device whose
-- provider is down never makes another device's push go out twice. The
-- token is read at send time (device_id, no copy of it here); a delivery
-- whose token was removed or refused is closed with last_error set.
CREATE TABLE push_deliveries (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES outbound_messages (id),
    device_id TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL,
    delivered_at_ms BIGINT,
    last_error TEXT,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX push_deliveries_due ON push_deliveries (delivered_at_ms, next_attempt_at_ms);
