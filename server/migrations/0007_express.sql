-- The express tap (offline gate taps, issue 9): allowances the server signs
-- for a device's per-allowance tap key, and the taps terminals upload later.
-- A tap is charged exactly once: its key is (allowance_id, counter). What a
-- rider's balance could not cover stays in debt_minor until a top-up pays
-- it; meanwhile the device's allowances are revoked and no new one issued.
CREATE TABLE express_allowances (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    device_id TEXT NOT NULL REFERENCES devices (id),
    tap_key TEXT NOT NULL,
    per_tap_max_minor BIGINT NOT NULL,
    total_max_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    issued_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    -- Set when revoked (lost phone, express switched off, debt): on the
    -- deny list until it expires.
    revoked_at_ms BIGINT,
    revoked_reason TEXT,
    UNIQUE (device_id, sequence)
);
CREATE INDEX express_allowances_device ON express_allowances (device_id, expires_at_ms);
CREATE INDEX express_allowances_revoked ON express_allowances (revoked_at_ms, expires_at_ms);

CREATE TABLE express_taps (
    allowance_id TEXT NOT NULL REFERENCES express_allowances (id),
    counter BIGINT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    terminal_id TEXT NOT NULL REFERENCES terminals (id),
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    amount_minor BIGINT NOT NULL,
    charged_minor BIGINT NOT NULL,
    -- Still owed to the merchant; paid down by top-ups, oldest first.
    debt_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    payment_id TEXT,
    tapped_at_ms BIGINT NOT NULL,
    settled_at_ms BIGINT NOT NULL,
    tap TEXT NOT NULL,
    PRIMARY KEY (allowance_id, counter)
);
CREATE INDEX express_taps_account ON express_taps (account_id, settled_at_ms);
CREATE INDEX express_taps_debt ON express_taps (account_id, debt_minor);
