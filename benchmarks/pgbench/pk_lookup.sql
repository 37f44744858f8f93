-- pk_lookup: the ceiling of current_read.sql. The same row by primary key, one
-- autocommit SELECT by the superuser (no row-level security, no function).
\set t random(1, :tenants)
\set w random(0, :work_orders - 1)
SELECT * FROM os_core.work_orders_current
WHERE tenant_id = 'bench-' || :t AND work_order_id = 'wo-' || :w;
