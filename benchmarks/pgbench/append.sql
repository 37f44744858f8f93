-- append: one FIELD_SET event through os_core.work_order_ledger_append, the way a
-- service appends: its own transaction, the tenant declared first (as selene_os).
-- Each client appends only to its own work orders (w = client_id mod clients), so
-- no two clients race on one work order and created_at (the clock, in ns) never
-- goes backwards within a work order. Variables: tenants, work_orders, clients.
-- The clock reading and the idempotency key come with the tenant's declaration (\gset)
-- and reach the append as parameters (pgbench -M prepared), as a client binds them:
-- a call with volatile expressions among its arguments is not delegated on Citus (the
-- citus suite runs this script too).
\set t random(1, :tenants)
\set w random(0, :work_orders / :clients - 1) * :clients + :client_id
\set corr :t * 10000000 + :w + 1
BEGIN;
SELECT
    os_core.set_tenant('bench-' || :t) AS declared,
    (extract(EPOCH FROM clock_timestamp()) * 1000000)::bigint * 1000 AS now_ns,
    gen_random_uuid()::text AS event_key \gset
SELECT work_order_event_id, idempotency_replay
FROM os_core.work_order_ledger_append(
    p_tenant_id => 'bench-' || :t,
    p_work_order_id => 'wo-' || :w,
    p_correlation_id => :corr,
    p_turn_id => 2,
    p_event_type => 'FIELD_SET',
    p_work_order_status => 'DRAFT',
    p_reason_code => 7,
    p_created_at => :now_ns,
    p_idempotency_key => :event_key,
    p_payload => '{"field": "priority", "value": 3}'
);
END;
