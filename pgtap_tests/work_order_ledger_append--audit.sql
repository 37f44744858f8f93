-- work_order_ledger_append--audit: PH1.J audit (design §6). Proves that every successful append writes
-- one ph1j.audit_events row in the same transaction, carrying tenant_id,
-- work_order_id, correlation_id, turn_id, event_type, reason_code,
-- idempotency_key, the event id, the outcome and the capability; that a replay
-- writes one row with outcome OS_WORK_ORDER_IDEMPOTENCY_REPLAY naming the
-- original event and the created_at the replay carried (replay_created_at, which a
-- retry may have re-stamped); that a rejected append writes none; and that
-- row-level security hides other tenants' audit rows.
BEGIN;
\ir support/helpers.sql

SELECT plan(18);

CREATE TABLE tap.ids (name text PRIMARY KEY, work_order_event_id bigint);
GRANT ALL ON tap.ids TO PUBLIC;

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');
INSERT INTO tap.ids
SELECT 'created', work_order_event_id FROM tap.append(p_work_order_id => 'wo-au', p_correlation_id => 77,
    p_turn_id => 3, p_reason_code => 4001, p_idempotency_key => 'key-create', p_created_at => 100);
INSERT INTO tap.ids
SELECT 'field', work_order_event_id FROM tap.append(p_work_order_id => 'wo-au', p_correlation_id => 77,
    p_event_type => 'FIELD_SET', p_work_order_status => 'CLARIFY', p_turn_id => 4, p_reason_code => 4002,
    p_created_at => 200, p_payload => '{"fields": {"a": 1}}');
SELECT is(tap.audit_count('acme', 'wo-au'), 2::bigint, 'Two appends wrote two audit rows.');
SELECT is(tap.ledger_count('acme', 'wo-au'), 2::bigint, 'and two ledger rows.');

SELECT throws_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-au', p_correlation_id => 77, p_event_type => 'FIELD_SET',
        p_turn_id => 0, p_created_at => 300)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'An append breaking a field rule is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-au', p_correlation_id => 77, p_event_type => 'FIELD_SET',
        p_created_at => 50)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'An append breaking a history rule is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-au', p_correlation_id => 77, p_turn_id => 9,
        p_idempotency_key => 'key-create', p_created_at => 100)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A reused idempotency key with different content is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_tenant_id => 'globex', p_work_order_id => 'wo-au')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'An append out of tenant scope is refused.'
);
SELECT is(tap.audit_count(), 2::bigint, 'The four rejected appends wrote no audit row.');

-- A retry re-stamps its clock: the replay carries created_at 150, the event keeps 100.
INSERT INTO tap.ids
SELECT 'replay', work_order_event_id FROM tap.append(p_work_order_id => 'wo-au', p_correlation_id => 77,
    p_turn_id => 3, p_reason_code => 4001, p_idempotency_key => 'key-create', p_created_at => 150);
RESET ROLE;

-- Acting as selene_os (tenant acme), with audit notifications switched on
SELECT tap.act_as('selene_os', 'acme');
SET LOCAL selene.audit_notify = on;
SELECT lives_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-notify')$$,
    'With selene.audit_notify on, an append also notifies channel ph1j_audit, and succeeds.'
);
SELECT is(tap.audit_count('acme', 'wo-notify'), 1::bigint, 'With notifications on, the append still writes one audit row.');
SET LOCAL selene.audit_notify = off;
RESET ROLE;

-- Acting as selene_os (tenant globex)
SELECT tap.act_as('selene_os', 'globex');
SELECT lives_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-gx', p_correlation_id => 88, p_turn_id => 1, p_reason_code => 9)$$,
    'globex appends an event of its own.'
);
RESET ROLE;

