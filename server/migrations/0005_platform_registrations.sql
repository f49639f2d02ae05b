-- P3.5: with the rider's consent an access terminal registers the rider
-- with its merchant's platform, under the rider's per-merchant pseudonym.
-- The rider lists and revokes registrations; a revoked one is kept (with
-- revoked_at_ms) so that its consent can never register the rider again.
-- Plain SQL that runs unchanged on SQLite and PostgreSQL 15.

CREATE TABLE platform_registrations (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    pseudonym TEXT NOT NULL,
    terminal_id TEXT NOT NULL REFERENCES terminals (id),
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
-- At most one live registration per rider and merchant: registering again
-- (another terminal, another visit) answers the live one.
CREATE UNIQUE INDEX platform_registrations_live
    ON platform_registrations (account_id, merchant_id) WHERE revoked_at_ms IS NULL;
CREATE INDEX platform_registrations_account ON platform_registrations (account_id, created_at_ms);

-- Every consent accepted, by its id: a consent registers at most once, and
-- presenting it again answers the registration it made while that is live
-- (a terminal retrying) and is refused once the rider revoked it.
CREATE TABLE registration_consents (
    consent_id TEXT PRIMARY KEY,
    registration_id TEXT NOT NULL REFERENCES platform_registrations (id),
    device_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
