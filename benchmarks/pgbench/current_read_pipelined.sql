-- current_read_pipelined: current_read.sql with its four statements in one pipeline
-- (one round trip), as a client in pipeline mode sends them.
\set t random(1, :tenants)
\set w random(0, :work_orders - 1)
\startpipeline
BEGIN;
SELECT os_core.set_tenant('bench-' || :t);
SELECT * FROM os_core.work_order_current_read('bench-' || :t, 'wo-' || :w);
END;
\endpipeline
