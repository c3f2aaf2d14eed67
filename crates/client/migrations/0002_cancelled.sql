-- Tasks the requester withdrew while this device held them: no longer offered, though an
-- answer already on screen may still be saved (the server keeps it without counting it).
ALTER TABLE tasks ADD COLUMN cancelled INTEGER NOT NULL DEFAULT 0;
