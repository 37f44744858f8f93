-- work_order_lease_read: the lease of one work order.

CREATE OR REPLACE FUNCTION os_core.work_order_lease_read(
    p_tenant_id text,
    p_work_order_id text
)
RETURNS SETOF os_core.work_order_leases
LANGUAGE plpgsql
STABLE
PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM os_core.require_tenant_scope(p_tenant_id);
    RETURN QUERY
    SELECT l.*
    FROM os_core.work_order_leases AS l
    WHERE l.tenant_id = p_tenant_id AND l.work_order_id = p_work_order_id;
END;
$$;

COMMENT ON FUNCTION os_core.work_order_lease_read(text, text) IS
'The lease of a work order of the declared tenant (owner, token hash, ACTIVE or RELEASED, expiry, when acquired and released), or no row when it never had one. Expiry is not judged here: compare lease_expires_at with your own monotonic clock. Error: OS_WORK_ORDER_TENANT_SCOPE_VIOLATION (SE003).';

ALTER FUNCTION os_core.work_order_lease_read(text, text) OWNER TO selene_owner;
