-- The task browser's text search: the words of a task's string values (data URIs apart, the
-- first 200,000 characters, as on PostgreSQL), found by word or word start within one
-- project, accents kept (as on PostgreSQL). The upload writes each task's words (worked out
-- in Rust, several times cheaper than json_tree here); a trigger removes them with the task.
-- Contentless: the text stays in `tasks` only. Tasks stored before are indexed here.
CREATE VIRTUAL TABLE task_words USING fts5(
    project, words, content = '', contentless_delete = 1, detail = column,
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER task_words_delete AFTER DELETE ON tasks BEGIN
    DELETE FROM task_words WHERE rowid = old.id;
END;
INSERT INTO task_words (rowid, project, words)
SELECT t.id, 'p' || t.project_id,
       (SELECT substr(group_concat(value, ' '), 1, 200000) FROM json_tree(t.data)
        WHERE type = 'text' AND substr(value, 1, 5) <> 'data:')
FROM tasks t;
