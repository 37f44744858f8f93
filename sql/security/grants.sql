-- Privileges, last in the install order so that they cover every object.
-- selene_os and selene_dba get EXECUTE on the capability functions and nothing
-- else; PUBLIC gets nothing; nobody gets UPDATE, DELETE or TRUNCATE on the ledger
-- or the audit trail, not even their owner.

REVOKE ALL ON ALL TABLES IN SCHEMA os_core, ph1j FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA os_core, ph1j FROM PUBLIC;
-- ROUTINES: functions and procedures (os_core.partition_by_tenant) alike.
REVOKE ALL ON ALL ROUTINES IN SCHEMA os_core, ph1j FROM PUBLIC;
REVOKE ALL ON SCHEMA os_core, ph1j FROM PUBLIC;

REVOKE UPDATE, DELETE, TRUNCATE ON os_core.work_order_ledger FROM selene_owner;
REVOKE UPDATE, DELETE, TRUNCATE ON ph1j.audit_events FROM selene_owner;

-- Partitions (os_core.partition_by_tenant): privileges are checked on the table a
-- query names, so nobody but the owner holds any on a partition, and the owner
-- not UPDATE, DELETE or TRUNCATE. Nothing to do on an unpartitioned database.
DO $partitions$
DECLARE
    _partition regclass;
BEGIN
    FOR _partition IN
        SELECT c.oid FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace) AND c.relispartition
            AND c.relkind IN ('r', 'p')
        ORDER BY c.oid::regclass::text
    LOOP
        EXECUTE format(
            'REVOKE ALL ON TABLE %s FROM PUBLIC, selene_os, selene_dba, selene_projector', _partition
        );
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON TABLE %s FROM selene_owner', _partition);
    END LOOP;
END;
$partitions$;

GRANT USAGE ON SCHEMA os_core TO selene_os, selene_dba, selene_projector;

-- Every function granted here is a row of os_core.capabilities() with these roles
-- (tests/test_capabilities.py and pgtap_tests/schema.sql check it both ways).
GRANT EXECUTE ON FUNCTION
os_core.set_tenant(text),
os_core.error_codes(),
os_core.capabilities(),
os_core.work_order_ledger_append(
    text, text, numeric, bigint, text, text, bigint, bigint, text, text, text, text, bigint,
    text, jsonb, integer, bigint
),
os_core.work_order_ledger_append_many(text, jsonb),
os_core.work_order_current_read(text, text),
os_core.work_order_ledger_read(text, text, bigint, integer),
os_core.audit_read(text, bigint, integer),
os_core.work_order_cancel(text, text, bigint, text, bigint, bigint),
os_core.work_orders_list_pending(text, text[], bigint, integer),
os_core.work_order_step_attempts_read(text, text),
os_core.work_order_lease_read(text, text),
os_core.work_orders_current_rebuild(text, boolean),
os_core.work_orders_current_verify(text, boolean),
os_core.tenant_stats(text),
os_core.consumer_position(text, text, text),
os_core.consumer_commit(text, text, bigint, text),
os_core.consumer_stats(text),
-- What those three call as the caller: their work, where the rows are (on Citus,
-- delegated to the tenant's worker, which runs it as the caller's login role) ...
os_core.work_orders_current_rebuild_local(text, boolean),
os_core.work_orders_current_verify_local(text, boolean),
os_core.tenant_stats_local(text),
-- ... the tenants a call covers (on Citus, for every tenant, the list read as the
-- DBA: sql/citus/tenant_list_grants.sql gives selene_dba the tenant_id column there),
-- and the checks they make first, which raise errors and reveal nothing.
os_core.scope_tenant_ids(text),
os_core.is_distributed(),
os_core.require_dba_or_tenant_scope(text)
TO selene_os, selene_dba;

-- The rule of the domains work_order_id, step_id and token_text. Reading a
-- capability's rows checks their domains again where the rows arrive as text: on a
-- Citus coordinator, from the worker that ran the call, as the caller. It reads and
-- reveals nothing.
GRANT EXECUTE ON FUNCTION os_core.is_blank(text) TO selene_os, selene_dba;

-- Rebuild and verify run as selene_projector: they read the ledger through the
-- *_from_ledger views (security_invoker), rewrite the projections, and audit.
GRANT SELECT ON os_core.work_order_ledger TO selene_projector;
GRANT SELECT, INSERT, UPDATE, DELETE
ON os_core.work_orders_current, os_core.work_order_step_attempts, os_core.work_order_leases
TO selene_projector;
GRANT SELECT ON
os_core.work_orders_current_from_ledger,
os_core.work_order_step_attempts_from_ledger,
os_core.work_order_leases_from_ledger
TO selene_projector;
GRANT USAGE ON SCHEMA ph1j TO selene_projector;
GRANT INSERT ON ph1j.audit_events TO selene_projector;
GRANT EXECUTE ON FUNCTION
os_core.is_blank(text),
os_core.is_terminal_status(text),
os_core.current_tenant_id(),
os_core.require_tenant_scope(text),
os_core.require_dba_or_tenant_scope(text),
os_core.lock_work_order(text, text),
os_core.raise_error(text, text, text),
os_core.error_codes(),
os_core.projection_drift(text, boolean),
os_core.is_distributed(),
ph1j.draw_audit_event_id(),
ph1j.emit_diagnostic_audit(text, text, text, jsonb)
TO selene_projector;
