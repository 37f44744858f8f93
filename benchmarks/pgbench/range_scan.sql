-- range_scan: the ceiling of ledger_read.sql. The same page as one autocommit
-- index range scan of the primary key by the superuser (no horizon, no function).
\set t random(1, :tenants)
\set after random(0, :max_after)
SELECT * FROM os_core.work_order_ledger
WHERE tenant_id = 'bench-' || :t AND work_order_event_id > :after
ORDER BY work_order_event_id
LIMIT :page;
