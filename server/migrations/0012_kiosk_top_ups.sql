-- Counter and kiosk top-ups (issue 12): a top_up terminal takes cash and
-- offers it to a rider's phone; the rider's claim moves it from the
-- terminal's cash float to the rider's wallet, once per (terminal, order).

-- One cash-float account per top_up terminal, created on its first top-up.
-- Its balance goes negative by the cash in the drawer that the operator
-- owes to riders' wallets.
CREATE TABLE kiosk_floats (
    terminal_id TEXT PRIMARY KEY REFERENCES terminals (id),
    account_id TEXT NOT NULL UNIQUE REFERENCES accounts (id),
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    currency TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- One row per credited offer, with the signed receipt answered to every
-- replay. The top_ups row (reference kiosk:<terminal>:<order>) and its
-- ledger movement are written in the same transaction.
CREATE TABLE kiosk_top_ups (
    top_up_id TEXT PRIMARY KEY REFERENCES top_ups (id),
    terminal_id TEXT NOT NULL REFERENCES terminals (id),
    order_id TEXT NOT NULL,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    device_id TEXT NOT NULL REFERENCES devices (id),
    float_account_id TEXT NOT NULL REFERENCES accounts (id),
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    receipt TEXT NOT NULL,
    offer_expires_at_ms BIGINT NOT NULL,
    completed_at_ms BIGINT NOT NULL,
    UNIQUE (terminal_id, order_id)
);
CREATE INDEX kiosk_top_ups_completed ON kiosk_top_ups (completed_at_ms);
