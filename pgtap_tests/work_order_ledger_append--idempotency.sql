-- work_order_ledger_append--idempotency: AT-OS-CORE-DB-03. Proves that appending the same
-- (tenant_id, work_order_id, idempotency_key) with the same content returns the
-- original event id with idempotency_replay = true, writes no ledger row but one
-- audit row with outcome OS_WORK_ORDER_IDEMPOTENCY_REPLAY; that created_at is not
-- content (AT-OS-CORE-DB-03 as written: the same event again one nanosecond later
-- is a replay, the original created_at stays everywhere, and the audit row records
-- the one the retry carried); that the same key with different content is refused
-- (SE004) and writes nothing; that keys are scoped per work order and per tenant;
-- and that a replay still answers after a terminal status.
BEGIN;
\ir support/helpers.sql

SELECT plan(47);

CREATE TABLE tap.ids (name text PRIMARY KEY, work_order_event_id bigint, idempotency_replay boolean);
GRANT ALL ON tap.ids TO PUBLIC;

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');
INSERT INTO tap.ids
SELECT 'first', * FROM tap.append(p_idempotency_key => 'create-1', p_payload => '{"title": "fix the roof"}');
INSERT INTO tap.ids
SELECT 'again', * FROM tap.append(p_idempotency_key => 'create-1', p_payload => '{"title": "fix the roof"}');

SELECT is((SELECT idempotency_replay FROM tap.ids WHERE name = 'first'), FALSE, 'The first append of key create-1 is not a replay.');
SELECT is((SELECT idempotency_replay FROM tap.ids WHERE name = 'again'), TRUE, 'AT-OS-CORE-DB-03: the second append of key create-1 is a replay.');
SELECT is(
    (SELECT work_order_event_id FROM tap.ids WHERE name = 'again'),
    (SELECT work_order_event_id FROM tap.ids WHERE name = 'first'),
    'AT-OS-CORE-DB-03: the replay returns the original event id.'
);
SELECT is(tap.ledger_count('acme', 'wo-1'), 1::bigint, 'AT-OS-CORE-DB-03: the ledger holds one row for the key.');
RESET ROLE;

-- Acting as postgres (superuser, reading the audit trail)
SELECT results_eq(
    $$SELECT outcome, work_order_event_id FROM ph1j.audit_events WHERE tenant_id = 'acme' ORDER BY audit_event_id$$,
    $$SELECT o, i FROM (VALUES (1, 'APPENDED'), (2, 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY')) AS v (n, o)
      CROSS JOIN (SELECT work_order_event_id AS i FROM tap.ids WHERE name = 'first') AS f ORDER BY n$$,
    'Two audit rows name the original event: APPENDED, then OS_WORK_ORDER_IDEMPOTENCY_REPLAY.'
);

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');
SELECT results_eq(
    $$SELECT event_count, last_event_id FROM os_core.work_order_current_read('acme', 'wo-1')$$,
    $$SELECT 1::bigint, work_order_event_id FROM tap.ids WHERE name = 'first'$$,
    'The replay did not move the projection: one event, the original one.'
);
SELECT results_eq(
    $$SELECT * FROM tap.append(p_idempotency_key => 'create-1', p_payload => '{"title": "fix the roof"}')$$,
    $$SELECT work_order_event_id, TRUE FROM tap.ids WHERE name = 'first'$$,
    'A third identical append is a replay of the same event too.'
);
SELECT results_eq(
    $$SELECT * FROM tap.append(p_idempotency_key => 'create-1', p_payload => '{ "title" : "fix the roof" }')$$,
    $$SELECT work_order_event_id, TRUE FROM tap.ids WHERE name = 'first'$$,
    'A payload that differs only in JSON formatting is the same content: a replay.'
);
SELECT is(tap.audit_count('acme', 'wo-1'), 4::bigint, 'Each replay wrote its own audit row.');

-- Same key, different content: refused, nothing written.
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_idempotency_key => 'create-1', p_payload => '{"title": "fix the door"}')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'The same key with another payload is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_idempotency_key => 'create-1', p_payload => '{"title": "fix the roof"}', p_turn_id => 2)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'The same key with another turn_id is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_idempotency_key => 'create-1', p_payload => '{"title": "fix the roof"}',
        p_turn_id => 2, p_created_at => 1001)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'The same key with another turn_id is refused when created_at differs too.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_idempotency_key => 'create-1', p_payload => '{"title": "fix the roof"}', p_work_order_status => 'CLARIFY')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'The same key with another status is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_idempotency_key => 'create-1', p_payload => '{"title": "fix the roof"}', p_reason_code => 2)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'The same key with another reason_code is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_idempotency_key => 'create-1')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'The same key without the original payload is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_idempotency_key => 'create-1', p_payload => '{"title": "fix the roof"}',
        p_lease_owner_id => 'worker-1', p_lease_token_hash => 'h', p_lease_expires_at => 5000)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'The same key with a lease the original did not carry is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_idempotency_key => 'create-1', p_payload => '{"title": "fix the roof"}',
        p_correlation_id => tap.correlation_id('wo-1') + 1)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'The same key with another correlation_id is refused.'
);
SELECT is(tap.ledger_count('acme', 'wo-1'), 1::bigint, 'The refused appends wrote no ledger row.');
SELECT is(tap.audit_count('acme', 'wo-1'), 4::bigint, 'The refused appends wrote no audit row.');

