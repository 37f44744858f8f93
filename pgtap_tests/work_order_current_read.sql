-- work_order_current_read: OS_WORK_ORDER_CURRENT_READ. Proves that
-- os_core.work_order_current_read returns the one current record of a work order
-- of the declared tenant, with every column following the latest event (status,
-- turn, reason, time, step, lease, count), the lease cleared at a terminal status;
-- that it returns exactly the projection row; and that an unknown work order
-- gives no row rather than an error.
BEGIN;
\ir support/helpers.sql

SELECT plan(16);

CREATE TABLE tap.ids (name text PRIMARY KEY, work_order_event_id bigint);
GRANT ALL ON tap.ids TO PUBLIC;

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');
INSERT INTO tap.ids
SELECT 'created', work_order_event_id FROM tap.append(p_work_order_id => 'wo-r', p_correlation_id => 42,
    p_created_at => 100, p_reason_code => 10);

SELECT results_eq(
    $$SELECT * FROM os_core.work_order_current_read('acme', 'wo-r')$$,
    $$SELECT 'acme'::text, 'wo-r'::os_core.work_order_id, 1, 42::os_core.correlation_id,
        1::os_core.turn_id, 'DRAFT'::os_core.work_order_status, i.work_order_event_id,
        10::os_core.reason_code, 100::os_core.monotonic_ns, NULL::os_core.step_id,
        NULL::os_core.token_text, NULL::os_core.token_text, NULL::os_core.token_text,
        NULL::os_core.monotonic_ns, 1::bigint
      FROM tap.ids AS i WHERE i.name = 'created'$$,
    'After creation the current record is the WORK_ORDER_CREATED event, every column of it.'
);

INSERT INTO tap.ids
SELECT 'started', work_order_event_id FROM tap.append(p_work_order_id => 'wo-r', p_correlation_id => 42,
    p_event_type => 'STEP_STARTED', p_work_order_status => 'EXECUTING', p_created_at => 200, p_turn_id => 2,
    p_reason_code => 20, p_step_id => 'step-1', p_step_input_hash => 'in-1',
    p_lease_owner_id => 'worker-1', p_lease_token_hash => 'tok-1', p_lease_expires_at => 900);

SELECT results_eq(
    $$SELECT * FROM os_core.work_order_current_read('acme', 'wo-r')$$,
    $$SELECT 'acme'::text, 'wo-r'::os_core.work_order_id, 1, 42::os_core.correlation_id,
        2::os_core.turn_id, 'EXECUTING'::os_core.work_order_status, i.work_order_event_id,
        20::os_core.reason_code, 200::os_core.monotonic_ns, 'step-1'::os_core.step_id,
        'in-1'::os_core.token_text, 'worker-1'::os_core.token_text, 'tok-1'::os_core.token_text,
        900::os_core.monotonic_ns, 2::bigint
      FROM tap.ids AS i WHERE i.name = 'started'$$,
    'After STEP_STARTED with a lease the current record carries the step and the lease.'
);

SELECT lives_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-r', p_correlation_id => 42,
        p_event_type => 'FIELD_SET', p_work_order_status => 'EXECUTING', p_created_at => 300, p_turn_id => 3,
        p_reason_code => 30, p_payload => '{"fields": {"priority": "high"}}')$$,
    'A FIELD_SET without step or lease is appended.'
);
SELECT results_eq(
    $$SELECT turn_id::bigint, last_reason_code::bigint, last_updated_at::bigint, step_id::text,
        step_input_hash::text, lease_owner_id::text, lease_expires_at::bigint, event_count
      FROM os_core.work_order_current_read('acme', 'wo-r')$$,
    $$VALUES (3::bigint, 30::bigint, 300::bigint, 'step-1', 'in-1', 'worker-1', 900::bigint, 3::bigint)$$,
    'An event without step or lease moves turn, reason, time and count, and keeps the step and lease.'
);

