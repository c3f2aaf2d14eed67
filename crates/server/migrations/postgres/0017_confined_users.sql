-- People a requester invited see only the projects they are members of: a project open to
-- every annotator (no annotator or reviewer members) is closed to them.
ALTER TABLE users ADD COLUMN confined BOOLEAN NOT NULL DEFAULT FALSE;
