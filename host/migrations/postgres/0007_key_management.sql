-- Keys that can be managed: a name to tell them apart, an optional expiry, and when each was
-- last used (kept to the minute), so an admin can see which keys are idle and revoke them.
ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
