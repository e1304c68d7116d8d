-- Streams: a tenant's destinations of its events (see the README's
-- "Streams"). cursor is the seq of the tenant's log considered up to,
-- stream_seq the last stream_seq the receiver accepted; both move together,
-- only once a receiver accepted a batch. secret is sealed by the server's
-- stream key. lease_owner and lease_until name the one node that delivers
-- the stream; lease_until is by the database's clock, so that the nodes'
-- clocks need not agree. Other times are Unix nanoseconds.
CREATE TABLE streams (
    tenant          text COLLATE "C" NOT NULL REFERENCES tenants (id),
    id              text COLLATE "C" NOT NULL,
    name            text NOT NULL,
    type            text NOT NULL,
    format          text NOT NULL,
    filters         text NOT NULL,
    settings        text NOT NULL,
    secret          bytea,
    state           text NOT NULL,
    cursor          bigint NOT NULL DEFAULT 0,
    stream_seq      bigint NOT NULL DEFAULT 0,
    last_success_at bigint NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    last_error_at   bigint NOT NULL DEFAULT 0,
    created_at      bigint NOT NULL,
    updated_at      bigint NOT NULL,
    version         bigint NOT NULL DEFAULT 1,
    lease_owner     text COLLATE "C" NOT NULL DEFAULT '',
    lease_until     timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (tenant, id)
);
