-- Snapshot and metadata as JSONB, so that operators can query inside them
-- with SQL (body keeps the exact bytes that the ledger's leaves cover).
-- actor_type gets its own index, like every other filter.
ALTER TABLE events ADD COLUMN snapshot jsonb, ADD COLUMN metadata jsonb;
CREATE INDEX events_actor_type ON events (tenant_no, actor_type, seq);
