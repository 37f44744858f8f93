-- work_order_current_read: OS_WORK_ORDER_CURRENT_READ.

CREATE OR REPLACE FUNCTION os_core.work_order_current_read(
    p_tenant_id text,
    p_work_order_id text
)
RETURNS SETOF os_core.work_orders_current
LANGUAGE plpgsql
STABLE
PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- The usual case in one comparison, without a call: require_tenant_scope runs
    -- only when the check fails, and raises exactly its error (no tenant declared,
    -- or another one) with its DETAIL. Passes exactly when it would pass.
    IF p_tenant_id IS NULL OR p_tenant_id IS DISTINCT FROM os_core.current_tenant_id() THEN
        PERFORM os_core.require_tenant_scope(p_tenant_id);
    END IF;
    RETURN QUERY
    SELECT c.*
    FROM os_core.work_orders_current AS c
    WHERE c.tenant_id = p_tenant_id AND c.work_order_id = p_work_order_id;
END;
$$;

COMMENT ON FUNCTION os_core.work_order_current_read(text, text) IS
'OS_WORK_ORDER_CURRENT_READ: the current record of one work order of the declared tenant, or no row. Error: OS_WORK_ORDER_TENANT_SCOPE_VIOLATION (SE003).';

ALTER FUNCTION os_core.work_order_current_read(text, text) OWNER TO selene_owner;
