-- The device's own records (home/device.db): who is signed in now (meta: server, token,
-- session), and which token fingerprint names which user of which server, so a person's
-- store is found offline. People's work lives in their own stores, never here.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE accounts (
    token_key TEXT PRIMARY KEY,
    server    TEXT NOT NULL,
    user_id   INTEGER NOT NULL,
    name      TEXT NOT NULL
);
