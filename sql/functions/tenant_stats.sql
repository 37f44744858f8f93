-- tenant_stats: what a DBA or a service watches, per tenant, without table privileges:
-- the work in tenant_stats_local, which runs where the rows are (on Citus, the
-- tenant's worker), and the capability, which calls it once or, for every tenant on
-- Citus, once per tenant.

-- Citus may hold the capability as a delegated function: it no longer is one (a NULL
-- tenant in a delegated call crashes Citus 13.2).
DROP FUNCTION IF EXISTS os_core.tenant_stats(text);

CREATE OR REPLACE FUNCTION os_core.tenant_stats_local(p_tenant_id text)
RETURNS TABLE (
    tenant_id text,
    ledger_events bigint,
    last_event_id bigint,
    last_recorded_at timestamptz,
    work_orders bigint,
    work_orders_by_status jsonb,
    active_leases bigint,
    projected_events bigint,
    projected_last_event_id bigint,
    projection_agrees boolean
)
LANGUAGE plpgsql
STABLE
PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM os_core.require_dba_or_tenant_scope(p_tenant_id);
    -- For one tenant the planner gets p_tenant_id as a constant (a custom plan), so
    -- every scan below is an index range scan of that tenant.
    RETURN QUERY
    WITH ledger AS (
        SELECT l.tenant_id, count(*) AS events, max(l.work_order_event_id) AS last_event_id
        FROM os_core.work_order_ledger AS l
        WHERE p_tenant_id IS NULL OR l.tenant_id = p_tenant_id
        GROUP BY l.tenant_id
    ),

    by_status AS (
        SELECT c.tenant_id, c.work_order_status, count(*) AS work_orders,
            sum(c.event_count) AS events, max(c.last_event_id) AS last_event_id
        FROM os_core.work_orders_current AS c
        WHERE p_tenant_id IS NULL OR c.tenant_id = p_tenant_id
        GROUP BY c.tenant_id, c.work_order_status
    ),

    projected AS (
        SELECT s.tenant_id, sum(s.work_orders)::bigint AS work_orders,
            jsonb_object_agg(s.work_order_status, s.work_orders ORDER BY s.work_order_status)
                AS by_status,
            sum(s.events)::bigint AS events, max(s.last_event_id) AS last_event_id
        FROM by_status AS s
        GROUP BY s.tenant_id
    ),

    leases AS (
        SELECT e.tenant_id, count(*) AS active
        FROM os_core.work_order_leases AS e
        WHERE (p_tenant_id IS NULL OR e.tenant_id = p_tenant_id) AND e.lease_state = 'ACTIVE'
        GROUP BY e.tenant_id
    )

    SELECT
        t.tenant_id::text,
        coalesce(l.events, 0),
        l.last_event_id,
        (
            SELECT e.recorded_at FROM os_core.work_order_ledger AS e
            WHERE
                e.tenant_id = t.tenant_id AND e.work_order_event_id = l.last_event_id
                -- Said again for Citus, which routes a statement by its constants.
                AND (p_tenant_id IS NULL OR e.tenant_id = p_tenant_id)
        ),
        coalesce(p.work_orders, 0),
        coalesce(p.by_status, '{}'::jsonb),
        coalesce(a.active, 0),
        coalesce(p.events, 0),
        p.last_event_id,
        coalesce(l.events, 0) = coalesce(p.events, 0)
        AND l.last_event_id IS NOT DISTINCT FROM p.last_event_id
    FROM (SELECT l.tenant_id FROM ledger AS l UNION SELECT p.tenant_id FROM projected AS p) AS t
    LEFT JOIN ledger AS l ON t.tenant_id = l.tenant_id
    LEFT JOIN projected AS p ON t.tenant_id = p.tenant_id
    LEFT JOIN leases AS a ON t.tenant_id = a.tenant_id
    ORDER BY t.tenant_id;
END;
$$;

COMMENT ON FUNCTION os_core.tenant_stats_local(text) IS
'The work of os_core.tenant_stats for p_tenant_id, or every tenant (NULL) on a single node, run where the rows are (on Citus, delegated to the tenant''s worker). Same checks and rows. Internal: call os_core.tenant_stats.';

ALTER FUNCTION os_core.tenant_stats_local(text) OWNER TO selene_projector;

CREATE OR REPLACE FUNCTION os_core.tenant_stats(p_tenant_id text DEFAULT NULL)
RETURNS TABLE (
    tenant_id text,
    ledger_events bigint,
    last_event_id bigint,
    last_recorded_at timestamptz,
    work_orders bigint,
    work_orders_by_status jsonb,
    active_leases bigint,
    projected_events bigint,
    projected_last_event_id bigint,
    projection_agrees boolean
)
LANGUAGE plpgsql
STABLE
PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    _tenant text;
BEGIN
    -- Once, or on Citus for every tenant once per tenant, in tenant order.
    FOR _tenant IN SELECT t.tenant_id FROM os_core.scope_tenant_ids(p_tenant_id) AS t LOOP
        RETURN QUERY SELECT * FROM os_core.tenant_stats_local(_tenant);
    END LOOP;
END;
$$;

COMMENT ON FUNCTION os_core.tenant_stats(text) IS
'Monitoring, per tenant (one, or every tenant with NULL, which needs selene_dba): ledger events, last event id and its recorded_at, work orders by status, active leases, and whether the projection''s event counts and last event agree with the ledger (projection_agrees false: run verify). active_leases counts leases not released, expired or not. Reads the tenant''s ledger index and projections once; writes nothing. Errors: OS_WORK_ORDER_TENANT_SCOPE_VIOLATION (SE003), OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED (SE004) for a malformed tenant id.';

ALTER FUNCTION os_core.tenant_stats(text) OWNER TO selene_owner;
