-- Batches have a priority (higher first; 0 by default) that a requester sets on upload and
-- may change later. The lease queue serves a higher-priority batch's open tasks first, then
-- those closest to completion, oldest first among equals. Each task keeps its batch's
-- priority, so the queue index holds the whole order.
ALTER TABLE batches ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
DROP INDEX tasks_queue;
CREATE INDEX tasks_queue ON tasks(project_id, priority DESC, answer_count DESC, id)
    WHERE complete = 0 AND cancelled_at IS NULL;
-- A batch's tasks, for changing its priority.
CREATE INDEX tasks_batch ON tasks(batch_id);
