-- work_order_cancel: WORKORDER_CANCEL (design §7). Proves that os_core.work_order_cancel
-- appends a WORK_ORDER_CANCELED event with status CANCELED and the work order's own
-- correlation_id through the append path (ledger, projection, audit), and returns
-- (work_order_id, 'CANCELED', last_event_id); that a replayed cancel returns the same
-- result and writes only an audit row, also when the retry carries a later created_at
-- (the first cancel's stays, the audit row records the retry's); that a work order already DONE, REFUSED,
-- FAILED or CANCELED is refused with SE005, a missing one and bad arguments with
-- SE004, another tenant with SE003, each writing nothing; and that the arguments are
-- checked before the work order's state.
BEGIN;
\ir support/helpers.sql

SELECT plan(46);

CREATE TABLE tap.ids (name text PRIMARY KEY, work_order_event_id bigint);
CREATE TABLE tap.results (name text PRIMARY KEY, work_order_id text, work_order_status text, last_event_id bigint);
GRANT ALL ON tap.ids, tap.results TO PUBLIC;

-- Acting as selene_os (tenant globex): a work order with the same id as acme's
SELECT tap.act_as('selene_os', 'globex');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-1')$$, 'globex creates its own wo-1.');
RESET ROLE;

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');
INSERT INTO tap.ids
SELECT 'created', work_order_event_id FROM tap.append(p_work_order_id => 'wo-1', p_created_at => 1000);
DO $$
BEGIN
    -- One work order per terminal status, and one per status a cancel may follow.
    PERFORM tap.append(p_work_order_id => 'wo-done');
    PERFORM tap.append(p_work_order_id => 'wo-done', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'DONE', p_created_at => 2000);
    PERFORM tap.append(p_work_order_id => 'wo-refused');
    PERFORM tap.append(p_work_order_id => 'wo-refused', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'REFUSED', p_created_at => 2000);
    PERFORM tap.append(p_work_order_id => 'wo-failed');
    PERFORM tap.append(p_work_order_id => 'wo-failed', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'FAILED', p_created_at => 2000);
    PERFORM tap.append(p_work_order_id => 'wo-clarify');
    PERFORM tap.append(p_work_order_id => 'wo-clarify', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'CLARIFY', p_created_at => 2000);
    PERFORM tap.append(p_work_order_id => 'wo-confirm');
    PERFORM tap.append(p_work_order_id => 'wo-confirm', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'CONFIRM', p_created_at => 2000);
    PERFORM tap.append(p_work_order_id => 'wo-leased');
    PERFORM tap.append(p_work_order_id => 'wo-leased', p_event_type => 'STEP_STARTED', p_work_order_status => 'EXECUTING', p_created_at => 2000,
        p_step_id => 'step-1', p_lease_owner_id => 'worker-1', p_lease_token_hash => 'tok-1', p_lease_expires_at => 999999);
    PERFORM tap.append(p_work_order_id => 'wo-keyed', p_idempotency_key => 'key-used');
END
$$;

