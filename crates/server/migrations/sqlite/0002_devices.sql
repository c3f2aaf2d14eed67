-- The device that recorded each answer, and whether it clashed with the same annotator's
-- answer from another device.
ALTER TABLE answers ADD COLUMN device_id TEXT;
ALTER TABLE answers ADD COLUMN device_conflict INTEGER NOT NULL DEFAULT 0;
