-- Leaf hashes are stored in runs: one row holds the hashes of up to 256
-- consecutive leaves (32 bytes each, seq order) starting at seq "first".
-- One row per leaf cost the integrator more than the leaves themselves.
CREATE TABLE ledger_leaf_runs (
    tenant TEXT    NOT NULL,
    first  INTEGER NOT NULL,
    hashes BLOB    NOT NULL,
    PRIMARY KEY (tenant, first)
) WITHOUT ROWID;

INSERT INTO ledger_leaf_runs (tenant, first, hashes) SELECT tenant, seq, hash FROM ledger_leaves;
DROP TABLE ledger_leaves;

-- Nodes of levels 1 to 3 are computed from at most 8 leaves when read.
DELETE FROM ledger_nodes WHERE level <= 3;
