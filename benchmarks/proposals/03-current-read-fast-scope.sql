-- Proposal 03: the same inline tenant check in os_core.work_order_current_read.
--
-- Measured (8 clients, medians of 4 x 5 s): 15.8k -> 17.2k tps (+9 %), server CPU
-- 86 -> 78 us/read (-10 %). The rest of the gap to a bare PK lookup (24 us) is the
-- transaction envelope (BEGIN, set_tenant, COMMIT: a PK lookup in the same envelope
-- costs 51 us) and the SECURITY DEFINER call; sending the four statements in one
-- pipeline (benchmarks/pgbench/current_read_pipelined.sql) brings it to 51 us, 31.8k tps.
-- The full function of commit d9d4890 with the change.

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
    -- The usual case in one expression; require_tenant_scope raises the error otherwise.
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
