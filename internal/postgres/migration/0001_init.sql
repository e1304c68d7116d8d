-- Tenants. no is the compact key that events carry instead of the name;
-- last_seq is the tenant's sequence counter: Append locks this row for the
-- whole transaction, which orders every tenant's appends across all nodes.
CREATE TABLE tenants (
    id             text COLLATE "C" PRIMARY KEY,
    no             integer GENERATED ALWAYS AS IDENTITY UNIQUE,
    retention_days integer NOT NULL DEFAULT 0,
    plan           text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL,
    created_nsec   smallint NOT NULL DEFAULT 0,
    last_seq       bigint NOT NULL DEFAULT 0
);

CREATE TABLE api_keys (
    tenant       text COLLATE "C" NOT NULL REFERENCES tenants (id),
    id           text COLLATE "C" NOT NULL,
    name         text NOT NULL,
    scopes       text[] NOT NULL,
    hash         text COLLATE "C" NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    created_nsec smallint NOT NULL DEFAULT 0,
    revoked_at   timestamptz,
    revoked_nsec smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, id)
);

-- Settings; tenant '' holds the server's own.
CREATE TABLE settings (
    tenant text COLLATE "C" NOT NULL,
    name   text COLLATE "C" NOT NULL,
    value  bytea NOT NULL,
    PRIMARY KEY (tenant, name)
);

-- Events, range-partitioned by month of received_at. received_at is assigned
-- by the server, so the partitions that the store creates ahead always cover
-- new events; occurred_at comes from senders (backfills, skewed clocks) and
-- would fill the default partition. The default partition only catches what
-- falls outside the partitions made so far.
--
-- body holds the event's JSON exactly as it was stored; the other columns are
-- index material derived from it: actor_*, target_name are lowercased, empty
-- optional values are NULL, and long values are cut (filter values are at
-- most 512 bytes, so a cut value never matches wrongly). occurred_at and
-- received_at carry microseconds; occurred_nsec the nanoseconds below them.
-- There is no unique index on (tenant_no, id): it would have to include the
-- partition key. Append checks ids while holding the tenant's row lock.
CREATE TABLE events (
    tenant_no     integer NOT NULL,
    seq           bigint NOT NULL,
    id            text COLLATE "C" NOT NULL,
    received_at   timestamptz NOT NULL,
    occurred_at   timestamptz NOT NULL,
    occurred_nsec smallint NOT NULL,
    action        text COLLATE "C" NOT NULL,
    type          text COLLATE "C" NOT NULL,
    status        text COLLATE "C" NOT NULL,
    actor_type    text COLLATE "C" NOT NULL,
    actor_id      text COLLATE "C" NOT NULL,
    actor_email   text COLLATE "C",
    actor_name    text COLLATE "C",
    target_type   text COLLATE "C",
    target_id     text COLLATE "C",
    target_name   text COLLATE "C",
    scope_path    text COLLATE "C",
    team          text COLLATE "C",
    source        text COLLATE "C",
    ip            inet,
    tsv           tsvector NOT NULL,
    body          bytea NOT NULL
) PARTITION BY RANGE (received_at);

CREATE TABLE events_default PARTITION OF events DEFAULT;

CREATE INDEX events_seq ON events (tenant_no, seq);
CREATE INDEX events_id ON events (tenant_no, id);
CREATE INDEX events_occurred ON events (tenant_no, occurred_at, occurred_nsec);
CREATE INDEX events_action ON events (tenant_no, action, seq);
CREATE INDEX events_actor_id ON events (tenant_no, actor_id, seq);
CREATE INDEX events_actor_email ON events (tenant_no, actor_email, seq) WHERE actor_email IS NOT NULL;
CREATE INDEX events_actor_name ON events (tenant_no, actor_name, seq) WHERE actor_name IS NOT NULL;
CREATE INDEX events_target_id ON events (tenant_no, target_id, seq) WHERE target_id IS NOT NULL;
CREATE INDEX events_target_type ON events (tenant_no, target_type, seq) WHERE target_type IS NOT NULL;
CREATE INDEX events_target_name ON events (tenant_no, target_name, seq) WHERE target_name IS NOT NULL;
CREATE INDEX events_scope ON events (tenant_no, scope_path, seq) WHERE scope_path IS NOT NULL;
CREATE INDEX events_team ON events (tenant_no, team, seq) WHERE team IS NOT NULL;
CREATE INDEX events_source ON events (tenant_no, source, seq) WHERE source IS NOT NULL;
CREATE INDEX events_ip ON events (tenant_no, ip) WHERE ip IS NOT NULL;
CREATE INDEX events_type ON events (tenant_no, type, seq);
-- status is mostly 'success': only failures are worth an index. actor_type
-- has four values; it is filtered while reading in seq order.
CREATE INDEX events_failure ON events (tenant_no, seq) WHERE status = 'failure';
CREATE INDEX events_tsv ON events USING gin (tsv);

-- Targets that a delete event has named; reads mark every event of them
-- deleted.
CREATE TABLE deleted_targets (
    tenant_no   integer NOT NULL,
    target_type text COLLATE "C" NOT NULL,
    target_id   text COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_no, target_type, target_id)
);
