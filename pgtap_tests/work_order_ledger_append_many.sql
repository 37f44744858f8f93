-- work_order_ledger_append_many: the batch append. Proves that a batch of one
-- tenant's events is appended in order, one result row per event, as the single
-- appends would be (ledger rows, audit rows, the projection); that a replayed event
-- in a batch is reported as a replay; that a refused event aborts the whole batch
-- (SE004, nothing written); and that another tenant is out of scope (SE003).
-- The batch's equivalence with one-by-one appends is in tests/test_append_many.py.
BEGIN;
\ir support/helpers.sql

SELECT plan(7);

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');
CREATE TEMPORARY TABLE batch_results ON COMMIT DROP AS
SELECT * FROM os_core.work_order_ledger_append_many('acme', jsonb_build_array(
    jsonb_build_object('work_order_id', 'wo-b1', 'correlation_id', 101, 'turn_id', 1,
        'event_type', 'WORK_ORDER_CREATED', 'work_order_status', 'DRAFT', 'reason_code', 1,
        'created_at', 1000, 'idempotency_key', 'b1-create'),
    jsonb_build_object('work_order_id', 'wo-b1', 'correlation_id', 101, 'turn_id', 2,
        'event_type', 'STATUS_CHANGED', 'work_order_status', 'EXECUTING', 'reason_code', 1,
        'created_at', 2000),
    jsonb_build_object('work_order_id', 'wo-b2', 'correlation_id', 102, 'turn_id', 1,
        'event_type', 'WORK_ORDER_CREATED', 'work_order_status', 'DRAFT', 'reason_code', 1,
        'created_at', 1000)
));
SELECT results_eq(
    $$SELECT count(*)::integer, count(DISTINCT work_order_event_id)::integer, bool_or(idempotency_replay)
      FROM batch_results$$,
    $$VALUES (3, 3, FALSE)$$,
    'A batch of three new events gives three results, three event ids, no replay.'
);
SELECT ok(
    (SELECT array_agg(work_order_event_id ORDER BY event_index) = array_agg(work_order_event_id ORDER BY work_order_event_id)
     FROM batch_results),
    'The events are appended in the order of the batch.'
);
SELECT results_eq(
    $$SELECT work_order_status::text FROM os_core.work_order_current_read('acme', 'wo-b1')$$,
    $$VALUES ('EXECUTING')$$,
    'The projection follows the batch, as it follows single appends.'
);
RESET ROLE;

-- Acting as postgres (superuser)
SELECT is(tap.audit_count('acme'), 3::bigint, 'Each event of the batch wrote its audit row.');

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');
SELECT results_eq(
    $$SELECT idempotency_replay FROM os_core.work_order_ledger_append_many('acme', jsonb_build_array(
        jsonb_build_object('work_order_id', 'wo-b1', 'correlation_id', 101, 'turn_id', 1,
            'event_type', 'WORK_ORDER_CREATED', 'work_order_status', 'DRAFT', 'reason_code', 1,
            'created_at', 1000, 'idempotency_key', 'b1-create')))$$,
    $$VALUES (TRUE)$$,
    'An event of a batch whose key and content were appended before is a replay.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_ledger_append_many('acme', jsonb_build_array(
        jsonb_build_object('work_order_id', 'wo-b3', 'correlation_id', 103, 'turn_id', 1,
            'event_type', 'WORK_ORDER_CREATED', 'work_order_status', 'DRAFT', 'reason_code', 1,
            'created_at', 1000),
        jsonb_build_object('work_order_id', 'wo-b4', 'correlation_id', 104, 'turn_id', 1,
            'event_type', 'WORK_ORDER_CREATED', 'work_order_status', 'DRAFT', 'reason_code', 0,
            'created_at', 1000)))$$,
    'SE004', NULL,
    'A refused event (reason_code 0) refuses the whole batch with SE004.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_ledger_append_many('globex', '[]')$$,
    'SE003', NULL,
    'A batch for a tenant other than the declared one is out of scope (SE003).'
);
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
