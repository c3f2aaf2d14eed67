-- A requester lifting an annotator's suspension keeps the gold record it was lifted at: from
-- then on only gold answered after it counts towards a new suspension.
CREATE TABLE suspension_lifts (
    project_id     BIGINT NOT NULL REFERENCES projects(id),
    user_id        BIGINT NOT NULL REFERENCES users(id),
    gold_answered  BIGINT NOT NULL,
    gold_correct   BIGINT NOT NULL,
    lifted_by      BIGINT REFERENCES users(id),
    lifted_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project_id, user_id)
);

-- When each token last signed in (to within the server's sign-in cache, a minute).
ALTER TABLE users ADD COLUMN last_used_at TIMESTAMPTZ;
