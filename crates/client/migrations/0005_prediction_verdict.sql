-- What the annotator did with the prediction shown beside the task, and which one it was;
-- pushed with the answer.
ALTER TABLE answers ADD COLUMN prediction_verdict TEXT;
ALTER TABLE answers ADD COLUMN prediction_model TEXT;
