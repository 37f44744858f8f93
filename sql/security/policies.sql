-- Row-level security: every table shows and accepts only the rows of the tenant
-- declared for the transaction (os_core.current_tenant_id()). Forced on the
-- owner too; only superusers and selene_projector (BYPASSRLS) pass. On Citus,
-- selene_dba sees the tenant_id column of every row of the ledger and projections
-- (tenant_list).

DROP POLICY IF EXISTS tenant_isolation ON os_core.work_order_ledger;
CREATE POLICY tenant_isolation ON os_core.work_order_ledger
USING (tenant_id = os_core.current_tenant_id())
WITH CHECK (tenant_id = os_core.current_tenant_id());

DROP POLICY IF EXISTS tenant_isolation ON os_core.work_orders_current;
CREATE POLICY tenant_isolation ON os_core.work_orders_current
USING (tenant_id = os_core.current_tenant_id())
WITH CHECK (tenant_id = os_core.current_tenant_id());

DROP POLICY IF EXISTS tenant_isolation ON os_core.work_order_step_attempts;
CREATE POLICY tenant_isolation ON os_core.work_order_step_attempts
USING (tenant_id = os_core.current_tenant_id())
WITH CHECK (tenant_id = os_core.current_tenant_id());

DROP POLICY IF EXISTS tenant_isolation ON os_core.work_order_leases;
CREATE POLICY tenant_isolation ON os_core.work_order_leases
USING (tenant_id = os_core.current_tenant_id())
WITH CHECK (tenant_id = os_core.current_tenant_id());

DROP POLICY IF EXISTS tenant_isolation ON ph1j.audit_events;
CREATE POLICY tenant_isolation ON ph1j.audit_events
USING (tenant_id = os_core.current_tenant_id())
WITH CHECK (tenant_id = os_core.current_tenant_id());

DROP POLICY IF EXISTS tenant_isolation ON os_core.consumer_positions;
CREATE POLICY tenant_isolation ON os_core.consumer_positions
USING (tenant_id = os_core.current_tenant_id())
WITH CHECK (tenant_id = os_core.current_tenant_id());

DROP POLICY IF EXISTS tenant_list ON os_core.work_order_ledger;
CREATE POLICY tenant_list ON os_core.work_order_ledger FOR SELECT TO selene_dba USING (TRUE);

DROP POLICY IF EXISTS tenant_list ON os_core.work_orders_current;
CREATE POLICY tenant_list ON os_core.work_orders_current FOR SELECT TO selene_dba USING (TRUE);

DROP POLICY IF EXISTS tenant_list ON os_core.work_order_step_attempts;
CREATE POLICY tenant_list ON os_core.work_order_step_attempts FOR SELECT TO selene_dba USING (TRUE);

DROP POLICY IF EXISTS tenant_list ON os_core.work_order_leases;
CREATE POLICY tenant_list ON os_core.work_order_leases FOR SELECT TO selene_dba USING (TRUE);

COMMENT ON POLICY tenant_list ON os_core.work_order_ledger IS
'selene_dba sees every row, of which it may read only the tenant_id column, on Citus (sql/citus/tenant_list_grants.sql; elsewhere no column): the list of tenants, for os_core.scope_tenant_ids().';
COMMENT ON POLICY tenant_list ON os_core.work_orders_current IS
'selene_dba sees every row, of which it may read only the tenant_id column, on Citus (sql/citus/tenant_list_grants.sql; elsewhere no column): the list of tenants, for os_core.scope_tenant_ids().';
COMMENT ON POLICY tenant_list ON os_core.work_order_step_attempts IS
'selene_dba sees every row, of which it may read only the tenant_id column, on Citus (sql/citus/tenant_list_grants.sql; elsewhere no column): the list of tenants, for os_core.scope_tenant_ids().';
COMMENT ON POLICY tenant_list ON os_core.work_order_leases IS
'selene_dba sees every row, of which it may read only the tenant_id column, on Citus (sql/citus/tenant_list_grants.sql; elsewhere no column): the list of tenants, for os_core.scope_tenant_ids().';

COMMENT ON POLICY tenant_isolation ON os_core.work_order_ledger IS
'Rows of the declared tenant only (os_core.current_tenant_id()).';
COMMENT ON POLICY tenant_isolation ON os_core.work_orders_current IS
'Rows of the declared tenant only (os_core.current_tenant_id()).';
COMMENT ON POLICY tenant_isolation ON os_core.work_order_step_attempts IS
'Rows of the declared tenant only (os_core.current_tenant_id()).';
COMMENT ON POLICY tenant_isolation ON os_core.work_order_leases IS
'Rows of the declared tenant only (os_core.current_tenant_id()).';
COMMENT ON POLICY tenant_isolation ON ph1j.audit_events IS
'Rows of the declared tenant only (os_core.current_tenant_id()).';
COMMENT ON POLICY tenant_isolation ON os_core.consumer_positions IS
'Rows of the declared tenant only (os_core.current_tenant_id()).';

-- Partitions (os_core.partition_by_tenant): row-level security is checked on the
-- table a query names, so a partition queried directly needs its own. Enabled
-- and forced with no policy, a partition shows and accepts nothing to anyone but
-- superusers and BYPASSRLS roles; the product reads and writes the parent.
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
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', _partition);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', _partition);
    END LOOP;
END;
$partitions$;
