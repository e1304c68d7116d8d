-- Legal holds: while a hold is here, the retention job removes none of the
-- tenant's events within its scope ('' = the whole tenant; else a scope
-- path, covering itself and every path below it). Releasing a hold deletes
-- its row; the tenant's log keeps the history (hold.create, hold.delete).
CREATE TABLE legal_holds (
    tenant     TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
