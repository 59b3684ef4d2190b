-- Personal data (DESIGN.md, "Personal data"): payloads are kept for a retention period, then
-- deleted; a person's data can be erased on request. A deleted payload leaves a note (when and
-- why) so that the delivery log and a retry can say what happened instead of failing.
ALTER TABLE tenants ADD COLUMN retention_ms BIGINT; -- NULL: the installation's KROG_RETENTION
ALTER TABLE events ADD COLUMN payload_deleted_at BIGINT;
ALTER TABLE events ADD COLUMN payload_deleted_note TEXT;
ALTER TABLE deliveries ADD COLUMN payload_deleted_at BIGINT;
ALTER TABLE deliveries ADD COLUMN payload_deleted_note TEXT;
-- The retention task's way to the oldest payloads still held. Events arrive in created_at
-- order, so an ingest adds to the rightmost leaf, which the group commit has dirtied anyway;
-- rows leave the index when their payload is deleted, so it holds only the retention window.
CREATE INDEX events_payload_age ON events (created_at) WHERE payload_deleted_at IS NULL;
-- What an erasure removed: counts, never the erased value (only a keyed hash of it, under the
-- installation key `erasure_hash`, so that an operator who is given the value again can check
-- whether it was erased).
CREATE TABLE erasures (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key_kind             TEXT NOT NULL, -- booking_id | client_email | client_phone
    key_hash             TEXT NOT NULL,
    events               BIGINT NOT NULL,
    deliveries           BIGINT NOT NULL,
    attempts             BIGINT NOT NULL,
    cancelled_deliveries BIGINT NOT NULL,
    created_at           BIGINT NOT NULL
);
CREATE INDEX erasures_tenant ON erasures (tenant_id, id);
