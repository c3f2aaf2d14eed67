-- Adaptive overlap and review. `wanted`: how many answers (and live leases) the task may hold
-- now (NULL until its first answer: the schema's first ask). A task still below the project's
-- confidence target after the maximum overlap `needs_review`; a reviewer's verdict is kept
-- beside the crowd consensus and is the task's final label.
ALTER TABLE tasks ADD COLUMN wanted INTEGER;
ALTER TABLE tasks ADD COLUMN needs_review BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tasks ADD COLUMN review_labels JSONB;
ALTER TABLE tasks ADD COLUMN reviewed_by BIGINT REFERENCES users(id);
ALTER TABLE tasks ADD COLUMN reviewed_at TIMESTAMPTZ;
CREATE INDEX tasks_review ON tasks(project_id, id) WHERE needs_review AND review_labels IS NULL;
