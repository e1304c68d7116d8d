-- The console's sessions. id is the SHA-256 hex of the secret the browser
-- holds; times are Unix nanoseconds. Sign-out deletes the row, revoking
-- the key deletes its rows, and sign-ins sweep out expired ones.
CREATE TABLE sessions (
    id         TEXT    PRIMARY KEY,
    tenant     TEXT    NOT NULL,
    key_id     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_key ON sessions (tenant, key_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
