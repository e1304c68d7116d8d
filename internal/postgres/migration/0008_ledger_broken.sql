-- A tenant's ledger fails closed (see internal/ledger). ledger_started is
-- set by the tenant's first integration step and never cleared but by a
-- rebuild: a started tree whose rows are gone is damage, not a new tree.
-- ledger_broken says why the ledger was found broken ('' when it is not):
-- a broken tenant is neither integrated nor signed until rebuilt.
ALTER TABLE tenants ADD COLUMN ledger_started boolean NOT NULL DEFAULT false;
ALTER TABLE tenants ADD COLUMN ledger_broken text NOT NULL DEFAULT '';
UPDATE tenants SET ledger_started = true WHERE id IN (SELECT tenant FROM ledger_state);
