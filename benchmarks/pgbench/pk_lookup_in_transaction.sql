-- pk_lookup_in_transaction: pk_lookup.sql inside the envelope current_read.sql needs
-- (BEGIN, the tenant declared with set_config, COMMIT), still as the superuser and
-- without the function: current_read against it is the cost of the function and of
-- row-level security alone, the round trips being equal.
\set t random(1, :tenants)
\set w random(0, :work_orders - 1)
BEGIN;
SELECT set_config('selene.tenant_id', 'bench-' || :t, TRUE);
SELECT * FROM os_core.work_orders_current
WHERE tenant_id = 'bench-' || :t AND work_order_id = 'wo-' || :w;
END;
