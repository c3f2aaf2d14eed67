-- An archived project is out of annotators' sight and queue; its answers still sync in, and
-- its requesters still see, export and restore it.
ALTER TABLE projects ADD COLUMN archived_at TEXT;
