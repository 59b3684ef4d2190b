-- Endpoint health: why a subscription is stopped is one of 'paused', 'gone' or 'failing'
-- (it was prose before), since when (`disabled_at`), and since when every delivery of it has
-- failed (`failing_since`, NULL while the last attempt succeeded).
ALTER TABLE subscriptions ADD COLUMN disabled_at BIGINT;
ALTER TABLE subscriptions ADD COLUMN failing_since BIGINT;

UPDATE subscriptions SET disabled_reason = 'gone', disabled_at = updated_at
    WHERE enabled = 0 AND disabled_reason IS NOT NULL;
UPDATE subscriptions SET disabled_reason = 'paused', disabled_at = updated_at
    WHERE enabled = 0 AND disabled_reason IS NULL;
UPDATE subscriptions SET disabled_reason = NULL WHERE enabled <> 0;
