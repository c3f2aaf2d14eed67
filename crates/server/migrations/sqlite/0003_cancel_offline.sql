-- Tasks the requester cancelled, leases checked out for offline work, and answers that
-- arrived after their task was cancelled (kept, not counted).
ALTER TABLE tasks ADD COLUMN cancelled_at TEXT;
ALTER TABLE leases ADD COLUMN offline INTEGER NOT NULL DEFAULT 0;
ALTER TABLE answers ADD COLUMN counted INTEGER NOT NULL DEFAULT 1;

-- The change feed gains a 'cancel' kind; SQLite cannot alter a CHECK, so the table is rebuilt
-- with its sequence numbers kept.
CREATE TABLE changes_v3 (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    annotator_id INTEGER NOT NULL REFERENCES users(id),
    kind         TEXT NOT NULL CHECK (kind IN ('lease', 'answer', 'cancel')),
    task_id      INTEGER NOT NULL,
    answer_id    TEXT
);
INSERT INTO changes_v3 (seq, annotator_id, kind, task_id, answer_id)
    SELECT seq, annotator_id, kind, task_id, answer_id FROM changes ORDER BY seq;
DROP TABLE changes;
ALTER TABLE changes_v3 RENAME TO changes;
CREATE INDEX changes_annotator ON changes(annotator_id, seq);
