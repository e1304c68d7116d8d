-- Facet counts kept on write. The terms of actors, target ids and scopes
-- are counted from now on, like those of the fields of few values: their
-- counts start as their postings.
UPDATE terms SET count = (SELECT count(*) FROM postings WHERE postings.term = terms.id)
WHERE field IN (3, 5, 8);

-- Pairs of terms that events carry together, for the pickers that list
-- one field's values under a value of another: (target type, 0, target id),
-- (scope, 0, target type) and (scope, target type, target id). count is
-- the number of events posting c1, c2 (when not 0) and term; newest the
-- key of the newest of them. Filled from the stored events by the Go part
-- of this migration, kept by Append and by retention's deletes.
CREATE TABLE facet_pairs (
    c1     INTEGER NOT NULL,
    c2     INTEGER NOT NULL,
    term   INTEGER NOT NULL,
    count  INTEGER NOT NULL,
    newest INTEGER NOT NULL,
    PRIMARY KEY (c1, c2, term)
) WITHOUT ROWID;