-- The key is scoped per work order and per tenant.
INSERT INTO tap.ids
SELECT 'other work order', * FROM tap.append(p_work_order_id => 'wo-2', p_idempotency_key => 'create-1', p_payload => '{"title": "fix the roof"}');
SELECT is((SELECT idempotency_replay FROM tap.ids WHERE name = 'other work order'), FALSE, 'The same key on another work order is not a replay.');
SELECT isnt(
    (SELECT work_order_event_id FROM tap.ids WHERE name = 'other work order'),
    (SELECT work_order_event_id FROM tap.ids WHERE name = 'first'),
    'The same key on another work order is a different event.'
);
RESET ROLE;

-- Acting as selene_os (tenant globex)
SELECT tap.act_as('selene_os', 'globex');
INSERT INTO tap.ids
SELECT 'other tenant', * FROM tap.append(p_idempotency_key => 'create-1', p_payload => '{"title": "fix the roof"}');
SELECT is((SELECT idempotency_replay FROM tap.ids WHERE name = 'other tenant'), FALSE, 'The same key and work order in another tenant is not a replay.');
SELECT is(tap.ledger_count('globex', 'wo-1'), 1::bigint, 'The other tenant got its own ledger row.');
RESET ROLE;

-- Acting as selene_os (tenant acme): replays after a terminal status
SELECT tap.act_as('selene_os', 'acme');
INSERT INTO tap.ids
SELECT 'done', * FROM tap.append(p_event_type => 'STATUS_CHANGED', p_work_order_status => 'DONE',
    p_created_at => 2000, p_turn_id => 2, p_idempotency_key => 'finish-1');
SELECT is((SELECT idempotency_replay FROM tap.ids WHERE name = 'done'), FALSE, 'wo-1 reaches DONE.');
SELECT results_eq(
    $$SELECT * FROM tap.append(p_idempotency_key => 'create-1', p_payload => '{"title": "fix the roof"}')$$,
    $$SELECT work_order_event_id, TRUE FROM tap.ids WHERE name = 'first'$$,
    'After DONE, a replay of the creation still returns the original event.'
);
SELECT results_eq(
    $$SELECT * FROM tap.append(p_event_type => 'STATUS_CHANGED', p_work_order_status => 'DONE',
        p_created_at => 2000, p_turn_id => 2, p_idempotency_key => 'finish-1')$$,
    $$SELECT work_order_event_id, TRUE FROM tap.ids WHERE name = 'done'$$,
    'After DONE, a replay of the terminal event returns it.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_event_type => 'STATUS_CHANGED', p_work_order_status => 'DONE',
        p_created_at => 2000, p_turn_id => 2, p_idempotency_key => 'finish-2')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'After DONE, the same event under a new key is not a replay and is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_event_type => 'STATUS_CHANGED', p_work_order_status => 'FAILED',
        p_created_at => 2000, p_turn_id => 2, p_idempotency_key => 'finish-1')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'After DONE, the terminal key with different content is refused.'
);
SELECT results_eq(
    $$SELECT work_order_status::text, event_count FROM os_core.work_order_current_read('acme', 'wo-1')$$,
    $$VALUES ('DONE', 2::bigint)$$,
    'wo-1 is DONE with two events: the replays changed nothing.'
);
SELECT is(tap.ledger_count('acme', 'wo-1'), 2::bigint, 'The ledger of wo-1 holds two rows.');
RESET ROLE;

