-- Undo 0007: bring the tables back to the coordinator as ordinary tables (their
-- rows with them). Without Citus, or if they were never distributed, nothing.

DO $undistribute$
DECLARE
    _table regclass;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        RETURN;
    END IF;
    PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', TRUE);
    FOREACH _table IN ARRAY ARRAY[
        'ph1j.audit_events', 'os_core.work_order_leases', 'os_core.work_order_step_attempts',
        'os_core.work_orders_current', 'os_core.work_order_ledger'
    ]::regclass[] LOOP
        IF EXISTS (SELECT FROM pg_dist_partition AS p WHERE p.logicalrelid = _table) THEN
            PERFORM undistribute_table(_table, cascade_via_foreign_keys => FALSE);
        END IF;
    END LOOP;
    EXECUTE format(
        'ALTER DATABASE %I RESET citus.enable_unsafe_triggers', pg_catalog.current_database()
    );
    EXECUTE format(
        'ALTER DATABASE %I RESET citus.propagate_set_commands', pg_catalog.current_database()
    );
END;
$undistribute$;
