-- The device's local store. Every answer lands here (fsynced) before the UI moves on; the
-- `answers` table doubles as the outbox: rows with synced = 0 and no rejection wait for push.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE projects (
    id     INTEGER PRIMARY KEY,
    name   TEXT NOT NULL,
    schema TEXT NOT NULL
);

-- state: open | answered | skipped
CREATE TABLE tasks (
    id         INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    data       TEXT NOT NULL,
    prediction TEXT,
    expires_at TEXT NOT NULL,
    leased_at  TEXT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'answered', 'skipped'))
);
CREATE INDEX tasks_open ON tasks(project_id, state, leased_at, id);

CREATE TABLE answers (
    local_seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    task_id     INTEGER NOT NULL REFERENCES tasks(id),
    revision    INTEGER NOT NULL,
    labels      TEXT NOT NULL,
    skipped     INTEGER NOT NULL,
    answered_at TEXT NOT NULL,
    synced      INTEGER NOT NULL DEFAULT 0,
    rejected    TEXT
);
CREATE INDEX answers_pending ON answers(synced, local_seq) WHERE synced = 0;
CREATE INDEX answers_task ON answers(task_id, revision);
