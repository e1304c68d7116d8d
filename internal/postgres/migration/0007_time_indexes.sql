-- Time order (GET /v1/events sorts by occurred_at, seq breaking ties): the
-- filters compared with = get an index ending in (occurred_at,
-- occurred_nsec, seq), as their seq indexes end in seq, so that a first
-- page in either order reads its rows and stops. The actor and scope
-- filters (an OR of columns, a path and its prefix) and value ranges
-- (action prefixes, CIDRs) are bitmap scans of the seq indexes sorted in
-- either order: they get none. The time index itself gets seq.
DROP INDEX events_occurred;
CREATE INDEX events_occurred ON events (tenant_no, occurred_at, occurred_nsec, seq);
CREATE INDEX events_action_time ON events (tenant_no, action, occurred_at, occurred_nsec, seq);
CREATE INDEX events_type_time ON events (tenant_no, type, occurred_at, occurred_nsec, seq);
CREATE INDEX events_actor_type_time ON events (tenant_no, actor_type, occurred_at, occurred_nsec, seq);
CREATE INDEX events_target_id_time ON events (tenant_no, target_id, occurred_at, occurred_nsec, seq) WHERE target_id IS NOT NULL;
CREATE INDEX events_target_type_time ON events (tenant_no, target_type, occurred_at, occurred_nsec, seq) WHERE target_type IS NOT NULL;
CREATE INDEX events_target_name_time ON events (tenant_no, target_name, occurred_at, occurred_nsec, seq) WHERE target_name IS NOT NULL;
CREATE INDEX events_team_time ON events (tenant_no, team, occurred_at, occurred_nsec, seq) WHERE team IS NOT NULL;
CREATE INDEX events_source_time ON events (tenant_no, source, occurred_at, occurred_nsec, seq) WHERE source IS NOT NULL;
CREATE INDEX events_ip_time ON events (tenant_no, ip, occurred_at, occurred_nsec, seq) WHERE ip IS NOT NULL;
CREATE INDEX events_failure_time ON events (tenant_no, occurred_at, occurred_nsec, seq) WHERE status = 'failure';
