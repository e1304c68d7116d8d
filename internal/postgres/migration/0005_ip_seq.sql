-- The address index ends in seq like every other filter's, so that the
-- events of one address are read in seq order: a first page stops after
-- its rows instead of sorting every event of a busy office address.
DROP INDEX events_ip;
CREATE INDEX events_ip ON events (tenant_no, ip, seq) WHERE ip IS NOT NULL;
