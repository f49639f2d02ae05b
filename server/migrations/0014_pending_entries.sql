-- Postings to the accounts every payment touches (a merchant's credit, the
-- loyalty account's side of earned points) are appended here inside the
-- payment's transaction instead of updating the account's row, so
-- concurrent payments of one merchant never wait for each other's row lock
-- (decision 0020). The ledger's settler folds them into ledger_entries /
-- points_entries and the account's balance in batches; a covered debit of
-- such an account (a refund) folds first, in its own transaction. Until
-- folded, a pending entry counts in the account's balance as read by the
-- API and in GET /v1/ledger/check's sums.
CREATE TABLE pending_entries (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    -- 'money' (amount_minor, description) or 'points' (points).
    ledger TEXT NOT NULL,
    movement_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount_minor BIGINT NOT NULL DEFAULT 0,
    points BIGINT NOT NULL DEFAULT 0,
    currency TEXT NOT NULL,
    payment_id TEXT,
    description TEXT NOT NULL DEFAULT '',
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX pending_entries_account ON pending_entries (account_id, created_at_ms);

-- Payments no longer create the loyalty account of their currency on the
-- way (a statement per payment); merchants do when they are created, and
-- this creates the accounts of the merchants from before.
INSERT INTO accounts (id, kind, display_name, currency, created_at_ms)
SELECT 'acc_loyalty_' || LOWER(currency), 'loyalty', 'Loyalty (' || currency || ')', currency, 0
FROM merchants WHERE true GROUP BY currency
ON CONFLICT (id) DO NOTHING;
