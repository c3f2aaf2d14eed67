-- Uploads from other tools keep everything they hold: every prediction (the first stays in
-- `prediction`, the one annotators see; the others in `more_predictions`, a JSON array)
-- and the source's `meta` object, both exported. Answers made in the other tool come in as
-- answers of imported annotators: users whose token hash is 'imported:' and their name, which
-- no token hashes to, so they can never sign in.
ALTER TABLE tasks ADD COLUMN more_predictions JSONB;
ALTER TABLE tasks ADD COLUMN meta JSONB;
-- The task image's size in pixels, when the upload knew it (Label Studio keeps it on each
-- box): COCO, YOLO and VOC files need it.
ALTER TABLE tasks ADD COLUMN image_width INTEGER;
ALTER TABLE tasks ADD COLUMN image_height INTEGER;