SELECT lives_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-r', p_correlation_id => 42,
        p_event_type => 'STEP_STARTED', p_work_order_status => 'EXECUTING', p_created_at => 400, p_turn_id => 4,
        p_step_id => 'step-2')$$,
    'A STEP_STARTED of another step, without input hash, is appended.'
);
SELECT results_eq(
    $$SELECT step_id::text, step_input_hash::text FROM os_core.work_order_current_read('acme', 'wo-r')$$,
    $$VALUES ('step-2', NULL::text)$$,
    'The current step follows the latest event that names one, with that event''s input hash.'
);

INSERT INTO tap.ids
SELECT 'done', work_order_event_id FROM tap.append(p_work_order_id => 'wo-r', p_correlation_id => 42,
    p_event_type => 'STATUS_CHANGED', p_work_order_status => 'DONE', p_created_at => 500, p_turn_id => 5,
    p_reason_code => 50);
SELECT results_eq(
    $$SELECT work_order_status::text, c.last_event_id, last_reason_code::bigint, lease_owner_id::text,
        lease_token_hash::text, lease_expires_at::bigint, step_id::text, event_count
      FROM os_core.work_order_current_read('acme', 'wo-r') AS c$$,
    $$SELECT 'DONE', i.work_order_event_id, 50::bigint, NULL::text, NULL::text, NULL::bigint, 'step-2', 5::bigint
      FROM tap.ids AS i WHERE i.name = 'done'$$,
    'At DONE the lease is cleared, the step kept, and last_event_id is the DONE event.'
);

SELECT is(
    (SELECT count(*) FROM os_core.work_order_current_read('acme', 'wo-r')),
    1::bigint,
    'A work order has exactly one current record.'
);
SELECT is_empty(
    $$SELECT * FROM os_core.work_order_current_read('acme', 'wo-unknown')$$,
    'An unknown work order gives no row, not an error.'
);
SELECT is_empty(
    $$SELECT * FROM os_core.work_order_current_read('acme', 'WO-R')$$,
    'Work order ids are case-sensitive: WO-R is unknown.'
);
SELECT is_empty(
    $$SELECT * FROM os_core.work_order_current_read('acme', NULL)$$,
    'A NULL work_order_id gives no row.'
);
RESET ROLE;

-- Acting as selene_os (tenant globex)
SELECT tap.act_as('selene_os', 'globex');
SELECT is_empty(
    $$SELECT * FROM os_core.work_order_current_read('globex', 'wo-r')$$,
    'Another tenant has no wo-r.'
);
RESET ROLE;

-- Acting as selene_dba (tenant acme)
SELECT tap.act_as('selene_dba', 'acme');
SELECT results_eq(
    $$SELECT work_order_status::text, event_count FROM os_core.work_order_current_read('acme', 'wo-r')$$,
    $$VALUES ('DONE', 5::bigint)$$,
    'selene_dba reads the current record of a work order of its declared tenant.'
);
RESET ROLE;

-- Acting as postgres (superuser, tenant acme declared)
SELECT tap.act_as('none', 'acme');
SELECT results_eq(
    $$SELECT * FROM os_core.work_order_current_read('acme', 'wo-r')$$,
    $$SELECT * FROM os_core.work_orders_current WHERE tenant_id = 'acme' AND work_order_id = 'wo-r'$$,
    'The current record is exactly the work_orders_current row.'
);
SELECT results_eq(
    $$SELECT c.last_event_id FROM os_core.work_orders_current AS c WHERE tenant_id = 'acme' AND work_order_id = 'wo-r'$$,
    $$SELECT max(work_order_event_id) FROM os_core.work_order_ledger WHERE tenant_id = 'acme' AND work_order_id = 'wo-r'$$,
    'last_event_id is the highest event id of the work order in the ledger.'
);
SELECT results_eq(
    $$SELECT c.event_count FROM os_core.work_orders_current AS c WHERE tenant_id = 'acme' AND work_order_id = 'wo-r'$$,
    $$SELECT count(*) FROM os_core.work_order_ledger WHERE tenant_id = 'acme' AND work_order_id = 'wo-r'$$,
    'event_count is the number of ledger events of the work order.'
);

SELECT * FROM finish();
ROLLBACK;
