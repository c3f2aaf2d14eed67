-- Models in the loop: ML backends (Label Studio's protocol), what they and the built-in model
-- predicted, and the built-in model's training runs.
CREATE TABLE ml_backends (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    healthy BOOLEAN,               -- NULL until first checked
    checked_at TIMESTAMPTZ,
    last_error TEXT,
    model_version TEXT,
    set_up BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX ml_backends_project ON ml_backends(project_id);

-- A backend's own webhook (answers sent to its /webhook): removed with it.
ALTER TABLE webhooks ADD COLUMN ml_backend_id BIGINT REFERENCES ml_backends(id) ON DELETE CASCADE;

-- One prediction per task and source ('ml:<backend id>' or 'builtin'), beside the uploaded
-- ones. `evaluated`: a built-in prediction of a task completed since, already scored.
CREATE TABLE model_predictions (
    task_id BIGINT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    labels JSONB NOT NULL,
    score DOUBLE PRECISION,
    model_version TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    evaluated BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (task_id, source)
);
CREATE INDEX model_predictions_source ON model_predictions(source, task_id);

-- Tasks a backend could not predict: retried with backoff, given up after a few attempts.
CREATE TABLE prediction_failures (
    backend_id BIGINT NOT NULL REFERENCES ml_backends(id) ON DELETE CASCADE,
    task_id BIGINT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    retry_at TIMESTAMPTZ,          -- NULL once given up
    PRIMARY KEY (backend_id, task_id)
);

-- The latest model prediction's score: with the uploaded prediction's, how certain the task's
-- best guess is, for the uncertainty-first queue: the least certain tenth first (none counts
-- as certain), then the usual order within a tenth — which keeps the tasks leased together
-- near each other, so a push writes few pages.
ALTER TABLE tasks ADD COLUMN model_certainty DOUBLE PRECISION;
CREATE INDEX tasks_uncertain ON tasks(project_id, priority DESC,
        (floor(COALESCE(model_certainty, (prediction->>'score')::float8, 1) * 10)),
        answer_count DESC, id)
    WHERE NOT complete AND cancelled_at IS NULL;

-- Each training run of a project's built-in model, scored on tasks completed since the run
-- before (each predicted by a model that never trained on it).
CREATE TABLE model_runs (
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    trained_at TIMESTAMPTZ NOT NULL,
    trained_on BIGINT NOT NULL,
    seconds DOUBLE PRECISION NOT NULL,
    held_out BIGINT NOT NULL,
    correct BIGINT NOT NULL,
    PRIMARY KEY (project_id, version)
);
