-- The lease queue reads open tasks closest to completion first, oldest first among equals.
-- An index in exactly that order (and only over open tasks) lets a lease stop after the
-- first few suitable rows instead of sorting every open task of the project.
DROP INDEX tasks_open;
CREATE INDEX tasks_queue ON tasks(project_id, answer_count DESC, id)
    WHERE NOT complete AND cancelled_at IS NULL;
