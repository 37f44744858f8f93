-- Undo 0006: tenant_id back to the domain, without paging_node_id.
-- The row-level security policies come back here (the tables must never be without
-- them); the *_from_ledger views come back with the next apply (post-apply), as the
-- functions of the version rolled back to do.

ALTER TABLE os_core.work_order_ledger DROP COLUMN paging_node_id;

DROP VIEW IF EXISTS os_core.work_orders_current_from_ledger;
DROP VIEW IF EXISTS os_core.work_order_step_attempts_from_ledger;
DROP VIEW IF EXISTS os_core.work_order_leases_from_ledger;
DROP POLICY IF EXISTS tenant_isolation ON os_core.work_order_ledger;
DROP POLICY IF EXISTS tenant_isolation ON os_core.work_orders_current;
DROP POLICY IF EXISTS tenant_isolation ON os_core.work_order_step_attempts;
DROP POLICY IF EXISTS tenant_isolation ON os_core.work_order_leases;
DROP POLICY IF EXISTS tenant_isolation ON ph1j.audit_events;

-- A partitioned table cannot change its partition key's type: it keeps text and
-- the check, the same rule.
DO $tenant_columns$
DECLARE
    _table regclass;
BEGIN
    FOREACH _table IN ARRAY ARRAY[
        'os_core.work_order_ledger', 'os_core.work_orders_current',
        'os_core.work_order_step_attempts', 'os_core.work_order_leases', 'ph1j.audit_events'
    ]::regclass[] LOOP
        CONTINUE WHEN (SELECT c.relkind FROM pg_catalog.pg_class AS c WHERE c.oid = _table) = 'p';
        EXECUTE format(
            'ALTER TABLE %s DROP CONSTRAINT tenant_id_format,'
            ' ALTER COLUMN tenant_id TYPE os_core.tenant_id',
            _table
        );
    END LOOP;
END;
$tenant_columns$;

CREATE POLICY tenant_isolation ON os_core.work_order_ledger
USING (tenant_id = os_core.current_tenant_id())
WITH CHECK (tenant_id = os_core.current_tenant_id());
CREATE POLICY tenant_isolation ON os_core.work_orders_current
USING (tenant_id = os_core.current_tenant_id())
WITH CHECK (tenant_id = os_core.current_tenant_id());
CREATE POLICY tenant_isolation ON os_core.work_order_step_attempts
USING (tenant_id = os_core.current_tenant_id())
WITH CHECK (tenant_id = os_core.current_tenant_id());
CREATE POLICY tenant_isolation ON os_core.work_order_leases
USING (tenant_id = os_core.current_tenant_id())
WITH CHECK (tenant_id = os_core.current_tenant_id());
CREATE POLICY tenant_isolation ON ph1j.audit_events
USING (tenant_id = os_core.current_tenant_id())
WITH CHECK (tenant_id = os_core.current_tenant_id());
