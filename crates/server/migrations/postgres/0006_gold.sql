-- Gold tasks: the requester's known answer (JSON labels). They stay out of the normal queue
-- (complete from the start) and are mixed into each annotator's leases at the project's rate.
ALTER TABLE tasks ADD COLUMN gold JSONB;
CREATE INDEX tasks_gold ON tasks(project_id, id) WHERE gold IS NOT NULL;
