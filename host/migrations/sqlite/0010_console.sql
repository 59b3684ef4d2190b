-- The console's login links and sessions. Only SHA-256 hashes of their tokens are kept: a copy
-- of the database opens no console. A link is used once (`used_at`), within `expires_at`.
CREATE TABLE console_links (
    token_hash  TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX console_links_by_expiry ON console_links (expires_at);

CREATE TABLE console_sessions (
    token_hash  TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
CREATE INDEX console_sessions_by_tenant ON console_sessions (tenant_id);

-- One-time tokens of forms that must not run twice (saving a new integration, a new secret):
-- a reloaded answer sends the same token, which is refused. Kept a day.
CREATE TABLE console_once (
    token       TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL
);
CREATE INDEX console_once_by_age ON console_once (created_at);
