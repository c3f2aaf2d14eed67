-- An annotator may flag an answer as unsure (the task then goes to review once complete) and
-- say why they skipped a task. `flagged` keeps, per task, whether a current answer is unsure.
ALTER TABLE answers ADD COLUMN unsure BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE answers ADD COLUMN skip_reason TEXT;
ALTER TABLE tasks ADD COLUMN flagged BOOLEAN NOT NULL DEFAULT false;
