-- What an annotator did with the prediction shown beside the task (accepted, rejected,
-- corrected), and which prediction (its model version).
ALTER TABLE answers ADD COLUMN prediction_verdict TEXT;
ALTER TABLE answers ADD COLUMN prediction_model TEXT;