-- Acting as postgres (superuser, past row-level security)
SELECT results_eq(
    $$
    SELECT tenant_id::text, capability, outcome, work_order_id::text, correlation_id::numeric, turn_id::bigint,
        event_type::text, reason_code::bigint, idempotency_key::text, work_order_event_id,
        replay_created_at::bigint
    FROM ph1j.audit_events
    WHERE tenant_id = 'acme' AND work_order_id = 'wo-au'
    ORDER BY audit_event_id
    $$,
    $$
    SELECT 'acme', 'OS_WORK_ORDER_LEDGER_APPEND', v.outcome, 'wo-au', 77::numeric, v.turn_id::bigint,
        v.event_type, v.reason_code::bigint, v.idempotency_key, i.work_order_event_id, v.replay_created_at
    FROM (
        VALUES
            (1, 'created', 'APPENDED', 3, 'WORK_ORDER_CREATED', 4001, 'key-create', NULL::bigint),
            (2, 'field', 'APPENDED', 4, 'FIELD_SET', 4002, NULL, NULL),
            (3, 'created', 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY', 3, 'WORK_ORDER_CREATED', 4001, 'key-create', 150)
    ) AS v (n, name, outcome, turn_id, event_type, reason_code, idempotency_key, replay_created_at)
    INNER JOIN tap.ids AS i ON i.name = v.name
    ORDER BY v.n
    $$,
    'Each audit row carries the event''s fields, its id, the outcome and the capability; the replay names the original event and the created_at it carried.'
);
SELECT results_eq(
    $$SELECT created_at::bigint FROM os_core.work_order_ledger WHERE tenant_id = 'acme' AND idempotency_key = 'key-create'$$,
    $$VALUES (100::bigint)$$,
    'The replayed event keeps its own created_at in the ledger: only the audit row knows the retry''s.'
);
SELECT results_eq(
    $$
    SELECT a.work_order_event_id, a.correlation_id::numeric, a.turn_id::bigint, a.event_type::text,
        a.reason_code::bigint, a.idempotency_key::text
    FROM ph1j.audit_events AS a
    WHERE a.outcome = 'APPENDED'
    ORDER BY a.work_order_event_id
    $$,
    $$
    SELECT l.work_order_event_id, l.correlation_id::numeric, l.turn_id::bigint, l.event_type::text,
        l.reason_code::bigint, l.idempotency_key::text
    FROM os_core.work_order_ledger AS l
    ORDER BY l.work_order_event_id
    $$,
    'Every ledger event has exactly one APPENDED audit row with the same fields, in every tenant.'
);
SELECT is_empty(
    $$
    SELECT a.audit_event_id
    FROM ph1j.audit_events AS a
    INNER JOIN os_core.work_order_ledger AS l
        ON l.tenant_id = a.tenant_id AND l.work_order_event_id = a.work_order_event_id
    WHERE a.outcome = 'APPENDED' AND a.recorded_at <> l.recorded_at
    $$,
    'Each APPENDED audit row was written by the very statement that appended its event.'
);

-- Acting as selene_os (tenant acme), inside a savepoint that is then rolled back
SAVEPOINT before_append;
SELECT tap.act_as('selene_os', 'acme');
SELECT * FROM tap.append(p_work_order_id => 'wo-rolled-back') \g /dev/null
ROLLBACK TO SAVEPOINT before_append;

-- Acting as postgres (superuser)
SELECT is(
    tap.audit_count('acme', 'wo-rolled-back'), 0::bigint,
    'An append rolled back takes its audit row with it: both are in the caller''s transaction.'
);

-- Acting as selene_owner (tenant globex): forced row-level security
SELECT tap.act_as('selene_owner', 'globex');
SELECT results_eq(
    $$SELECT tenant_id::text, work_order_id::text, outcome FROM ph1j.audit_events$$,
    $$VALUES ('globex', 'wo-gx', 'APPENDED')$$,
    'Row-level security shows globex only its own audit row.'
);
SELECT throws_ok(
    $$
    INSERT INTO ph1j.audit_events (
        tenant_id, capability, outcome, work_order_id, correlation_id, turn_id, event_type,
        reason_code, work_order_event_id
    ) VALUES ('acme', 'OS_WORK_ORDER_LEDGER_APPEND', 'APPENDED', 'wo-forged', 1, 1, 'WORK_ORDER_CREATED', 1, 1)
    $$,
    '42501', NULL,
    'Row-level security refuses the owner an audit row for another tenant.'
);
RESET ROLE;

-- Acting as selene_owner (tenant acme)
SELECT tap.act_as('selene_owner', 'acme');
SELECT is(
    (SELECT count(*) FROM ph1j.audit_events WHERE tenant_id <> 'acme'),
    0::bigint,
    'Row-level security shows acme none of globex''s audit rows, even when asked by name.'
);
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
