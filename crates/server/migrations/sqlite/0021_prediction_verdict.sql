-- What an annotator did with the prediction shown beside the task (1 accepted, 2 rejected,
-- 3 corrected), and which prediction (its model version). A small integer, not text: the
-- answers table is the hottest there is, and a planner that has no statistics yet estimates
-- its rows from its width.
ALTER TABLE answers ADD COLUMN prediction_verdict INTEGER;
ALTER TABLE answers ADD COLUMN prediction_model TEXT;
