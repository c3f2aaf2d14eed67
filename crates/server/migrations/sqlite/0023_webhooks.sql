-- Webhook subscriptions and their durable outbox: each event is written, one delivery row per
-- subscribed webhook, in the same transaction as what caused it, and sent from there.
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    events TEXT NOT NULL,          -- JSON array of event names
    format TEXT NOT NULL,          -- 'standard' or 'label-studio'
    secret TEXT NOT NULL,          -- whsec_…: the receiver verifies signatures with it
    created_by INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX webhooks_project ON webhooks(project_id);

CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    webhook_id INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    message_id TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    data TEXT NOT NULL,            -- the event's data, task ids as stored
    created_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,          -- NULL once delivered or given up
    last_attempt_at TEXT,
    last_status INTEGER,
    last_error TEXT,
    delivered_at TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at)
    WHERE next_attempt_at IS NOT NULL;
CREATE INDEX webhook_deliveries_log ON webhook_deliveries(webhook_id, id);

-- An annotator's suspension announced once: per project, annotator and lift (the gold answers
-- they had when it was last lifted, 0 before any lift).
CREATE TABLE suspension_notices (
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    annotator_id INTEGER NOT NULL,
    lifted_at_answers INTEGER NOT NULL,
    PRIMARY KEY (project_id, annotator_id, lifted_at_answers)
);
