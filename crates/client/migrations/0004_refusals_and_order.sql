-- Why the server refused an answer, as its stable code (the message stays in `rejected`).
ALTER TABLE answers ADD COLUMN rejected_code TEXT;
-- A task's place in the lease reply that brought it: tasks are shown in the server's order
-- (where gold sits in it is random), not sorted by id.
ALTER TABLE tasks ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