-- The cancel.
INSERT INTO tap.results
SELECT 'first', * FROM os_core.work_order_cancel('acme', 'wo-1', 77, 'cancel-1', 3000, 5);
SELECT results_eq(
    $$SELECT work_order_id, work_order_status FROM tap.results WHERE name = 'first'$$,
    $$VALUES ('wo-1', 'CANCELED')$$,
    'A cancel returns the work order id and the status CANCELED.'
);
SELECT results_eq(
    $$SELECT last_event_id FROM tap.results WHERE name = 'first'$$,
    $$SELECT max(work_order_event_id) FROM os_core.work_order_ledger_read('acme', 'wo-1')$$,
    'The last_event_id returned is the id of the work order''s newest ledger event.'
);
SELECT results_eq(
    $$SELECT l.event_type::text, l.work_order_status::text, l.correlation_id::numeric, l.reason_code::bigint,
        l.turn_id::bigint, l.created_at::bigint, l.idempotency_key::text, l.step_id::text, l.payload
      FROM os_core.work_order_ledger_read('acme', 'wo-1') AS l
      WHERE l.work_order_event_id = (SELECT last_event_id FROM tap.results WHERE name = 'first')$$,
    $$VALUES ('WORK_ORDER_CANCELED', 'CANCELED', tap.correlation_id('wo-1'), 77::bigint, 5::bigint, 3000::bigint,
        'cancel-1', NULL::text, NULL::jsonb)$$,
    'The event is a WORK_ORDER_CANCELED with status CANCELED, the work order''s correlation_id and the given fields.'
);
SELECT results_eq(
    $$SELECT work_order_status::text, last_event_id, last_reason_code::bigint, last_updated_at::bigint, turn_id::bigint, event_count
      FROM os_core.work_order_current_read('acme', 'wo-1')$$,
    $$SELECT 'CANCELED', last_event_id, 77::bigint, 3000::bigint, 5::bigint, 2::bigint FROM tap.results WHERE name = 'first'$$,
    'The current record follows the cancel: CANCELED, its event, reason, time and turn, two events.'
);
SELECT is(tap.ledger_count('acme', 'wo-1'), 2::bigint, 'The cancel appended exactly one ledger row.');
RESET ROLE;

-- Acting as selene_os (tenant globex)
SELECT tap.act_as('selene_os', 'globex');
SELECT results_eq(
    $$SELECT work_order_status::text, event_count FROM os_core.work_order_current_read('globex', 'wo-1')$$,
    $$VALUES ('DRAFT', 1::bigint)$$,
    'globex''s wo-1, of the same id, is not touched.'
);
RESET ROLE;

-- Acting as postgres (superuser, reading the audit trail)
SELECT results_eq(
    $$SELECT capability, outcome, event_type::text, reason_code::bigint, idempotency_key::text, work_order_event_id
      FROM ph1j.audit_events WHERE tenant_id = 'acme' AND work_order_id = 'wo-1' ORDER BY audit_event_id$$,
    $$SELECT 'OS_WORK_ORDER_LEDGER_APPEND', 'APPENDED', 'WORK_ORDER_CREATED', 1::bigint, NULL::text, work_order_event_id
        FROM tap.ids WHERE name = 'created'
      UNION ALL
      SELECT 'OS_WORK_ORDER_LEDGER_APPEND', 'APPENDED', 'WORK_ORDER_CANCELED', 77::bigint, 'cancel-1', last_event_id
        FROM tap.results WHERE name = 'first'$$,
    'The cancel is audited by the append, as an APPENDED WORK_ORDER_CANCELED.'
);

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');

-- A replayed cancel.
SELECT results_eq(
    $$SELECT * FROM os_core.work_order_cancel('acme', 'wo-1', 77, 'cancel-1', 3000, 5)$$,
    $$SELECT work_order_id, work_order_status, last_event_id FROM tap.results WHERE name = 'first'$$,
    'The same cancel again returns the first result.'
);
SELECT is(tap.ledger_count('acme', 'wo-1'), 2::bigint, 'The replayed cancel wrote no ledger row.');
SELECT is(tap.audit_count('acme', 'wo-1'), 3::bigint, 'The replayed cancel wrote one audit row.');
SELECT results_eq(
    $$SELECT last_event_id, event_count FROM os_core.work_order_current_read('acme', 'wo-1')$$,
    $$SELECT last_event_id, 2::bigint FROM tap.results WHERE name = 'first'$$,
    'The replayed cancel did not move the projection.'
);
RESET ROLE;