-- Acting as postgres (superuser, reading the audit trail)
SELECT results_eq(
    $$SELECT outcome, count(*) FROM ph1j.audit_events WHERE tenant_id = 'acme' AND work_order_id = 'wo-1' GROUP BY outcome ORDER BY outcome$$,
    $$VALUES ('APPENDED', 2::bigint), ('OS_WORK_ORDER_IDEMPOTENCY_REPLAY', 5::bigint)$$,
    'wo-1''s audit trail: two APPENDED rows and five replays.'
);

-- Acting as selene_os (tenant acme): AT-OS-CORE-DB-03 as written. A retry re-stamps
-- its time: the same event with the same key, created_at one nanosecond later.
SELECT tap.act_as('selene_os', 'acme');
INSERT INTO tap.ids
SELECT 'db03', * FROM tap.append(p_work_order_id => 'wo-db03', p_idempotency_key => 'db03',
    p_created_at => 1700000000000000000);
INSERT INTO tap.ids
SELECT 'db03 retried', * FROM tap.append(p_work_order_id => 'wo-db03', p_idempotency_key => 'db03',
    p_created_at => 1700000000000000001);
SELECT results_eq(
    $$SELECT work_order_event_id, idempotency_replay FROM tap.ids WHERE name = 'db03 retried'$$,
    $$SELECT work_order_event_id, TRUE FROM tap.ids WHERE name = 'db03'$$,
    'AT-OS-CORE-DB-03: the retry one nanosecond later returns the original event id, as a replay.'
);
SELECT is(tap.ledger_count('acme', 'wo-db03'), 1::bigint, 'AT-OS-CORE-DB-03: the ledger holds one row for the key.');
SELECT results_eq(
    $$SELECT work_order_event_id, created_at::bigint FROM os_core.work_order_ledger_read('acme', 'wo-db03')$$,
    $$SELECT work_order_event_id, 1700000000000000000::bigint FROM tap.ids WHERE name = 'db03'$$,
    'The ledger keeps the original created_at.'
);
SELECT results_eq(
    $$SELECT last_updated_at::bigint, event_count FROM os_core.work_order_current_read('acme', 'wo-db03')$$,
    $$VALUES (1700000000000000000::bigint, 1::bigint)$$,
    'The projection keeps the original created_at: the replay moved nothing.'
);
SELECT results_eq(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-db03', p_idempotency_key => 'db03', p_created_at => 999)$$,
    $$SELECT work_order_event_id, TRUE FROM tap.ids WHERE name = 'db03'$$,
    'A retry carrying an earlier created_at is a replay too: the history rules are for new events.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-db03', p_idempotency_key => 'db03', p_created_at => 1700000000000000002,
        p_reason_code => 2)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A later created_at does not excuse another difference: another reason_code is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-db03', p_idempotency_key => 'db03', p_created_at => 0)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'The created_at a retry carries must still be valid: the per-event rules come first.'
);

-- A re-stamped retry of an event with a lease: the per-event rule that the lease
-- expires after created_at still judges the created_at the retry carries.
INSERT INTO tap.ids
SELECT 'leased', * FROM tap.append(p_work_order_id => 'wo-leased', p_idempotency_key => 'lease-1',
    p_lease_owner_id => 'worker-1', p_lease_token_hash => 'h', p_lease_expires_at => 5000);
