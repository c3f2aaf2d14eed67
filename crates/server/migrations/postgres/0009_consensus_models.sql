-- Each project's last re-fitted consensus model (JSON), by version: every server replica
-- scores new answers with it until the next re-fit.
CREATE TABLE consensus_models (
    project_id  BIGINT PRIMARY KEY REFERENCES projects(id),
    version     BIGINT NOT NULL,
    model       TEXT NOT NULL
);
