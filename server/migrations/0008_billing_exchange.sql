-- Billing out, reconciliation back (issue 12.4). A closed day's billing
-- records are frozen in billing_exports (the exact signed body) and
-- delivered to the external billing system by a worker that retries until
-- a 2xx answer, like outbound_messages. One export per (day, offset): the
-- billing system dedupes on delivery_id. The reconciliation files that
-- system sends back are compared with the ledger and the result is kept.
CREATE TABLE billing_exports (
    id TEXT PRIMARY KEY,
    date TEXT NOT NULL,
    utc_offset_minutes BIGINT NOT NULL,
    delivery_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    record_count BIGINT NOT NULL,
    payment_count BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT NOT NULL,
    delivered_at_ms BIGINT,
    last_error TEXT,
    UNIQUE (date, utc_offset_minutes)
);
CREATE INDEX billing_exports_due ON billing_exports (delivered_at_ms, next_attempt_at_ms);

CREATE TABLE billing_reconciliations (
    id TEXT PRIMARY KEY,
    date TEXT NOT NULL,
    utc_offset_minutes BIGINT NOT NULL,
    merchant_id TEXT,
    source_format TEXT NOT NULL,
    line_count BIGINT NOT NULL,
    matched BIGINT NOT NULL,
    missing_count BIGINT NOT NULL,
    mismatched_count BIGINT NOT NULL,
    unknown_count BIGINT NOT NULL,
    result TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX billing_reconciliations_date ON billing_reconciliations (date, created_at_ms);
