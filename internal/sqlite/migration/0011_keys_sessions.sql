-- Keys may expire (expires_at, Unix nanoseconds; NULL: never) and carry the
-- minute of their latest use (last_used_at, Unix nanoseconds of the minute;
-- NULL: never used). Sessions carry their latest request, to the minute,
-- and where they signed in from; listing a tenant's sessions reads
-- sessions_tenant.
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN ip TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_tenant ON sessions (tenant, created_at);
