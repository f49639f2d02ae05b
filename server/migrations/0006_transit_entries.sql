-- Open transit entries (P3.6, incomplete journeys): an entry gate forwards
-- the rider's device-signed consent in its tap_in report; the entry stays
-- open until a tap-out payment uses its token. A second entry while one is
-- open, or a token that expires unused, charges the maximum fare once.
CREATE TABLE transit_entries (
    token_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    device_id TEXT NOT NULL REFERENCES devices (id),
    terminal_id TEXT NOT NULL REFERENCES terminals (id),
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    line TEXT NOT NULL,
    station TEXT NOT NULL,
    entered_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    maximum_fare_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    -- open | completed | charged
    state TEXT NOT NULL,
    payment_id TEXT,
    reason TEXT
);
CREATE INDEX transit_entries_open ON transit_entries (account_id, state);
CREATE INDEX transit_entries_expiry ON transit_entries (state, expires_at_ms);
