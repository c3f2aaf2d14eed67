-- Project membership. A project with annotator (or reviewer) members is closed: only they may
-- lease its tasks. Reviewers may read its review queue and give verdicts, whatever their
-- token's role.
CREATE TABLE memberships (
    project_id  BIGINT NOT NULL REFERENCES projects(id),
    user_id     BIGINT NOT NULL REFERENCES users(id),
    role        TEXT NOT NULL CHECK (role IN ('annotator', 'reviewer')),
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
