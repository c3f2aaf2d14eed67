-- Project membership. A project with annotator (or reviewer) members is closed: only they may
-- lease its tasks. Reviewers may read its review queue and give verdicts, whatever their
-- token's role.
CREATE TABLE memberships (
    project_id  INTEGER NOT NULL REFERENCES projects(id),
    user_id     INTEGER NOT NULL REFERENCES users(id),
    role        TEXT NOT NULL CHECK (role IN ('annotator', 'reviewer')),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (project_id, user_id)
) WITHOUT ROWID;
