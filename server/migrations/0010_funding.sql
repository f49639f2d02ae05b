-- Over-the-air top-up (issue 12.2): a rider's request to add money through
-- a funding provider (the sandbox, a card or bank checkout). A pending
-- intent moves no money; the provider's signed callback confirms it, and
-- only then does one top_ups row and one ledger movement appear, from the
-- provider's clearing account. The provider's own reference is unique per
-- provider, so a replayed callback is one top-up.
CREATE TABLE funding_intents (
    reference TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    device_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    provider TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    checkout_url TEXT,
    provider_reference TEXT,
    top_up_id TEXT,
    failure_reason TEXT,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    completed_at_ms BIGINT,
    UNIQUE (account_id, idempotency_key),
    UNIQUE (provider, provider_reference)
);
CREATE INDEX funding_intents_status ON funding_intents (status, created_at_ms);
