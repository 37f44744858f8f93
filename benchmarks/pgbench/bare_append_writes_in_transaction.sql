-- bare_append_writes_in_transaction: the rows one append writes, by bare SQL, in the
-- envelope append.sql needs (BEGIN, the tenant declared with set_config, COMMIT): the
-- ledger row, the current row's update and the audit row, into the bare copies of the
-- three tables (same columns, domains, constraints, indexes and rows; no row-level
-- security, triggers or function), as one statement by the superuser. No validation,
-- idempotency lookup, lock, paging horizon, step or lease projection: what PostgreSQL
-- itself needs for an append's writes. The difference to append.sql is the function.
\set t random(1, :tenants)
\set w random(0, :work_orders / :clients - 1) * :clients + :client_id
\set corr :t * 10000000 + :w + 1
BEGIN;
SELECT set_config('selene.tenant_id', 'bench-' || :t, TRUE);
WITH event AS (
    INSERT INTO bench.bare_ledger (
        tenant_id, work_order_id, correlation_id, turn_id, event_type, work_order_status,
        reason_code, created_at, idempotency_key, payload
    ) VALUES (
        'bench-' || :t, 'wo-' || :w, :corr, 2, 'FIELD_SET', 'DRAFT', 7,
        (extract(EPOCH FROM clock_timestamp()) * 1000000)::bigint * 1000,
        gen_random_uuid()::text, '{"field": "priority", "value": 3}'
    )
    RETURNING *
),
current_row AS (
    UPDATE bench.bare_current AS c SET
        turn_id = e.turn_id,
        work_order_status = e.work_order_status,
        last_event_id = e.work_order_event_id,
        last_reason_code = e.reason_code,
        last_updated_at = e.created_at,
        event_count = c.event_count + 1
    FROM event AS e
    WHERE c.tenant_id = e.tenant_id AND c.work_order_id = e.work_order_id
    RETURNING c.work_order_id
)
INSERT INTO bench.bare_audit (
    tenant_id, capability, outcome, work_order_id, correlation_id, turn_id, event_type,
    reason_code, idempotency_key, work_order_event_id
)
SELECT
    e.tenant_id, 'OS_WORK_ORDER_LEDGER_APPEND', 'APPENDED', e.work_order_id,
    e.correlation_id, e.turn_id, e.event_type, e.reason_code, e.idempotency_key,
    e.work_order_event_id
FROM event AS e;
END;
