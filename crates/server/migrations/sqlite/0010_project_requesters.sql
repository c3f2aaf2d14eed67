-- Requesters are project members too: a requester runs only the projects they are a
-- requester of (the one who creates a project becomes its first). Requester members do not
-- close a project to annotators. The table is rebuilt for the wider CHECK.
CREATE TABLE memberships_new (
    project_id  INTEGER NOT NULL REFERENCES projects(id),
    user_id     INTEGER NOT NULL REFERENCES users(id),
    role        TEXT NOT NULL CHECK (role IN ('annotator', 'reviewer', 'requester')),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (project_id, user_id)
) WITHOUT ROWID;
INSERT INTO memberships_new SELECT project_id, user_id, role, created_at FROM memberships;
DROP TABLE memberships;
ALTER TABLE memberships_new RENAME TO memberships;

-- Projects made before this kept no creator: every requester keeps the access they had.
INSERT OR IGNORE INTO memberships (project_id, user_id, role, created_at)
SELECT p.id, u.id, 'requester', p.created_at FROM projects p CROSS JOIN users u
WHERE u.role = 'requester';
