-- When an automatic lock (spec 4.2) ends, so that an expired lock is lifted
-- after a restart too (Q-17). NULL: not locked, or locked by hand (no end).
-- Upstream never reads or writes this column; a database shared with it keeps
-- working (its inserts name their columns, and the column is nullable).
ALTER TABLE users ADD COLUMN IF NOT EXISTS locked_until DATETIME(6);

CREATE INDEX IF NOT EXISTS ix_users_locked_until ON users (locked_until);
