-- The tamper-evident ledger: one RFC 6962 Merkle tree per tenant over its
-- events in seq order (see internal/ledger).

-- A tenant's integrated state: the tree covers seqs 1..size; root is its
-- root hash and checkpoint the latest signed checkpoint (a signed note).
CREATE TABLE ledger_state (
    tenant     text COLLATE "C" PRIMARY KEY,
    size       bigint NOT NULL,
    root       bytea NOT NULL,
    checkpoint bytea NOT NULL
);

-- Leaf hashes, kept apart from the events so that an altered event row
-- cannot alter the hash the tree committed to.
CREATE TABLE ledger_leaves (
    tenant text COLLATE "C" NOT NULL,
    seq    bigint NOT NULL,
    hash   bytea NOT NULL,
    PRIMARY KEY (tenant, seq)
);

-- Perfect-subtree hashes of level 1 and more (compact.NodeID), written once.
CREATE TABLE ledger_nodes (
    tenant text COLLATE "C" NOT NULL,
    level  smallint NOT NULL,
    idx    bigint NOT NULL,
    hash   bytea NOT NULL,
    PRIMARY KEY (tenant, level, idx)
);

-- Every signed checkpoint, by tree size: the history served by
-- GET /v1/checkpoint?size=N.
CREATE TABLE ledger_checkpoints (
    tenant     text COLLATE "C" NOT NULL,
    size       bigint NOT NULL,
    checkpoint bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, size)
);
