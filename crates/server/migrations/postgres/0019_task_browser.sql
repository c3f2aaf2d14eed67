-- The requester's task browser pages through a project's tasks in upload order or lowest
-- confidence first, from a cursor: each page reads its index from there, at any size.
CREATE INDEX tasks_browse ON tasks(project_id, id);
CREATE INDEX tasks_confidence ON tasks(project_id, confidence, id) WHERE confidence IS NOT NULL;
