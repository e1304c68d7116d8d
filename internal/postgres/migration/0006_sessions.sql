-- The console's sessions, read by every node. id is the SHA-256 hex of the
-- secret the browser holds. Sign-out deletes the row, revoking the key
-- deletes its rows, and sign-ins sweep out expired ones.
CREATE TABLE sessions (
    id           text COLLATE "C" PRIMARY KEY,
    tenant       text COLLATE "C" NOT NULL,
    key_id       text COLLATE "C" NOT NULL,
    created_at   timestamptz NOT NULL,
    created_nsec smallint NOT NULL DEFAULT 0,
    expires_at   timestamptz NOT NULL,
    expires_nsec smallint NOT NULL DEFAULT 0,
    FOREIGN KEY (tenant, key_id) REFERENCES api_keys (tenant, id)
);
CREATE INDEX sessions_key ON sessions (tenant, key_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
