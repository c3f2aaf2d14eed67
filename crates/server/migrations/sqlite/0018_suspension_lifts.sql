-- A requester lifting an annotator's suspension keeps the gold record it was lifted at: from
-- then on only gold answered after it counts towards a new suspension.
CREATE TABLE suspension_lifts (
    project_id     INTEGER NOT NULL REFERENCES projects(id),
    user_id        INTEGER NOT NULL REFERENCES users(id),
    gold_answered  INTEGER NOT NULL,
    gold_correct   INTEGER NOT NULL,
    lifted_by      INTEGER REFERENCES users(id),
    lifted_at      TEXT NOT NULL,
    PRIMARY KEY (project_id, user_id)
) WITHOUT ROWID;

-- When each token last signed in (to within the server's sign-in cache, a minute).
ALTER TABLE users ADD COLUMN last_used_at TEXT;
