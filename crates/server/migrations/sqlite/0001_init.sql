-- Tessera server schema, SQLite backend. Timestamps are RFC 3339 UTC text with microseconds,
-- so they compare correctly as strings.
CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'requester', 'annotator')),
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE projects (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    schema      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE batches (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects(id),
    task_count  INTEGER NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE tasks (
    id               INTEGER PRIMARY KEY,
    project_id       INTEGER NOT NULL REFERENCES projects(id),
    batch_id         INTEGER NOT NULL REFERENCES batches(id),
    external_id      TEXT,
    data             TEXT NOT NULL,
    prediction       TEXT,
    answer_count     INTEGER NOT NULL DEFAULT 0,
    consensus        TEXT,
    confidence       REAL,
    consensus_method TEXT,
    complete         INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL
);
CREATE UNIQUE INDEX tasks_external_id ON tasks(project_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX tasks_open ON tasks(project_id, complete, answer_count, id);

-- One row per (task, annotator) ever leased. state: active | answered | skipped.
-- An active lease past expires_at no longer holds its slot; a late answer still counts.
CREATE TABLE leases (
    task_id      INTEGER NOT NULL REFERENCES tasks(id),
    annotator_id INTEGER NOT NULL REFERENCES users(id),
    state        TEXT NOT NULL CHECK (state IN ('active', 'answered', 'skipped')),
    expires_at   TEXT NOT NULL,
    leased_at    TEXT NOT NULL,
    PRIMARY KEY (task_id, annotator_id)
) WITHOUT ROWID;
CREATE INDEX leases_annotator ON leases(annotator_id, state, expires_at);

-- Every answer and revision ever pushed; the highest revision per (task, annotator) is current.
CREATE TABLE answers (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    task_id      INTEGER NOT NULL REFERENCES tasks(id),
    annotator_id INTEGER NOT NULL REFERENCES users(id),
    revision     INTEGER NOT NULL,
    labels       TEXT NOT NULL,
    skipped      INTEGER NOT NULL,
    answered_at  TEXT NOT NULL,
    received_at  TEXT NOT NULL
);
CREATE INDEX answers_task ON answers(task_id, annotator_id, revision);

-- Each annotator's change feed; seq is the server-assigned order devices sync by.
CREATE TABLE changes (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    annotator_id INTEGER NOT NULL REFERENCES users(id),
    kind         TEXT NOT NULL CHECK (kind IN ('lease', 'answer')),
    task_id      INTEGER NOT NULL,
    answer_id    TEXT
);
CREATE INDEX changes_annotator ON changes(annotator_id, seq);