SELECT results_eq(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-leased', p_idempotency_key => 'lease-1',
        p_lease_owner_id => 'worker-1', p_lease_token_hash => 'h', p_lease_expires_at => 5000, p_created_at => 4999)$$,
    $$SELECT work_order_event_id, TRUE FROM tap.ids WHERE name = 'leased'$$,
    'A retry of a leased event re-stamped before the lease''s expiry is a replay.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-leased', p_idempotency_key => 'lease-1',
        p_lease_owner_id => 'worker-1', p_lease_token_hash => 'h', p_lease_expires_at => 5000, p_created_at => 5000)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A retry re-stamped at or past the lease''s expiry breaks a per-event rule and is refused.'
);

-- Acting as selene_os (tenant acme): a re-stamped replay after a terminal status
INSERT INTO tap.ids
SELECT 'db03 done', * FROM tap.append(p_work_order_id => 'wo-db03', p_event_type => 'STATUS_CHANGED',
    p_work_order_status => 'DONE', p_created_at => 1700000000000000005, p_turn_id => 2,
    p_idempotency_key => 'db03-done');
SELECT results_eq(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-db03', p_event_type => 'STATUS_CHANGED',
        p_work_order_status => 'DONE', p_created_at => 1700000000000000009, p_turn_id => 2,
        p_idempotency_key => 'db03-done')$$,
    $$SELECT work_order_event_id, TRUE FROM tap.ids WHERE name = 'db03 done'$$,
    'After DONE, a re-stamped retry of the terminal event is a replay of it.'
);
SELECT results_eq(
    $$SELECT last_updated_at::bigint, event_count FROM os_core.work_order_current_read('acme', 'wo-db03')$$,
    $$VALUES (1700000000000000005::bigint, 2::bigint)$$,
    'The terminal event''s own created_at stays in the projection.'
);
RESET ROLE;

-- Acting as postgres (superuser, reading the audit trail)
SELECT results_eq(
    $$SELECT outcome, work_order_event_id, replay_created_at::bigint FROM ph1j.audit_events
      WHERE tenant_id = 'acme' AND work_order_id = 'wo-db03' ORDER BY audit_event_id$$,
    $$SELECT v.outcome, i.work_order_event_id, v.carried
      FROM (
          VALUES
              (1, 'db03', 'APPENDED', NULL::bigint),
              (2, 'db03', 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY', 1700000000000000001),
              (3, 'db03', 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY', 999),
              (4, 'db03 done', 'APPENDED', NULL),
              (5, 'db03 done', 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY', 1700000000000000009)
      ) AS v (n, name, outcome, carried)
      INNER JOIN tap.ids AS i ON i.name = v.name
      ORDER BY v.n$$,
    'AT-OS-CORE-DB-03: each replay''s audit row names the original event and the created_at the retry carried; appends carry none.'
);
SELECT is_empty(
    $$SELECT audit_event_id FROM ph1j.audit_events
      WHERE (outcome = 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY') <> (replay_created_at IS NOT NULL)$$,
    'Every replay, and only a replay, records the created_at it carried.'
);
SELECT throws_ok(
    $$INSERT INTO ph1j.audit_events (
        tenant_id, capability, outcome, work_order_id, correlation_id, turn_id, event_type,
        reason_code, work_order_event_id, replay_created_at
    ) VALUES ('acme', 'OS_WORK_ORDER_LEDGER_APPEND', 'APPENDED', 'wo-db03', 1, 1, 'WORK_ORDER_CREATED', 1, 1, 5)$$,
    '23514', NULL,
    'An audit row that is not a replay cannot carry a replay''s created_at, even written directly.'
);

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');

-- Without a key, the same event twice is two events.
SELECT lives_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-3'); SELECT * FROM tap.append(p_work_order_id => 'wo-3', p_event_type => 'FIELD_SET')$$,
    'Appends without an idempotency key are never deduplicated.'
);
SELECT is(tap.ledger_count('acme', 'wo-3'), 2::bigint, 'Two keyless appends wrote two ledger rows.');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
