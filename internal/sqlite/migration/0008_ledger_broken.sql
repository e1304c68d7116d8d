-- A tenant's ledger fails closed (see internal/ledger). ledger_started is
-- set by the tenant's first integration step and never cleared but by a
-- rebuild: a started tree whose rows are gone is damage, not a new tree.
-- ledger_broken says why the ledger was found broken ('' when it is not):
-- a broken tenant is neither integrated nor signed until rebuilt.
ALTER TABLE tenants ADD COLUMN ledger_started INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN ledger_broken TEXT NOT NULL DEFAULT '';
UPDATE tenants SET ledger_started = 1 WHERE id IN (SELECT tenant FROM ledger_state);
