-- On Citus (the tables distributed by migration 0007): every capability function
-- whose first argument is p_tenant_id runs on the worker holding that tenant's
-- shards, routed by its value, also inside BEGIN ... COMMIT (force_delegation),
-- which is how callers use them. Capabilities are the functions granted to
-- selene_os, read from the catalog, so a new one is delegated without a list to
-- keep. Not set_tenant: it runs on the coordinator, whose SET LOCAL Citus sends on
-- to every worker of the transaction (sql/functions/tenant_scope.sql). Without
-- Citus, or before 0007, nothing.

DO $delegate$
DECLARE
    _capability regprocedure;
    _distributed boolean;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
    INTO _distributed
    USING 'os_core.work_order_ledger'::regclass;
    IF NOT _distributed THEN
        RETURN;
    END IF;
    FOR _capability IN
        SELECT p.oid::regprocedure
        FROM pg_catalog.pg_proc AS p
        WHERE
            p.pronamespace = 'os_core'::regnamespace
            AND p.proargnames[1] = 'p_tenant_id'
            AND pg_catalog.has_function_privilege('selene_os', p.oid, 'EXECUTE')
            AND p.oid <> 'os_core.set_tenant(text)'::regprocedure
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
