-- scope_tenant_ids: the tenants a call of rebuild, verify or tenant_stats covers, one
-- call of its *_local work each.

-- Replaced by scope_tenant_ids, which also decides when the list is needed.
DROP FUNCTION IF EXISTS os_core.tenant_ids();

CREATE OR REPLACE FUNCTION os_core.scope_tenant_ids(p_tenant_id text)
RETURNS TABLE (tenant_id text)
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- One tenant, or every tenant on a single node (NULL, which the work takes as is):
    -- one call.
    IF p_tenant_id IS NOT NULL OR NOT os_core.is_distributed() THEN
        RETURN QUERY SELECT p_tenant_id;
        RETURN;
    END IF;
    -- Every tenant on Citus: one call per tenant, each delegated to its worker (a
    -- NULL tenant is not routable, and crashes Citus 13.2's delegation). The list is
    -- read as the caller, who must be in selene_dba (the tenant_id column's privilege
    -- and the policies tenant_list). Not SECURITY DEFINER: on Citus this reads every
    -- worker, over connections made as the role running it, and only login roles can
    -- connect.
    PERFORM os_core.require_dba_or_tenant_scope(NULL);
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

COMMENT ON FUNCTION os_core.scope_tenant_ids(text) IS
'The tenant arguments with which rebuild, verify and tenant_stats call their *_local work for p_tenant_id: p_tenant_id itself (NULL, every tenant, on a single node), or on Citus for every tenant each tenant id in the ledger or a projection, in order, read as the caller (selene_dba only, policy tenant_list; OS_WORK_ORDER_TENANT_SCOPE_VIOLATION otherwise). Internal.';

ALTER FUNCTION os_core.scope_tenant_ids(text) OWNER TO selene_owner;
