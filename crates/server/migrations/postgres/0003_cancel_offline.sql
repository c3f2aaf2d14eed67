-- Tasks the requester cancelled, leases checked out for offline work, and answers that
-- arrived after their task was cancelled (kept, not counted).
ALTER TABLE tasks ADD COLUMN cancelled_at TIMESTAMPTZ;
ALTER TABLE leases ADD COLUMN offline BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE answers ADD COLUMN counted BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE changes DROP CONSTRAINT changes_kind_check;
ALTER TABLE changes ADD CONSTRAINT changes_kind_check CHECK (kind IN ('lease', 'answer', 'cancel'));
