-- Alerts (see the README's "Alerts"). alert_rules holds each tenant's
-- rules; channels is their configuration as JSON with sealed secrets, and
-- alert_channel_status what the notifier last saw of each (by index).
-- alert_defaults remembers which default rules a tenant has had, so that a
-- deleted default is not created again. alert_evaluators holds each
-- tenant's evaluator: cursor (the log evaluated up to this seq),
-- rebuild_from (its windows hold only events above it) and the lease of the
-- one node that evaluates, by the database's clock. alerts are the records
-- raised, and alert_notifications the outbox of their deliveries, one per
-- channel, written in the same transaction as the alert. next_attempt_at 0
-- with delivered_at 0 means given up. Other times are Unix nanoseconds.
CREATE TABLE alert_rules (
    tenant       text COLLATE "C" NOT NULL REFERENCES tenants (id),
    id           text COLLATE "C" NOT NULL,
    name         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    match        text NOT NULL,
    condition    text NOT NULL DEFAULT '',
    group_by     text NOT NULL,
    threshold    integer NOT NULL,
    window_ns    bigint NOT NULL,
    suppress_ns  bigint NOT NULL,
    severity     text NOT NULL,
    channels     text NOT NULL,
    enabled      boolean NOT NULL,
    default_key  text NOT NULL DEFAULT '',
    created_at   bigint NOT NULL,
    updated_at   bigint NOT NULL,
    version      bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE alert_channel_status (
    tenant          text COLLATE "C" NOT NULL,
    rule_id         text COLLATE "C" NOT NULL,
    channel         integer NOT NULL,
    state           text NOT NULL,
    last_error      text NOT NULL DEFAULT '',
    last_error_at   bigint NOT NULL DEFAULT 0,
    last_success_at bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, rule_id, channel)
);

CREATE TABLE alert_defaults (
    tenant text COLLATE "C" NOT NULL REFERENCES tenants (id),
    key    text COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, key)
);

CREATE TABLE alert_evaluators (
    tenant       text COLLATE "C" NOT NULL PRIMARY KEY REFERENCES tenants (id),
    cursor       bigint NOT NULL DEFAULT 0,
    rebuild_from bigint NOT NULL DEFAULT 0,
    lease_owner  text COLLATE "C" NOT NULL DEFAULT '',
    lease_until  timestamptz NOT NULL DEFAULT '-infinity'
);

CREATE TABLE alerts (
    tenant          text COLLATE "C" NOT NULL REFERENCES tenants (id),
    id              text COLLATE "C" NOT NULL,
    rule_id         text COLLATE "C" NOT NULL,
    rule_name       text NOT NULL,
    severity        text NOT NULL,
    group_key       text NOT NULL,
    count           integer NOT NULL,
    first_event_at  bigint NOT NULL,
    last_event_at   bigint NOT NULL,
    event_ids       text NOT NULL,
    first_seq       bigint NOT NULL,
    last_seq        bigint NOT NULL,
    state           text NOT NULL,
    created_at      bigint NOT NULL,
    updated_at      bigint NOT NULL,
    acknowledged_at bigint NOT NULL DEFAULT 0,
    acknowledged_by text NOT NULL DEFAULT '',
    resolved_at     bigint NOT NULL DEFAULT 0,
    resolved_by     text NOT NULL DEFAULT '',
    PRIMARY KEY (tenant, id)
);
CREATE INDEX alerts_by_created ON alerts (tenant, created_at, id);

CREATE TABLE alert_notifications (
    tenant          text COLLATE "C" NOT NULL,
    id              text COLLATE "C" NOT NULL,
    alert_id        text COLLATE "C" NOT NULL,
    rule_id         text COLLATE "C" NOT NULL,
    channel         integer NOT NULL,
    target          text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at bigint NOT NULL,
    created_at      bigint NOT NULL,
    delivered_at    bigint NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    lease_owner     text COLLATE "C" NOT NULL DEFAULT '',
    lease_until     timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (tenant, id)
);
CREATE INDEX alert_notifications_due ON alert_notifications (next_attempt_at) WHERE delivered_at = 0 AND next_attempt_at > 0;
