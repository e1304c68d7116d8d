-- Facet counts kept on write: for each tenant, how many events carry each
-- value of a facet field, and the seq of the newest of them, so that the
-- pickers read one index range instead of counting rows. field names what
-- is counted; c1 and c2 the value of another field it is counted under
-- ('' when none):
--   scope                     each prefix of scope_path (value)
--   target_type, target, actor, team, source, action   the column's value
--   target by type            target_id under target_type (c1)
--   target_type by scope      target_type under a scope prefix (c1)
--   target by scope and type  target_id under a scope prefix (c1) and
--                             target_type (c2)
-- Append adds a batch's counts in its transaction; retention's deletes
-- and dropped partitions take theirs off (a value left with count 0 is
-- none). newest may name a removed event: readers then count the value
-- from the events.
CREATE TABLE facet_counts (
    tenant_no integer NOT NULL,
    field     text COLLATE "C" NOT NULL,
    c1        text COLLATE "C" NOT NULL,
    c2        text COLLATE "C" NOT NULL,
    value     text COLLATE "C" NOT NULL,
    count     bigint NOT NULL,
    newest    bigint NOT NULL,
    PRIMARY KEY (tenant_no, field, c1, c2, value)
);

-- The keys an event's row is counted under.
CREATE FUNCTION facet_keys(scope_path text, target_type text, target_id text, actor_id text,
    team text, source text, action text)
RETURNS TABLE (field text, c1 text, c2 text, value text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH p AS (
        SELECT array_to_string(a[1:i], '/') COLLATE "C" AS path
        FROM (SELECT string_to_array(scope_path, '/') AS a) s, generate_series(1, coalesce(cardinality(s.a), 0)) i
    )
    SELECT 'target_type', '', '', target_type WHERE target_type <> ''
    UNION ALL SELECT 'target', '', '', target_id WHERE target_id <> ''
    UNION ALL SELECT 'actor', '', '', actor_id WHERE actor_id <> ''
    UNION ALL SELECT 'team', '', '', team WHERE team <> ''
    UNION ALL SELECT 'source', '', '', source WHERE source <> ''
    UNION ALL SELECT 'action', '', '', action WHERE action <> ''
    UNION ALL SELECT 'target by type', target_type, '', target_id WHERE target_type <> '' AND target_id <> ''
    UNION ALL SELECT 'scope', '', '', p.path FROM p
    UNION ALL SELECT 'target_type by scope', p.path, '', target_type FROM p WHERE target_type <> ''
    UNION ALL SELECT 'target by scope and type', p.path, target_type, target_id FROM p WHERE target_type <> '' AND target_id <> ''
$$;

INSERT INTO facet_counts (tenant_no, field, c1, c2, value, count, newest)
SELECT e.tenant_no, k.field, k.c1, k.c2, k.value, count(*), max(e.seq)
FROM events e CROSS JOIN LATERAL facet_keys(e.scope_path, e.target_type, e.target_id, e.actor_id, e.team, e.source, e.action) k
GROUP BY 1, 2, 3, 4, 5;
