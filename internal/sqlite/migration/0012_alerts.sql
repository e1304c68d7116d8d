-- Alerts (see the README's "Alerts"). alert_rules holds each tenant's
-- rules; channels is their configuration as JSON with sealed secrets, and
-- alert_channel_status what the notifier last saw of each (by index).
-- alert_defaults remembers which default rules a tenant has had, so that a
-- deleted default is not created again. alert_evaluators holds each
-- tenant's evaluator: cursor (the log evaluated up to this seq),
-- rebuild_from (its windows hold only events above it) and the lease of the
-- one node that evaluates. alerts are the records raised, and
-- alert_notifications the outbox of their deliveries, one per channel,
-- written in the same transaction as the alert. next_attempt_at 0 with
-- delivered_at 0 means given up. Times are Unix nanoseconds.
CREATE TABLE alert_rules (
    tenant       TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    match        TEXT    NOT NULL,
    condition    TEXT    NOT NULL DEFAULT '',
    group_by     TEXT    NOT NULL,
    threshold    INTEGER NOT NULL,
    window_ns    INTEGER NOT NULL,
    suppress_ns  INTEGER NOT NULL,
    severity     TEXT    NOT NULL,
    channels     TEXT    NOT NULL,
    enabled      INTEGER NOT NULL,
    default_key  TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;

CREATE TABLE alert_channel_status (
    tenant          TEXT    NOT NULL,
    rule_id         TEXT    NOT NULL,
    channel         INTEGER NOT NULL,
    state           TEXT    NOT NULL,
    last_error      TEXT    NOT NULL DEFAULT '',
    last_error_at   INTEGER NOT NULL DEFAULT 0,
    last_success_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, rule_id, channel)
) WITHOUT ROWID;

CREATE TABLE alert_defaults (
    tenant TEXT NOT NULL,
    key    TEXT NOT NULL,
    PRIMARY KEY (tenant, key)
) WITHOUT ROWID;

CREATE TABLE alert_evaluators (
    tenant       TEXT    NOT NULL PRIMARY KEY,
    cursor       INTEGER NOT NULL DEFAULT 0,
    rebuild_from INTEGER NOT NULL DEFAULT 0,
    lease_owner  TEXT    NOT NULL DEFAULT '',
    lease_until  INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE alerts (
    tenant          TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    rule_id         TEXT    NOT NULL,
    rule_name       TEXT    NOT NULL,
    severity        TEXT    NOT NULL,
    group_key       TEXT    NOT NULL,
    count           INTEGER NOT NULL,
    first_event_at  INTEGER NOT NULL,
    last_event_at   INTEGER NOT NULL,
    event_ids       TEXT    NOT NULL,
    first_seq       INTEGER NOT NULL,
    last_seq        INTEGER NOT NULL,
    state           TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    acknowledged_at INTEGER NOT NULL DEFAULT 0,
    acknowledged_by TEXT    NOT NULL DEFAULT '',
    resolved_at     INTEGER NOT NULL DEFAULT 0,
    resolved_by     TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX alerts_by_created ON alerts (tenant, created_at, id);

CREATE TABLE alert_notifications (
    tenant          TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    alert_id        TEXT    NOT NULL,
    rule_id         TEXT    NOT NULL,
    channel         INTEGER NOT NULL,
    target          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    lease_owner     TEXT    NOT NULL DEFAULT '',
    lease_until     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX alert_notifications_due ON alert_notifications (next_attempt_at) WHERE delivered_at = 0 AND next_attempt_at > 0;
