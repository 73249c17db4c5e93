-- Groups (not upstream's requests; upstream's tables `groups` and
-- `user_groups`): a member may own the group, which lets them manage its
-- members. Owners are members with this flag, so deleting a user or a group
-- removes their ownership with the membership. Upstream never reads this
-- column; a database shared with it keeps working (its inserts name their
-- columns, and the column has a default).
ALTER TABLE user_groups ADD COLUMN IF NOT EXISTS is_owner BOOLEAN NOT NULL DEFAULT false;
