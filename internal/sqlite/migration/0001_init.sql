-- Tenants. num is the tenant's number in event keys (k = num<<40 | seq);
-- last_seq is the seq of the tenant's newest event, kept even when
-- retention removes that event, so that seq never restarts.
CREATE TABLE tenants (
    num            INTEGER PRIMARY KEY,
    id             TEXT    NOT NULL UNIQUE,
    retention_days INTEGER NOT NULL DEFAULT 0,
    plan           TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    last_seq       INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE api_keys (
    tenant     TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    scopes     TEXT    NOT NULL, -- JSON array
    hash       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;

-- Settings; tenant '' holds the server's own.
CREATE TABLE settings (
    tenant TEXT NOT NULL,
    name   TEXT NOT NULL,
    value  BLOB NOT NULL,
    PRIMARY KEY (tenant, name)
) WITHOUT ROWID;

-- Events. k = tenant num<<40 | seq, so rowid order is (tenant, seq) and a
-- tenant's events are one contiguous range. occurred_at is in Unix
-- nanoseconds. id_hash is a 64-bit hash of (tenant, id), for idempotency
-- and lookup by id (collisions are resolved by reading the body). body is
-- the event (server fields included) as JSON, possibly compressed: see
-- the body codec in the Go code.
CREATE TABLE events (
    k           INTEGER PRIMARY KEY,
    occurred_at INTEGER NOT NULL,
    id_hash     INTEGER NOT NULL,
    body        BLOB    NOT NULL
);
CREATE INDEX events_id_hash ON events (id_hash);
CREATE INDEX events_time ON events ((k >> 40), occurred_at);

-- The per-tenant dictionary of filterable values. field is a small integer
-- code (see the field constants in the Go code); count is the number of
-- events posting the term.
CREATE TABLE terms (
    id     INTEGER PRIMARY KEY,
    tenant INTEGER NOT NULL,
    field  INTEGER NOT NULL,
    value  TEXT    NOT NULL,
    count  INTEGER NOT NULL DEFAULT 0,
    UNIQUE (tenant, field, value)
);

-- The inverted index: one row per (term, event).
CREATE TABLE postings (
    term INTEGER NOT NULL,
    k    INTEGER NOT NULL,
    PRIMARY KEY (term, k)
) WITHOUT ROWID;

-- Names and emails (lowercased) under which an actor term has appeared.
CREATE TABLE actor_names (
    tenant INTEGER NOT NULL,
    name   TEXT    NOT NULL,
    term   INTEGER NOT NULL,
    PRIMARY KEY (tenant, name, term)
) WITHOUT ROWID;

-- Targets named by a delete event: every read of any event of theirs shows
-- the target as deleted.
CREATE TABLE deleted_targets (
    tenant INTEGER NOT NULL,
    type   TEXT    NOT NULL,
    id     TEXT    NOT NULL,
    PRIMARY KEY (tenant, id, type)
) WITHOUT ROWID;

-- Full-text index, rowid = events.k, one column per searched field (a
-- phrase never spans two fields). Contentless: the text lives in the event
-- body. The tokenizer splits on punctuation; the query side quotes each
-- word, so "alice@example.com" is searched as the phrase alice example com
-- (whole) while "alice" finds it too (part).
CREATE VIRTUAL TABLE events_fts USING fts5 (
    actor_name, actor_email, target, action, team, ip, description,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
