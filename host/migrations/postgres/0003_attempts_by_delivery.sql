-- Attempts keyed by their delivery, as on SQLite (see that dialect's 0003): one index per
-- attempt instead of two, and it is the one a delivery's attempts are read through.
ALTER TABLE attempts DROP CONSTRAINT attempts_pkey;
ALTER TABLE attempts ADD PRIMARY KEY (delivery_id, id);
DROP INDEX attempts_delivery;
