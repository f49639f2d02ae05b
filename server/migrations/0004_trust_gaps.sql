-- Trust gaps (issue 8): invitation secrets and the failed-attempt limiter,
-- and idempotency keys scoped per account.
-- Plain SQL that runs unchanged on SQLite and PostgreSQL 15.

-- The QR payload of an invitation carries a long random secret (256 bits);
-- only its SHA-256 (hex) is stored. Invitations made before this migration
-- have none and are accepted by their short code only.
ALTER TABLE guardian_invitations ADD COLUMN secret_hash TEXT;
CREATE UNIQUE INDEX guardian_invitations_secret ON guardian_invitations (secret_hash);
ALTER TABLE merchant_invitations ADD COLUMN secret_hash TEXT;
CREATE UNIQUE INDEX merchant_invitations_secret ON merchant_invitations (secret_hash);

-- One row per invitation accept attempt that failed (or is still running):
-- the limiter counts the rows of an account, of a device and of everybody
-- within a sliding window. Kept in the database so that the limit holds
-- across restarts and across server nodes sharing one PostgreSQL; rows
-- older than the longest window are pruned.
CREATE TABLE invitation_attempts (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX invitation_attempts_time ON invitation_attempts (at_ms);
CREATE INDEX invitation_attempts_account ON invitation_attempts (account_id, at_ms);
CREATE INDEX invitation_attempts_device ON invitation_attempts (device_id, at_ms);

-- Idempotency keys belong to an account: a key is looked up only within
-- the paying account, and the server checks that it is the derivation of
-- (account, terminal, order). The old table-wide UNIQUE (idempotency_key)
-- stays (dropping it needs a table rebuild on SQLite); since a derived key
-- hashes the account id, it can no longer collide across accounts.
CREATE UNIQUE INDEX payments_account_idempotency
    ON payments (account_id, idempotency_key);
