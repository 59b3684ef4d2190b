-- krog schema, SQLite dialect. Times are Unix milliseconds (BIGINT) so that the same queries
-- run on SQLite and PostgreSQL through sqlx's Any driver; the PostgreSQL copy differs only in
-- the binary column type.
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT REFERENCES tenants (id) ON DELETE CASCADE, -- NULL: an admin key
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE module_blobs (
    sha256      TEXT PRIMARY KEY,
    wasm        BLOB NOT NULL
);

CREATE TABLE module_versions (
    owner       TEXT NOT NULL, -- '' for the shared catalog, else the tenant id
    name        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    sha256      TEXT NOT NULL REFERENCES module_blobs (sha256),
    size        BIGINT NOT NULL,
    info        TEXT NOT NULL, -- the plugin's info() as JSON
    builtin     TEXT,          -- the krog version that shipped it, for built-in catalog modules
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (owner, name, version)
);

CREATE TABLE subscriptions (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    url          TEXT NOT NULL,
    event_types  TEXT NOT NULL, -- JSON array
    transform    TEXT,          -- JSON {module, version, config} or NULL
    enabled      BIGINT NOT NULL,
    description  TEXT NOT NULL,
    disabled_reason TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX subscriptions_tenant ON subscriptions (tenant_id, id);

CREATE TABLE subscription_secrets (
    id              TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    secret          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT -- NULL: current; set when rotated out
);
CREATE INDEX subscription_secrets_sub ON subscription_secrets (subscription_id);

CREATE TABLE events (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    timestamp   TEXT NOT NULL,
    data        TEXT NOT NULL, -- the booking JSON exactly as received
    deliveries  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    status          TEXT NOT NULL, -- pending | succeeded | skipped | failed
    attempt_count   BIGINT NOT NULL,
    next_attempt_at BIGINT,
    claimed_until   BIGINT,
    claimed_by      TEXT,
    skip_reason     TEXT,
    request_content_type TEXT,
    request_headers TEXT,
    request_body    BLOB,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_tenant ON deliveries (tenant_id, id);
CREATE INDEX deliveries_event ON deliveries (tenant_id, event_id);

CREATE TABLE attempts (
    id           TEXT PRIMARY KEY,
    delivery_id  TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    at           BIGINT NOT NULL,
    duration_ms  BIGINT NOT NULL,
    status_code  BIGINT,
    error        TEXT,
    error_kind   TEXT,
    response     TEXT,
    node         TEXT          -- the krog process that made the attempt
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, at);
