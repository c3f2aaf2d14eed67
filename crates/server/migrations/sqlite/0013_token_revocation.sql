-- A revoked token stops working at once on the replica that revoked it, within a minute on
-- the others (their token caches); the user and their work stay.
ALTER TABLE users ADD COLUMN revoked_at TEXT;
