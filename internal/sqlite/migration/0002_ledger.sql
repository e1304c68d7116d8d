-- The tamper-evident ledger: one RFC 6962 Merkle tree per tenant over its
-- events in seq order (see internal/ledger).

-- A tenant's integrated state: the tree covers seqs 1..size; root is its
-- root hash and checkpoint the latest signed checkpoint (a signed note).
CREATE TABLE ledger_state (
    tenant     TEXT    PRIMARY KEY,
    size       INTEGER NOT NULL,
    root       BLOB    NOT NULL,
    checkpoint BLOB    NOT NULL
) WITHOUT ROWID;

-- Leaf hashes, kept apart from the events so that an altered event row
-- cannot alter the hash the tree committed to.
CREATE TABLE ledger_leaves (
    tenant TEXT    NOT NULL,
    seq    INTEGER NOT NULL,
    hash   BLOB    NOT NULL,
    PRIMARY KEY (tenant, seq)
) WITHOUT ROWID;

-- Perfect-subtree hashes of level 1 and more (compact.NodeID), written once.
CREATE TABLE ledger_nodes (
    tenant TEXT    NOT NULL,
    level  INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    hash   BLOB    NOT NULL,
    PRIMARY KEY (tenant, level, idx)
) WITHOUT ROWID;

-- Every signed checkpoint, by tree size: the history served by
-- GET /v1/checkpoint?size=N.
CREATE TABLE ledger_checkpoints (
    tenant     TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    checkpoint BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, size)
) WITHOUT ROWID;
