-- Legal holds: while a hold is here, the retention job removes none of the
-- tenant's events within its scope ('' = the whole tenant; else a scope
-- path, covering itself and every path below it). Releasing a hold deletes
-- its row; the tenant's log keeps the history (hold.create, hold.delete).
CREATE TABLE legal_holds (
    tenant       text COLLATE "C" NOT NULL REFERENCES tenants (id),
    id           text COLLATE "C" NOT NULL,
    scope        text COLLATE "C" NOT NULL,
    reason       text NOT NULL,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL,
    created_nsec smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, id)
);
