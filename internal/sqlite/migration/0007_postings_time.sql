-- The inverted index again, in occurred_at order: one row per (term,
-- event) as in postings, keyed (term, t, k) with t the event's occurred_at
-- (Unix nanoseconds), so that the events of a term are read newest first
-- by time, seq (in k) breaking ties, as they are read by seq in postings.
CREATE TABLE postings_time (
    term INTEGER NOT NULL,
    t    INTEGER NOT NULL,
    k    INTEGER NOT NULL,
    PRIMARY KEY (term, t, k)
) WITHOUT ROWID;

INSERT INTO postings_time (term, t, k)
    SELECT p.term, e.occurred_at, p.k FROM postings p JOIN events e ON e.k = p.k ORDER BY 1, 2, 3;
