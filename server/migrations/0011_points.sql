-- Loyalty points can be spent (P5). A merchant's points rate: what one point
-- is worth there in minor units (no row, or 0: the merchant takes no
-- points) and the largest share of a payment points may cover (basis
-- points, 10000 = all of it).
CREATE TABLE points_rates (
    merchant_id TEXT PRIMARY KEY REFERENCES merchants (id),
    minor_per_point BIGINT NOT NULL,
    max_share_bps BIGINT NOT NULL DEFAULT 10000,
    updated_at_ms BIGINT NOT NULL
);

-- What a payment took in points and what they paid (minor units), and how
-- much of both refunds have returned so far.
ALTER TABLE payments ADD COLUMN points_spent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN points_value_minor BIGINT NOT NULL DEFAULT 0;

-- The points ledger, double-entry like ledger_entries: every movement of
-- points (earned, spent, taken back or returned by a refund) is two or more
-- entries summing to zero, one side the operator's loyalty account of the
-- currency. accounts.points always equals the sum of the account's entries
-- (checked by GET /v1/ledger/check).
CREATE TABLE points_entries (
    id TEXT PRIMARY KEY,
    movement_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    points BIGINT NOT NULL,
    points_after BIGINT NOT NULL,
    payment_id TEXT,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX points_entries_account ON points_entries (account_id);
CREATE INDEX points_entries_payment ON points_entries (payment_id);

-- Points earned before this ledger existed get an opening entry against the
-- loyalty account of their currency, so the check holds from the start.
INSERT INTO accounts (id, kind, display_name, currency, created_at_ms)
SELECT 'acc_loyalty_' || LOWER(currency), 'loyalty', 'Loyalty (' || currency || ')', currency, 0
FROM accounts WHERE points <> 0 AND kind <> 'loyalty'
GROUP BY currency;

INSERT INTO points_entries (id, movement_id, kind, account_id, points, points_after, created_at_ms)
SELECT 'pte_opening_' || id, 'opening', 'opening', id, points, points, 0
FROM accounts WHERE points <> 0 AND kind <> 'loyalty';

INSERT INTO points_entries (id, movement_id, kind, account_id, points, points_after, created_at_ms)
SELECT 'pte_opening_acc_loyalty_' || LOWER(currency), 'opening', 'opening',
       'acc_loyalty_' || LOWER(currency), -SUM(points), -SUM(points), 0
FROM accounts WHERE points <> 0 AND kind <> 'loyalty'
GROUP BY currency;

UPDATE accounts SET points = (
    SELECT COALESCE(SUM(e.points), 0) FROM points_entries e WHERE e.account_id = accounts.id
) WHERE kind = 'loyalty';
