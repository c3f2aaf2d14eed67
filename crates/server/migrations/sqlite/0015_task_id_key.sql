-- The key of the public task id cipher (crates/server/src/store/task_id_cipher.rs): the ids
-- people see are enciphered database ids, so that they tell nothing of upload order. The
-- key is made at random by the first server that finds it missing. Tasks already stored keep
-- their ids (devices may hold them, or answers to them): ids up to `plain_up_to` are public
-- as they are.
CREATE TABLE task_id_key (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    key         BLOB CHECK (key IS NULL OR length(key) = 16),
    plain_up_to INTEGER NOT NULL
);
INSERT INTO task_id_key (id, key, plain_up_to) SELECT 1, NULL, COALESCE(MAX(id), 0) FROM tasks;
