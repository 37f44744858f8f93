-- ledger_read: one keyset page (limit events) of a tenant's ledger through
-- os_core.work_order_ledger_read, from a random event id, in its own transaction
-- with the tenant declared (as selene_os). Variables: tenants, max_after, page.
\set t random(1, :tenants)
\set after random(0, :max_after)
BEGIN;
SELECT os_core.set_tenant('bench-' || :t);
SELECT * FROM os_core.work_order_ledger_read(
    p_tenant_id => 'bench-' || :t, p_after_event_id => :after, p_limit => :page
);
END;
