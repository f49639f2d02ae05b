-- Every way money comes in ends in one top_ups row: which channel brought
-- it (sandbox, kiosk, provider) and which account it left.
ALTER TABLE top_ups ADD COLUMN channel TEXT NOT NULL DEFAULT 'sandbox';
ALTER TABLE top_ups ADD COLUMN source_account_id TEXT;
