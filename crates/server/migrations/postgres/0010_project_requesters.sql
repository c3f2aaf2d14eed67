-- Requesters are project members too: a requester runs only the projects they are a
-- requester of (the one who creates a project becomes its first). Requester members do not
-- close a project to annotators.
ALTER TABLE memberships DROP CONSTRAINT memberships_role_check;
ALTER TABLE memberships ADD CONSTRAINT memberships_role_check
    CHECK (role IN ('annotator', 'reviewer', 'requester'));

-- Projects made before this kept no creator: every requester keeps the access they had.
INSERT INTO memberships (project_id, user_id, role, created_at)
SELECT p.id, u.id, 'requester', p.created_at FROM projects p CROSS JOIN users u
WHERE u.role = 'requester'
ON CONFLICT (project_id, user_id) DO NOTHING;
