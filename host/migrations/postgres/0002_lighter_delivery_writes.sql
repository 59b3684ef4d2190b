-- Fewer index pages written per delivery (each is rewritten whole in every group commit that
-- touches it; BENCHMARKS.md, third session):
-- - deliveries_event was never used: the delivery list filters by event within a tenant's
--   deliveries through deliveries_tenant, and every new row landed at a random place in it.
-- - the due-work index only needs pending rows; settled ones now leave it instead of moving
--   to another part of it.
DROP INDEX deliveries_event;
DROP INDEX deliveries_due;
CREATE INDEX deliveries_pending ON deliveries (next_attempt_at) WHERE status = 'pending';