-- Acting as postgres (superuser, reading the audit trail)
SELECT results_eq(
    $$SELECT outcome, work_order_event_id FROM ph1j.audit_events
      WHERE tenant_id = 'acme' AND work_order_id = 'wo-1' ORDER BY audit_event_id DESC LIMIT 1$$,
    $$SELECT 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY', last_event_id FROM tap.results WHERE name = 'first'$$,
    'Its audit row is an OS_WORK_ORDER_IDEMPOTENCY_REPLAY of the cancel event.'
);

-- Acting as selene_os (tenant acme): the cancel retried, its created_at re-stamped
SELECT tap.act_as('selene_os', 'acme');
SELECT results_eq(
    $$SELECT * FROM os_core.work_order_cancel('acme', 'wo-1', 77, 'cancel-1', 3001, 5)$$,
    $$SELECT work_order_id, work_order_status, last_event_id FROM tap.results WHERE name = 'first'$$,
    'The cancel retried with a later created_at returns the first result: a replay.'
);
SELECT results_eq(
    $$SELECT last_updated_at::bigint, event_count FROM os_core.work_order_current_read('acme', 'wo-1')$$,
    $$VALUES (3000::bigint, 2::bigint)$$,
    'The re-stamped retry wrote no event: the first cancel''s created_at stays.'
);
RESET ROLE;

-- Acting as postgres (superuser, reading the audit trail)
SELECT results_eq(
    $$SELECT outcome, work_order_event_id, replay_created_at::bigint FROM ph1j.audit_events
      WHERE tenant_id = 'acme' AND work_order_id = 'wo-1' ORDER BY audit_event_id DESC LIMIT 1$$,
    $$SELECT 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY', last_event_id, 3001::bigint FROM tap.results WHERE name = 'first'$$,
    'Its audit row is a replay of the cancel event that records the created_at the retry carried.'
);

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');

-- Refusals: each writes nothing. acme has 15 ledger rows and 17 audit rows so far.
SELECT is(tap.ledger_count('acme'), 15::bigint, 'Before the refusals acme has 15 ledger rows.');
SELECT is(tap.audit_count('acme'), 17::bigint, 'Before the refusals acme has 17 audit rows.');
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_cancel('acme', 'wo-1', 77, 'cancel-2', 4000, 6)$$,
    'SE005', 'OS_WORK_ORDER_CANCEL_INVALID_STATE',
    'A second cancel, with a new key, of a CANCELED work order is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_cancel('acme', 'wo-1', 78, 'cancel-1', 3000, 5)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'The cancel''s key with another reason_code is refused as the append refuses it.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_cancel('acme', 'wo-done', 1, 'cancel-done', 3000, 2)$$,
    'SE005', 'OS_WORK_ORDER_CANCEL_INVALID_STATE',
    'A DONE work order cannot be canceled.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_cancel('acme', 'wo-refused', 1, 'cancel-refused', 3000, 2)$$,
    'SE005', 'OS_WORK_ORDER_CANCEL_INVALID_STATE',
    'A REFUSED work order cannot be canceled.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_cancel('acme', 'wo-failed', 1, 'cancel-failed', 3000, 2)$$,
    'SE005', 'OS_WORK_ORDER_CANCEL_INVALID_STATE',
    'A FAILED work order cannot be canceled.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_cancel('acme', 'wo-404', 1, 'cancel-404', 3000, 2)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A work order that does not exist cannot be canceled.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_cancel('acme', 'wo-clarify', 1, 'cancel-back', 1500, 2)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A cancel whose created_at goes backwards is refused by the append''s rule.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_cancel('acme', 'wo-keyed', 1, 'key-used', 3000, 2)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A key that already names another event of the work order is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_cancel('acme', 'wo-clarify', 1, NULL, 3000, 2)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A cancel without an idempotency_key is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_cancel('acme', 'wo-clarify', 1, E' \t', 3000, 2)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A blank idempotency_key is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_cancel('acme', 'wo-clarify', 0, 'cancel-r0', 3000, 2)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A reason_code of 0 is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_cancel('acme', 'wo-clarify', 1, 'cancel-t0', 3000, 0)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A turn_id of 0 is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_cancel('acme', 'wo-clarify', 1, 'cancel-c0', NULL, 2)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A NULL created_at is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_cancel('acme', NULL, 1, 'cancel-null', 3000, 2)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A NULL work_order_id is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_cancel('acme', 'wo-done', 0, 'cancel-done-r0', 3000, 2)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'Arguments are checked before the state: a bad reason_code on a DONE work order is SE004.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_cancel('globex', 'wo-1', 1, 'cancel-globex', 3000, 2)$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'A cancel for a tenant other than the declared one is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_cancel('globex', 'wo-1', 0, NULL, NULL, NULL)$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'The tenant scope is checked first, before the arguments.'
);
SELECT is(tap.ledger_count('acme'), 15::bigint, 'The refusals wrote no ledger row in acme.');
SELECT is(tap.audit_count('acme'), 17::bigint, 'The refusals wrote no audit row in acme.');
SELECT results_eq(
    $$SELECT work_order_status::text, event_count FROM os_core.work_order_current_read('acme', 'wo-done')$$,
    $$VALUES ('DONE', 2::bigint)$$,
    'The refused work order keeps its status and events.'
);
RESET ROLE;

