-- projection_drift: every difference between the projections and the ledger,
-- as a cursor the caller reads.

-- It was a SQL function returning the rows; on Citus neither form of that works (an
-- inlined SQL function over distributed tables, or its parameterised statement).
DROP FUNCTION IF EXISTS os_core.projection_drift(text);

CREATE OR REPLACE FUNCTION os_core.projection_drift(p_tenant_id text, p_in_key_order boolean)
RETURNS refcursor
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    _drift refcursor;
BEGIN
    -- A cursor, not a set-returning function: the rebuild reads the drift as a
    -- stream and stops early (RETURN QUERY would compute all of it first), and each
    -- statement is planned for the tenant given (on Citus: routed to its shard).
    OPEN _drift NO SCROLL FOR
        -- Pairs are compared as rows (the views' columns are in the tables' order: column
        -- by column, with each column's own equality) and turned into jsonb, to name the
        -- differing columns, only when they differ: to_jsonb() of both sides of every pair
        -- cost about a quarter of a rebuild with nothing to repair.
        WITH pairs AS (
            SELECT
                coalesce(e.tenant_id, a.tenant_id) AS tenant_id,
                coalesce(e.work_order_id, a.work_order_id) AS work_order_id,
                'work_orders_current' AS projection,
                NULL::text AS row_key,
                to_jsonb(e) AS expected_row,
                to_jsonb(a) AS actual_row
            FROM (
                SELECT v.* FROM os_core.work_orders_current_from_ledger AS v
                WHERE p_tenant_id IS NULL OR v.tenant_id = p_tenant_id
            ) AS e
            FULL JOIN (
                SELECT c.* FROM os_core.work_orders_current AS c
                WHERE p_tenant_id IS NULL OR c.tenant_id = p_tenant_id
            ) AS a
                ON e.tenant_id = a.tenant_id AND e.work_order_id = a.work_order_id
            WHERE ROW(e.*) IS DISTINCT FROM ROW(a.*)

            UNION ALL

            SELECT
                coalesce(e.tenant_id, a.tenant_id),
                coalesce(e.work_order_id, a.work_order_id),
                'work_order_step_attempts',
                coalesce(e.step_id, a.step_id) || ' #' || coalesce(e.attempt_index, a.attempt_index),
                to_jsonb(e),
                to_jsonb(a)
            FROM (
                SELECT v.* FROM os_core.work_order_step_attempts_from_ledger AS v
                WHERE p_tenant_id IS NULL OR v.tenant_id = p_tenant_id
            ) AS e
            FULL JOIN (
                SELECT s.* FROM os_core.work_order_step_attempts AS s
                WHERE p_tenant_id IS NULL OR s.tenant_id = p_tenant_id
            ) AS a
                ON
                    e.tenant_id = a.tenant_id
                    AND e.work_order_id = a.work_order_id
                    AND e.step_id = a.step_id
                    AND e.attempt_index = a.attempt_index
            WHERE ROW(e.*) IS DISTINCT FROM ROW(a.*)

            UNION ALL

            SELECT
                coalesce(e.tenant_id, a.tenant_id),
                coalesce(e.work_order_id, a.work_order_id),
                'work_order_leases',
                NULL::text,
                to_jsonb(e),
                to_jsonb(a)
            FROM (
                SELECT v.* FROM os_core.work_order_leases_from_ledger AS v
                WHERE p_tenant_id IS NULL OR v.tenant_id = p_tenant_id
            ) AS e
            FULL JOIN (
                SELECT l.* FROM os_core.work_order_leases AS l
                WHERE p_tenant_id IS NULL OR l.tenant_id = p_tenant_id
            ) AS a
                ON e.tenant_id = a.tenant_id AND e.work_order_id = a.work_order_id
            WHERE ROW(e.*) IS DISTINCT FROM ROW(a.*)
        )

        SELECT
            p.tenant_id,
            p.work_order_id,
            p.projection,
            p.row_key,
            d.difference,
            d.expected,
            d.actual
        FROM pairs AS p
        CROSS JOIN LATERAL (
            SELECT
                'missing row' AS difference,
                p.expected_row::text AS expected,
                NULL::text AS actual
            WHERE p.actual_row IS NULL
            UNION ALL
            SELECT
                'unexpected row',
                NULL::text,
                p.actual_row::text
            WHERE p.expected_row IS NULL
            UNION ALL
            SELECT
                k.key,
                k.value #>> '{}',
                p.actual_row -> k.key #>> '{}'
            FROM jsonb_each(p.expected_row) AS k
            WHERE p.actual_row IS NOT NULL AND k.value IS DISTINCT FROM p.actual_row -> k.key
        ) AS d
        -- In key order when asked (verify). Otherwise (rebuild) every sort key is a
        -- constant NULL in the plan made for the call: no sort, the rows stream.
        ORDER BY
            CASE WHEN p_in_key_order THEN p.tenant_id END,
            CASE WHEN p_in_key_order THEN p.work_order_id END,
            CASE WHEN p_in_key_order THEN p.projection END,
            CASE WHEN p_in_key_order THEN p.row_key END,
            CASE WHEN p_in_key_order THEN d.difference END;
    RETURN _drift;
END;
$$;

COMMENT ON FUNCTION os_core.projection_drift(text, boolean) IS
'A cursor over every difference between the three projections and what the ledger defines (the *_from_ledger views), for one tenant or all (NULL): a missing row, an unexpected row, or one row per column that differs. In key order (tenant, work order, projection, row key, difference) when p_in_key_order, otherwise unsorted and streamed. Runs with the caller''s rights (row-level security applies); the caller FETCHes and CLOSEs it. Internal, used by verify and rebuild.';

ALTER FUNCTION os_core.projection_drift(text, boolean) OWNER TO selene_owner;
