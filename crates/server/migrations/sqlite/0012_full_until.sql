-- A hint for the lease queue. While every overlap slot of a task is held (answers plus
-- unexpired leases), `full_until` is the earliest expiry among its active leases: until then
-- no slot can free up by time alone, and the queue passes over the task without counting its
-- leases. Set when a lease or an answer leaves the task full; recomputed on every answer (a
-- skip frees a slot, a doubtful consensus asks for more) and cleared by a re-fit. It only
-- ever hides a task that is full, so the lease statements' exact counts still decide.
ALTER TABLE tasks ADD COLUMN full_until TEXT;