-- Acting as selene_os (no tenant declared)
SELECT tap.act_as('selene_os', NULL);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_cancel('acme', 'wo-clarify', 1, 'cancel-none', 3000, 2)$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'A cancel with no tenant declared is refused.'
);
RESET ROLE;

-- Acting as selene_os (tenant acme): the statuses a cancel may follow
SELECT tap.act_as('selene_os', 'acme');
SELECT results_eq(
    $$SELECT work_order_id, work_order_status FROM os_core.work_order_cancel('acme', 'wo-clarify', 1, 'cancel-c', 3000, 2)$$,
    $$VALUES ('wo-clarify', 'CANCELED')$$,
    'A CLARIFY work order can be canceled.'
);
SELECT results_eq(
    $$SELECT work_order_id, work_order_status FROM os_core.work_order_cancel('acme', 'wo-confirm', 1, 'cancel-c', 3000, 2)$$,
    $$VALUES ('wo-confirm', 'CANCELED')$$,
    'A CONFIRM work order can be canceled (keys are per work order).'
);
SELECT results_eq(
    $$SELECT work_order_id, work_order_status FROM os_core.work_order_cancel('acme', 'wo-leased', 1, 'cancel-l', 3000, 2)$$,
    $$VALUES ('wo-leased', 'CANCELED')$$,
    'An EXECUTING work order under another worker''s lease can be canceled: a cancel takes no lease.'
);
SELECT results_eq(
    $$SELECT work_order_status::text, step_id::text, lease_owner_id::text, lease_token_hash::text, lease_expires_at::bigint
      FROM os_core.work_order_current_read('acme', 'wo-leased')$$,
    $$VALUES ('CANCELED', 'step-1', NULL::text, NULL::text, NULL::bigint)$$,
    'The cancel clears the lease of the current record and keeps its step.'
);
SELECT results_eq(
    $$SELECT work_order_id, work_order_status FROM os_core.work_order_cancel('acme', 'wo-keyed', 1, 'cancel-k', 3000, 2)$$,
    $$VALUES ('wo-keyed', 'CANCELED')$$,
    'A DRAFT work order can be canceled.'
);
SELECT is(tap.ledger_count('acme'), 19::bigint, 'The four cancels appended four ledger rows.');
RESET ROLE;

-- Acting as selene_dba (tenant acme)
SELECT tap.act_as('selene_dba', 'acme');
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_cancel('acme', 'wo-clarify', 1, 'cancel-dba', 4000, 3)$$,
    'SE005', 'OS_WORK_ORDER_CANCEL_INVALID_STATE',
    'selene_dba is refused a cancel of a CANCELED work order too.'
);
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
