-- Streams: a tenant's destinations of its events (see the README's
-- "Streams"). cursor is the seq of the tenant's log considered up to,
-- stream_seq the last stream_seq the receiver accepted; both move together,
-- only once a receiver accepted a batch. secret is sealed by the server's
-- stream key. lease_owner and lease_until (Unix nanoseconds) name the one
-- deliverer. Times are Unix nanoseconds.
CREATE TABLE streams (
    tenant          TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    type            TEXT    NOT NULL,
    format          TEXT    NOT NULL,
    filters         TEXT    NOT NULL,
    settings        TEXT    NOT NULL,
    secret          BLOB,
    state           TEXT    NOT NULL,
    cursor          INTEGER NOT NULL DEFAULT 0,
    stream_seq      INTEGER NOT NULL DEFAULT 0,
    last_success_at INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    last_error_at   INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1,
    lease_owner     TEXT    NOT NULL DEFAULT '',
    lease_until     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
