-- Merchants (P4): owner and staff devices with permission scopes, staff
-- invitations, prompts (written in the payment's transaction), refunds and
-- notices forwarded from outside platforms.
-- Plain SQL that runs unchanged on SQLite and PostgreSQL 15.

-- Per merchant: the locale prompts are rendered in and the salt of the
-- opaque de-duplication keys (so a key reveals nothing about the order id).
CREATE TABLE merchant_profiles (
    merchant_id TEXT PRIMARY KEY REFERENCES merchants (id),
    locale TEXT NOT NULL,
    dedupe_salt TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- The devices (accounts) that manage a merchant. role: owner (the main
-- management terminal, every scope) or staff (a sub management terminal).
-- operations and content are comma-separated scope names.
-- status: active or revoked.
CREATE TABLE merchant_members (
    id TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    role TEXT NOT NULL,
    label TEXT NOT NULL,
    operations TEXT NOT NULL,
    content TEXT NOT NULL,
    status TEXT NOT NULL,
    invitation_id TEXT,
    created_at_ms BIGINT NOT NULL,
    ended_at_ms BIGINT
);
CREATE INDEX merchant_members_merchant ON merchant_members (merchant_id, status);
CREATE INDEX merchant_members_account ON merchant_members (account_id, status);
CREATE UNIQUE INDEX merchant_members_one_active
    ON merchant_members (merchant_id, account_id) WHERE status = 'active';

-- The owner's invitation of a staff device: a short code (and a QR payload
-- carrying it), valid until expires_at_ms, usable once, optionally only by
-- the account with invitee_handle.
CREATE TABLE merchant_invitations (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    created_by TEXT NOT NULL REFERENCES accounts (id),
    label TEXT NOT NULL,
    operations TEXT NOT NULL,
    content TEXT NOT NULL,
    invitee_handle TEXT,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used_at_ms BIGINT,
    member_id TEXT
);

-- How much of a payment was refunded so far; a refund is one conditional
-- update of this column, so concurrent refunds never exceed the amount.
ALTER TABLE payments ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0;

-- One row per refund; request_id is the client's idempotency key.
CREATE TABLE merchant_refunds (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    payment_id TEXT NOT NULL REFERENCES payments (id),
    member_id TEXT NOT NULL REFERENCES merchant_members (id),
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (merchant_id, request_id)
);
CREATE INDEX merchant_refunds_payment ON merchant_refunds (payment_id);

-- Payment notices captured by the owner's app from outside platforms
-- (P4 claim 1); request_id is the client's idempotency key.
CREATE TABLE merchant_external_notices (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    member_id TEXT NOT NULL REFERENCES merchant_members (id),
    data TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (merchant_id, request_id)
);

-- Every prompt written to a member's device event stream (account_events),
-- so that revoking a member can withdraw the prompts it has not read yet.
-- source: payment, refund or external; source_id the row it came from.
CREATE TABLE merchant_prompts (
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    event_seq BIGINT NOT NULL,
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, event_seq),
    UNIQUE (merchant_id, account_id, source, source_id)
);
CREATE INDEX merchant_prompts_member ON merchant_prompts (merchant_id, account_id);
