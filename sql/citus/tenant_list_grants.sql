-- On Citus (the tables distributed by migration 0007): selene_dba may read the
-- tenant_id column of the ledger and the projections, and with the policy
-- tenant_list sees it on every row: the list of tenants, which rebuild, verify and
-- tenant_stats of every tenant read as the DBA (os_core.scope_tenant_ids), since a Citus
-- coordinator reaches the workers as the role running the statement and only login
-- roles connect. A single node needs none of it (those run there as selene_projector)
-- and would not carry a column privilege through os_core.partition_by_tenant.

DO $grant$
BEGIN
    IF NOT os_core.is_distributed() THEN
        RETURN;
    END IF;
    GRANT SELECT (tenant_id) ON
    os_core.work_order_ledger,
    os_core.work_orders_current,
    os_core.work_order_step_attempts,
    os_core.work_order_leases
    TO selene_dba;
END;
$grant$;
