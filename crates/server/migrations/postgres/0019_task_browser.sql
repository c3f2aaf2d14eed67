-- The requester's task browser pages through a project's tasks from a cursor, each page
-- reading its index from there, at any size: in upload order (all tasks, the open ones, a
-- batch's) or lowest confidence first.
CREATE INDEX tasks_browse ON tasks(project_id, id);
CREATE INDEX tasks_browse_open ON tasks(project_id, id)
    WHERE NOT complete AND cancelled_at IS NULL AND gold IS NULL;
CREATE INDEX tasks_confidence ON tasks(project_id, confidence, id) WHERE confidence IS NOT NULL;
-- Filters on the consensus (its confidence, its label) walk the answered tasks only.
CREATE INDEX tasks_answered ON tasks(project_id, id) WHERE confidence IS NOT NULL;
CREATE INDEX tasks_batch_browse ON tasks(batch_id, id);
DROP INDEX tasks_batch;
