-- current_read: os_core.work_order_current_read of a random work order, in its own
-- transaction with the tenant declared (as selene_os). Variables: tenants, work_orders.
\set t random(1, :tenants)
\set w random(0, :work_orders - 1)
BEGIN;
SELECT os_core.set_tenant('bench-' || :t);
SELECT * FROM os_core.work_order_current_read('bench-' || :t, 'wo-' || :w);
END;
