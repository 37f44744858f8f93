-- Privileges, last in the install order so that they cover every object.
-- selene_os and selene_dba get EXECUTE on the capability functions and nothing
-- else; PUBLIC gets nothing; nobody gets UPDATE, DELETE or TRUNCATE on the ledger
-- or the audit trail, not even their owner.

REVOKE ALL ON ALL TABLES IN SCHEMA os_core, ph1j FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA os_core, ph1j FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA os_core, ph1j FROM PUBLIC;
REVOKE ALL ON SCHEMA os_core, ph1j FROM PUBLIC;

REVOKE UPDATE, DELETE, TRUNCATE ON os_core.work_order_ledger FROM selene_owner;
REVOKE UPDATE, DELETE, TRUNCATE ON ph1j.audit_events FROM selene_owner;

GRANT USAGE ON SCHEMA os_core TO selene_os, selene_dba, selene_projector;

GRANT EXECUTE ON FUNCTION
os_core.set_tenant(text),
os_core.error_codes(),
os_core.work_order_ledger_append(
    text, text, numeric, bigint, text, text, bigint, bigint, text, text, text, text, bigint,
    text, jsonb, integer, bigint
),
os_core.work_order_current_read(text, text),
os_core.work_order_ledger_read(text, text, bigint, integer),
os_core.work_orders_current_rebuild(text)
TO selene_os, selene_dba;

-- The rebuild runs as selene_projector: it reads the ledger and rewrites the projections.
GRANT SELECT ON os_core.work_order_ledger TO selene_projector;
GRANT SELECT, INSERT, UPDATE, DELETE
ON os_core.work_orders_current, os_core.work_order_step_attempts, os_core.work_order_leases
TO selene_projector;
GRANT EXECUTE ON FUNCTION
os_core.is_blank(text),
os_core.is_terminal_status(text),
os_core.current_tenant_id(),
os_core.require_tenant_scope(text),
os_core.raise_error(text, text, text),
os_core.error_codes()
TO selene_projector;
