-- On a Citus coordinator (extension citus created in this database, workers added),
-- distribute the five tables by tenant_id in one co-location group: all of a
-- tenant's ledger, projection and audit rows live in shards on one worker, and the
-- capability functions run there (sql/citus/delegate_capabilities.sql, installed by
-- post-apply, delegates them by p_tenant_id). Without Citus this does nothing.
-- docs/scaling.md.
--
-- The append-only triggers are triggers on distributed tables, which Citus allows
-- only with citus.enable_unsafe_triggers; they are then created on every shard.
-- They are safe here: statement-level, refusing, and reading no other table.
--
-- citus.propagate_set_commands = local makes Citus send a transaction's SET LOCAL on
-- to the workers it uses: os_core.set_tenant declares the tenant so on every worker.
-- depends: 0006.tenant-columns-paging-node

DO $distribute$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    EXECUTE format(
        'ALTER DATABASE %I SET citus.enable_unsafe_triggers = on', pg_catalog.current_database()
    );
    EXECUTE format(
        'ALTER DATABASE %I SET citus.propagate_set_commands = local',
        pg_catalog.current_database()
    );
    PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', TRUE);
    -- Citus runs the DDL of a distributed table over one connection per worker
    -- within this transaction; with data to copy it would need several.
    PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', TRUE);
    PERFORM create_distributed_table(
        'os_core.work_order_ledger', 'tenant_id', colocate_with => 'none'
    );
    PERFORM create_distributed_table(
        'os_core.work_orders_current', 'tenant_id', colocate_with => 'os_core.work_order_ledger'
    );
    PERFORM create_distributed_table(
        'os_core.work_order_step_attempts', 'tenant_id',
        colocate_with => 'os_core.work_order_ledger'
    );
    PERFORM create_distributed_table(
        'os_core.work_order_leases', 'tenant_id', colocate_with => 'os_core.work_order_ledger'
    );
    PERFORM create_distributed_table(
        'ph1j.audit_events', 'tenant_id', colocate_with => 'os_core.work_order_ledger'
    );
END;
$distribute$;
