-- bare_insert: the ceiling of append.sql. The same row, as one autocommit INSERT by
-- the superuser into bench.bare_ledger, a copy of the ledger (same columns, domains,
-- constraints, indexes and rows) without row-level security, triggers or function.
\set t random(1, :tenants)
\set w random(0, :work_orders / :clients - 1) * :clients + :client_id
\set corr :t * 10000000 + :w + 1
INSERT INTO bench.bare_ledger (
    tenant_id, work_order_id, correlation_id, turn_id, event_type, work_order_status,
    reason_code, created_at, idempotency_key, payload
) VALUES (
    'bench-' || :t, 'wo-' || :w, :corr, 2, 'FIELD_SET', 'DRAFT', 7,
    (extract(EPOCH FROM clock_timestamp()) * 1000000)::bigint * 1000,
    gen_random_uuid()::text, '{"field": "priority", "value": 3}'
);
