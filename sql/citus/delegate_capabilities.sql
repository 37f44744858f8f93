-- On Citus (the tables distributed by migration 0007): every capability function
-- whose first argument is p_tenant_id runs on the worker holding that tenant's
-- shards, routed by its value, also inside BEGIN ... COMMIT (force_delegation),
-- which is how callers use them. Capabilities are the SECURITY DEFINER functions
-- granted to selene_os, read from the catalog, so a new one is delegated without a
-- list to keep. Not rebuild, verify and tenant_stats, which take NULL for every
-- tenant (a NULL distribution argument crashes Citus 13.2's delegation): they run on
-- the coordinator, SECURITY INVOKER, and call their *_local work, delegated, per
-- tenant. Nor require_dba_or_tenant_scope, a check that runs where it is called.
-- Not set_tenant: it runs on the coordinator, whose SET LOCAL Citus sends on
-- to every worker of the transaction (sql/functions/tenant_scope.sql). Without
-- Citus, or before 0007, nothing.

DO $delegate$
DECLARE
    _capability regprocedure;
BEGIN
    IF NOT os_core.is_distributed() THEN
        RETURN;
    END IF;
    FOR _capability IN
        SELECT p.oid::regprocedure
        FROM pg_catalog.pg_proc AS p
        WHERE
            p.pronamespace = 'os_core'::regnamespace
            AND p.proargnames[1] = 'p_tenant_id'
            AND pg_catalog.has_function_privilege('selene_os', p.oid, 'EXECUTE')
            AND p.prosecdef
            AND p.oid NOT IN (
                'os_core.set_tenant(text)'::regprocedure,
                'os_core.require_dba_or_tenant_scope(text)'::regprocedure
            )
        ORDER BY 1
    LOOP
        PERFORM create_distributed_function(
            _capability,
            distribution_arg_name => 'p_tenant_id',
            colocate_with => 'os_core.work_order_ledger',
            force_delegation => TRUE
        );
    END LOOP;
END;
$delegate$;
