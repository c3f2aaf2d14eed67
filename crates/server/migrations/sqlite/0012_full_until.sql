-- A hint for the lease queue. While every overlap slot of a task is held (answers plus
-- unexpired leases), `full_until` is the earliest expiry among its active leases: until then
-- no slot can free up by time alone, and the queue passes over the task without counting its
-- leases. A lease that fills the task sets it; a skip (which frees a slot), a consensus that
-- asks for more answers, and a re-fit clear it. It only ever hides a task that is full, so
-- the lease statements' exact counts still decide.
ALTER TABLE tasks ADD COLUMN full_until TEXT;
