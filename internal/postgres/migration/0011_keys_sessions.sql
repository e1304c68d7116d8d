-- Keys may expire (expires_at; NULL: never) and carry the minute of their
-- latest use (last_used_at; NULL: never used). Sessions carry their latest
-- request, to the minute, and where they signed in from; listing a
-- tenant's sessions reads sessions_tenant.
ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;
ALTER TABLE api_keys ADD COLUMN expires_nsec smallint NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN last_used_at timestamptz;
ALTER TABLE sessions ADD COLUMN last_seen_at timestamptz;
ALTER TABLE sessions ADD COLUMN ip text NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent text NOT NULL DEFAULT '';
CREATE INDEX sessions_tenant ON sessions (tenant, created_at);
