-- The task browser's text search: the words of a task's string values (data URIs apart, the
-- first 200,000 characters, well inside a tsvector's limit), kept in a column of their own —
-- cheap to check row by row when a word is common — and found through a GIN index when rare.
-- The upload writes them (the text worked out in Rust); tasks stored before are read here.
ALTER TABLE tasks ADD COLUMN words tsvector;
UPDATE tasks SET words = (
    SELECT to_tsvector('simple'::regconfig, left(coalesce(string_agg(v #>> '{}', ' '), ''), 200000))
    FROM jsonb_path_query(data, 'strict $.**') AS v
    WHERE jsonb_typeof(v) = 'string' AND left(v #>> '{}', 5) <> 'data:'
);
CREATE INDEX tasks_words ON tasks USING gin (words);
