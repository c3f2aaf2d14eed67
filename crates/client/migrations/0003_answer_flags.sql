-- An answer may be flagged unsure, and a skip may say why; both are pushed with it.
ALTER TABLE answers ADD COLUMN unsure INTEGER NOT NULL DEFAULT 0;
ALTER TABLE answers ADD COLUMN skip_reason TEXT;
