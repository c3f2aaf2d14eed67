-- Adaptive overlap and review. `wanted`: how many answers (and live leases) the task may hold
-- now (NULL until its first answer: the schema's first ask). A task still below the project's
-- confidence target after the maximum overlap `needs_review`; a reviewer's verdict is kept
-- beside the crowd consensus and is the task's final label.
ALTER TABLE tasks ADD COLUMN wanted INTEGER;
ALTER TABLE tasks ADD COLUMN needs_review INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN review_labels TEXT;
ALTER TABLE tasks ADD COLUMN reviewed_by INTEGER REFERENCES users(id);
ALTER TABLE tasks ADD COLUMN reviewed_at TEXT;
CREATE INDEX tasks_review ON tasks(project_id, id) WHERE needs_review = 1 AND review_labels IS NULL;
