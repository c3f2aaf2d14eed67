-- Why the server refused an answer, as its stable code (the message stays in `rejected`).
ALTER TABLE answers ADD COLUMN rejected_code TEXT;
