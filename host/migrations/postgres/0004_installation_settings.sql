-- Values every node of one installation shares and that are not configuration: the key that
-- authenticates compiled plugin artifacts in each node's cache (a file that does not carry a
-- MAC under it is recompiled, never run).
CREATE TABLE installation_settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
