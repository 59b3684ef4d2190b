-- The last version number given out per module, so that a number is never given out twice:
-- not after its version was deleted, nor after every version of the module was.
CREATE TABLE module_names (
    owner        TEXT NOT NULL, -- '' for the shared catalog, else the tenant id
    name         TEXT NOT NULL,
    last_version BIGINT NOT NULL,
    PRIMARY KEY (owner, name)
);

INSERT INTO module_names (owner, name, last_version)
    SELECT owner, name, MAX(version) FROM module_versions GROUP BY owner, name;
