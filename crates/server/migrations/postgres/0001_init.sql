-- Tessera server schema, PostgreSQL backend (any number of stateless replicas on one database).
CREATE TABLE users (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'requester', 'annotator')),
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE projects (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    schema      JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE batches (
    id          BIGSERIAL PRIMARY KEY,
    project_id  BIGINT NOT NULL REFERENCES projects(id),
    task_count  BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE tasks (
    id               BIGSERIAL PRIMARY KEY,
    project_id       BIGINT NOT NULL REFERENCES projects(id),
    batch_id         BIGINT NOT NULL REFERENCES batches(id),
    external_id      TEXT,
    data             JSONB NOT NULL,
    prediction       JSONB,
    answer_count     INTEGER NOT NULL DEFAULT 0,
    consensus        JSONB,
    confidence       DOUBLE PRECISION,
    consensus_method TEXT,
    complete         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX tasks_external_id ON tasks(project_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX tasks_open ON tasks(project_id, complete, answer_count, id);

CREATE TABLE leases (
    task_id      BIGINT NOT NULL REFERENCES tasks(id),
    annotator_id BIGINT NOT NULL REFERENCES users(id),
    state        TEXT NOT NULL CHECK (state IN ('active', 'answered', 'skipped')),
    expires_at   TIMESTAMPTZ NOT NULL,
    leased_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (task_id, annotator_id)
);
CREATE INDEX leases_annotator ON leases(annotator_id, state, expires_at);

CREATE TABLE answers (
    seq          BIGSERIAL PRIMARY KEY,
    id           UUID NOT NULL UNIQUE,
    task_id      BIGINT NOT NULL REFERENCES tasks(id),
    annotator_id BIGINT NOT NULL REFERENCES users(id),
    revision     INTEGER NOT NULL,
    labels       JSONB NOT NULL,
    skipped      BOOLEAN NOT NULL,
    answered_at  TIMESTAMPTZ NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX answers_task ON answers(task_id, annotator_id, revision);

-- Each annotator's change feed. Writers of one annotator's changes hold that annotator's
-- advisory lock until commit, so within a feed, sequence order is commit order.
CREATE TABLE changes (
    seq          BIGSERIAL PRIMARY KEY,
    annotator_id BIGINT NOT NULL REFERENCES users(id),
    kind         TEXT NOT NULL CHECK (kind IN ('lease', 'answer')),
    task_id      BIGINT NOT NULL,
    answer_id    UUID
);
CREATE INDEX changes_annotator ON changes(annotator_id, seq);
