-- Who created each project (NULL when an admin did): only they, or an admin, may change
-- their own membership, so a co-requester cannot shut the creator out. Projects made before
-- take their earliest requester member.
ALTER TABLE projects ADD COLUMN created_by BIGINT REFERENCES users(id);
UPDATE projects SET created_by = (
    SELECT m.user_id FROM memberships m
    WHERE m.project_id = projects.id AND m.role = 'requester'
    ORDER BY m.created_at, m.user_id LIMIT 1);
