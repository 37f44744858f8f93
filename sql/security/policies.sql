-- Row-level security: every table shows and accepts only the rows of the tenant
-- declared for the transaction (os_core.current_tenant_id()). Forced on the
-- owner too; only superusers and selene_projector (BYPASSRLS) pass.

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
