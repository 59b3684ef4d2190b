-- Attempts clustered by their delivery. An attempt was a row in a rowid table plus two index
-- entries (the TEXT primary key, and (delivery_id, at) for reading a delivery's attempts): three
-- b-trees, each with a page rewritten in nearly every group commit (BENCHMARKS.md, eighth
-- session). Keyed by (delivery_id, id) without a rowid, the rows themselves are in the order
-- they are read, and a new attempt touches one b-tree. Attempt ids are time-ordered (UUIDv7),
-- so within a delivery the key's order is the order of the attempts.
CREATE TABLE attempts_by_delivery (
    delivery_id  TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    at           BIGINT NOT NULL,
    duration_ms  BIGINT NOT NULL,
    status_code  BIGINT,
    error        TEXT,
    error_kind   TEXT,
    response     TEXT,
    node         TEXT,         -- the krog process that made the attempt
    PRIMARY KEY (delivery_id, id)
) WITHOUT ROWID;
INSERT INTO attempts_by_delivery
    (delivery_id, id, at, duration_ms, status_code, error, error_kind, response, node)
    SELECT delivery_id, id, at, duration_ms, status_code, error, error_kind, response, node
    FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_by_delivery RENAME TO attempts;
