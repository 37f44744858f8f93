-- tenant_ids: every tenant that has rows, for the capabilities that cover them all.

CREATE OR REPLACE FUNCTION os_core.tenant_ids()
RETURNS TABLE (tenant_id text)
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- As the caller, who must be in selene_dba (the policies tenant_list and the
    -- tenant_id column's privilege). Not SECURITY DEFINER: on Citus this reads every
    -- worker, over connections made as the role running it, and only login roles can
    -- connect.
    RETURN QUERY
    SELECT l.tenant_id FROM os_core.work_order_ledger AS l
    UNION
    SELECT c.tenant_id FROM os_core.work_orders_current AS c
    UNION
    SELECT s.tenant_id FROM os_core.work_order_step_attempts AS s
    UNION
    SELECT e.tenant_id FROM os_core.work_order_leases AS e
    ORDER BY 1;
END;
$$;

COMMENT ON FUNCTION os_core.tenant_ids() IS
'Every tenant id in the ledger or a projection, in order, read as the caller (selene_dba may read the tenant_id column of those tables, policy tenant_list). Internal: rebuild, verify and tenant_stats of every tenant on Citus call it.';

ALTER FUNCTION os_core.tenant_ids() OWNER TO selene_owner;
