-- append: one FIELD_SET event through os_core.work_order_ledger_append, the way a
-- service appends: its own transaction, the tenant declared first (as selene_os).
-- Each client appends only to its own work orders (w = client_id mod clients), so
-- no two clients race on one work order and created_at (the clock, in ns) never
-- goes backwards within a work order. Variables: tenants, work_orders, clients.
\set t random(1, :tenants)
\set w random(0, :work_orders / :clients - 1) * :clients + :client_id
\set corr :t * 10000000 + :w + 1
BEGIN;
SELECT os_core.set_tenant('bench-' || :t);
SELECT work_order_event_id, idempotency_replay
FROM os_core.work_order_ledger_append(
    p_tenant_id => 'bench-' || :t,
    p_work_order_id => 'wo-' || :w,
    p_correlation_id => :corr,
    p_turn_id => 2,
    p_event_type => 'FIELD_SET',
    p_work_order_status => 'DRAFT',
    p_reason_code => 7,
    p_created_at => (extract(EPOCH FROM clock_timestamp()) * 1000000)::bigint * 1000,
    p_idempotency_key => gen_random_uuid()::text,
    p_payload => '{"field": "priority", "value": 3}'
);
END;
