-- work_order_step_attempts_read: the step-attempt projection. Proves that STEP_STARTED opens
-- attempt n+1 of its step with its input hash and start, that STEP_FINISHED and
-- STEP_FAILED close the open attempt with their event, time and reason code, that
-- steps are numbered independently, that a second start while an attempt is open
-- and a close with none open are refused with SE004 and write nothing, and that
-- work_order_step_attempts_read returns the attempts in start order, for the
-- declared tenant only.
BEGIN;
\ir support/helpers.sql

SELECT plan(12);

CREATE TABLE tap.ids (name text PRIMARY KEY, work_order_event_id bigint);
GRANT ALL ON tap.ids TO PUBLIC;

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');
SELECT * FROM tap.append(p_work_order_id => 'wo-s', p_created_at => 100);
INSERT INTO tap.ids
SELECT 'survey-1', work_order_event_id FROM tap.append(p_work_order_id => 'wo-s',
    p_event_type => 'STEP_STARTED', p_work_order_status => 'EXECUTING', p_created_at => 200,
    p_step_id => 'survey', p_step_input_hash => 'in-1');

SELECT results_eq(
    $$SELECT step_id::text, attempt_index, attempt_status, step_input_hash::text, started_at::bigint,
        finished_event_id, finished_at::bigint, reason_code::bigint
      FROM os_core.work_order_step_attempts_read('acme', 'wo-s')$$,
    $$VALUES ('survey', 1, 'STARTED', 'in-1', 200::bigint, NULL::bigint, NULL::bigint, NULL::bigint)$$,
    'STEP_STARTED opens attempt 1 of its step, with its input hash and start time.'
);
SELECT is(
    (SELECT started_event_id FROM os_core.work_order_step_attempts_read('acme', 'wo-s')),
    (SELECT work_order_event_id FROM tap.ids WHERE name = 'survey-1'),
    'The attempt names the event that started it.'
);

SELECT throws_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-s', p_event_type => 'STEP_STARTED',
        p_work_order_status => 'EXECUTING', p_created_at => 250, p_step_id => 'survey')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A second STEP_STARTED of a step whose attempt is open is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-s', p_event_type => 'STEP_FINISHED',
        p_work_order_status => 'EXECUTING', p_created_at => 250, p_step_id => 'install')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'STEP_FINISHED of a step with no open attempt is refused.'
);
SELECT is(tap.ledger_count('acme', 'wo-s'), 2::bigint, 'The refused step events wrote no ledger row.');

INSERT INTO tap.ids
SELECT 'survey-1-failed', work_order_event_id FROM tap.append(p_work_order_id => 'wo-s',
    p_event_type => 'STEP_FAILED', p_work_order_status => 'EXECUTING', p_created_at => 300,
    p_step_id => 'survey', p_reason_code => 17);
SELECT results_eq(
    $$SELECT attempt_status, finished_at::bigint, reason_code::bigint,
        finished_event_id = (SELECT work_order_event_id FROM tap.ids WHERE name = 'survey-1-failed')
      FROM os_core.work_order_step_attempts_read('acme', 'wo-s')$$,
    $$VALUES ('FAILED', 300::bigint, 17::bigint, TRUE)$$,
    'STEP_FAILED closes the open attempt with its event, time and reason code.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-s', p_event_type => 'STEP_FAILED',
        p_work_order_status => 'EXECUTING', p_created_at => 350, p_step_id => 'survey')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A closed attempt cannot be closed again.'
);

SELECT * FROM tap.append(p_work_order_id => 'wo-s', p_event_type => 'STEP_STARTED',
    p_work_order_status => 'EXECUTING', p_created_at => 400, p_step_id => 'survey', p_step_input_hash => 'in-2');
SELECT * FROM tap.append(p_work_order_id => 'wo-s', p_event_type => 'STEP_STARTED',
    p_work_order_status => 'EXECUTING', p_created_at => 500, p_step_id => 'install');
SELECT * FROM tap.append(p_work_order_id => 'wo-s', p_event_type => 'STEP_FINISHED',
    p_work_order_status => 'EXECUTING', p_created_at => 600, p_step_id => 'survey', p_reason_code => 3);

SELECT results_eq(
    $$SELECT step_id::text, attempt_index, attempt_status, step_input_hash::text, reason_code::bigint
      FROM os_core.work_order_step_attempts_read('acme', 'wo-s')$$,
    $$VALUES ('survey', 1, 'FAILED', 'in-1', 17::bigint),
             ('survey', 2, 'FINISHED', 'in-2', 3::bigint),
             ('install', 1, 'STARTED', NULL, NULL::bigint)$$,
    'Attempts are numbered per step and read in the order they started.'
);
SELECT is_empty(
    $$SELECT * FROM os_core.work_order_step_attempts_read('acme', 'wo-unknown')$$,
    'An unknown work order has no attempts.'
);

-- Acting as selene_os (tenant globex)
SELECT tap.act_as('selene_os', 'globex');
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_step_attempts_read('acme', 'wo-s')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'Another tenant cannot read the attempts of acme.'
);
SELECT is_empty(
    $$SELECT * FROM os_core.work_order_step_attempts_read('globex', 'wo-s')$$,
    'The same work-order id in globex has no attempts.'
);
RESET ROLE;

-- Acting as postgres (superuser)
SELECT is(
    (SELECT count(*) FROM os_core.work_order_step_attempts_from_ledger AS v
     JOIN os_core.work_order_step_attempts AS a USING (tenant_id, work_order_id, step_id, attempt_index)
     WHERE to_jsonb(v) = to_jsonb(a)),
    3::bigint,
    'Each attempt row is exactly what the ledger defines.'
);

SELECT * FROM finish();
ROLLBACK;
