-- work_orders_current_rebuild: AT-OS-CORE-DB-04 and OS_WORK_ORDER_CURRENT_REBUILD. Proves that
-- rebuilding work_orders_current from the ledger gives back exactly the rows the
-- appends produced (every column, byte for byte), over a mixed history of two
-- tenants with steps, leases, a takeover, a cancel and terminal statuses; that a
-- rebuild restores a corrupted, deleted or invented projection row; that a
-- one-tenant rebuild touches no other tenant; and that the counts it returns are right.
BEGIN;
\ir support/helpers.sql

SELECT plan(22);

-- Acting as selene_os (tenant acme): AT-OS-CORE-DB-04
SELECT tap.act_as('selene_os', 'acme');
SELECT lives_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-at04', p_work_order_status => 'DRAFT', p_created_at => 100)$$,
    'AT-OS-CORE-DB-04: wo-at04 is created as DRAFT.'
);
SELECT lives_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-at04', p_event_type => 'STATUS_CHANGED',
        p_work_order_status => 'DONE', p_created_at => 200, p_turn_id => 2, p_reason_code => 7)$$,
    'AT-OS-CORE-DB-04: wo-at04 moves to DONE.'
);
RESET ROLE;

-- Acting as postgres (superuser)
CREATE TEMP TABLE at04_before ON COMMIT DROP AS
SELECT * FROM os_core.work_orders_current WHERE tenant_id = 'acme' AND work_order_id = 'wo-at04';
SELECT results_eq(
    $$SELECT tenant_count, work_order_count, event_count FROM os_core.work_orders_current_rebuild('acme')$$,
    $$VALUES (1::bigint, 1::bigint, 2::bigint)$$,
    'AT-OS-CORE-DB-04: the rebuild of acme replays one work order of two events.'
);
SELECT results_eq(
    $$SELECT c::text FROM os_core.work_orders_current AS c WHERE tenant_id = 'acme' AND work_order_id = 'wo-at04'$$,
    $$SELECT b::text FROM at04_before AS b$$,
    'AT-OS-CORE-DB-04: after the rebuild the current row of wo-at04 is unchanged.'
);
SELECT results_eq(
    $$SELECT work_order_status::text, last_reason_code::bigint, turn_id::bigint, last_updated_at::bigint, event_count
      FROM os_core.work_orders_current WHERE tenant_id = 'acme' AND work_order_id = 'wo-at04'$$,
    $$VALUES ('DONE', 7::bigint, 2::bigint, 200::bigint, 2::bigint)$$,
    'AT-OS-CORE-DB-04: after the rebuild wo-at04 is DONE.'
);

-- Acting as selene_os (tenant acme): a mixed history
SELECT tap.act_as('selene_os', 'acme');
-- wo-a: fields, statuses, a lease, a step started and finished, a lease renewal.
DO $$
BEGIN
    PERFORM tap.append(p_work_order_id => 'wo-a', p_created_at => 100, p_payload => '{"site": "north"}');
    PERFORM tap.append(p_work_order_id => 'wo-a', p_event_type => 'FIELD_SET', p_work_order_status => 'CLARIFY',
        p_created_at => 200, p_turn_id => 2, p_payload => '{"fields": {"floor": 3}}');
    PERFORM tap.append(p_work_order_id => 'wo-a', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'CONFIRM',
        p_created_at => 300, p_turn_id => 3, p_reason_code => 11);
    PERFORM tap.append(p_work_order_id => 'wo-a', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'EXECUTING',
        p_created_at => 400, p_turn_id => 4, p_lease_owner_id => 'worker-1', p_lease_token_hash => 'tok-1a',
        p_lease_expires_at => 1000);
    PERFORM tap.append(p_work_order_id => 'wo-a', p_event_type => 'STEP_STARTED', p_work_order_status => 'EXECUTING',
        p_created_at => 500, p_turn_id => 5, p_step_id => 'step-1', p_step_input_hash => 'in-1');
    PERFORM tap.append(p_work_order_id => 'wo-a', p_event_type => 'STEP_FINISHED', p_work_order_status => 'EXECUTING',
        p_created_at => 600, p_turn_id => 6, p_step_id => 'step-1');
    PERFORM tap.append(p_work_order_id => 'wo-a', p_event_type => 'FIELD_CONFLICT_RESOLVED', p_work_order_status => 'EXECUTING',
        p_created_at => 650, p_turn_id => 7, p_payload => '{"resolutions": [{"field": "floor", "value": 4}]}');
    PERFORM tap.append(p_work_order_id => 'wo-a', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'EXECUTING',
        p_created_at => 700, p_turn_id => 8, p_lease_owner_id => 'worker-1', p_lease_token_hash => 'tok-1b',
        p_lease_expires_at => 2000, p_idempotency_key => 'renew-1');
    -- wo-b: a lease taken over after it expired, a failed step, then a cancel.
    PERFORM tap.append(p_work_order_id => 'wo-b', p_created_at => 100, p_lease_owner_id => 'worker-1',
        p_lease_token_hash => 'tok-b1', p_lease_expires_at => 300);
    PERFORM tap.append(p_work_order_id => 'wo-b', p_event_type => 'STEP_STARTED', p_work_order_status => 'EXECUTING',
        p_created_at => 400, p_turn_id => 2, p_step_id => 'step-9', p_step_input_hash => 'in-9',
        p_lease_owner_id => 'worker-2', p_lease_token_hash => 'tok-b2', p_lease_expires_at => 900);
    PERFORM tap.append(p_work_order_id => 'wo-b', p_event_type => 'STEP_FAILED', p_work_order_status => 'EXECUTING',
        p_created_at => 500, p_turn_id => 3, p_step_id => 'step-9', p_step_input_hash => 'in-9', p_reason_code => 4294967295);
    PERFORM tap.append(p_work_order_id => 'wo-b', p_event_type => 'WORK_ORDER_CANCELED', p_work_order_status => 'CANCELED',
        p_created_at => 600, p_turn_id => 4, p_reason_code => 3);
    -- wo-c: created and refused at once.
    PERFORM tap.append(p_work_order_id => 'wo-c', p_created_at => 100);
    PERFORM tap.append(p_work_order_id => 'wo-c', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'REFUSED',
        p_created_at => 100, p_turn_id => 2);
END
$$;
RESET ROLE;

-- Acting as selene_os (tenant globex): the same work order id, and another one
SELECT tap.act_as('selene_os', 'globex');
DO $$
BEGIN
    PERFORM tap.append(p_work_order_id => 'wo-a', p_work_order_status => 'CONFIRM', p_created_at => 50,
        p_lease_owner_id => 'worker-9', p_lease_token_hash => 'tok-9', p_lease_expires_at => 5000);
    PERFORM tap.append(p_work_order_id => 'wo-a', p_event_type => 'STEP_STARTED', p_work_order_status => 'EXECUTING',
        p_created_at => 60, p_turn_id => 2, p_step_id => 'step-1');
    PERFORM tap.append(p_work_order_id => 'wo-a', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'FAILED',
        p_created_at => 70, p_turn_id => 3);
    PERFORM tap.append(p_work_order_id => 'wo-g', p_correlation_id => 340282366920938463463374607431768211455);
    PERFORM tap.append(p_work_order_id => 'wo-g', p_event_type => 'FIELD_SET', p_work_order_status => 'DRAFT',
        p_correlation_id => 340282366920938463463374607431768211455, p_turn_id => 5, p_created_at => 1000);
END
$$;
RESET ROLE;

-- Acting as postgres (superuser): the projection the appends produced
SELECT results_eq(
    $$
    SELECT work_order_status::text, step_id::text, step_input_hash::text, lease_owner_id::text,
        lease_token_hash::text, lease_expires_at::bigint, event_count, last_reason_code::bigint
    FROM os_core.work_orders_current
    WHERE tenant_id = 'acme' AND work_order_id IN ('wo-a', 'wo-b')
    ORDER BY work_order_id
    $$,
    $$
    VALUES
        ('EXECUTING', 'step-1', NULL, 'worker-1', 'tok-1b', 2000::bigint, 8::bigint, 1::bigint),
        ('CANCELED', 'step-9', 'in-9', NULL, NULL, NULL, 4::bigint, 3::bigint)
    $$,
    'The appends projected wo-a (latest step and renewed lease) and wo-b (canceled, lease cleared).'
);

CREATE TEMP TABLE snapshot ON COMMIT DROP AS SELECT * FROM os_core.work_orders_current;

SELECT results_eq(
    $$SELECT tenant_count, work_order_count, event_count FROM os_core.work_orders_current_rebuild()$$,
    $$VALUES (2::bigint, 6::bigint, 21::bigint)$$,
    'The rebuild of every tenant replays two tenants, six work orders and 21 events.'
);
SELECT results_eq(
    $$SELECT * FROM os_core.work_orders_current ORDER BY tenant_id, work_order_id$$,
    $$SELECT * FROM snapshot ORDER BY tenant_id, work_order_id$$,
    'After the rebuild work_orders_current equals the snapshot, row for row and column for column.'
);
SELECT set_eq(
    $$SELECT c::text FROM os_core.work_orders_current AS c$$,
    $$SELECT s::text FROM snapshot AS s$$,
    'After the rebuild every row has the same text as before: the rebuild is byte for byte.'
);
SELECT results_eq(
    $$SELECT tenant_count, work_order_count, event_count FROM os_core.work_orders_current_rebuild()$$,
    $$VALUES (2::bigint, 6::bigint, 21::bigint)$$,
    'A second rebuild reports the same counts.'
);
SELECT set_eq(
    $$SELECT c::text FROM os_core.work_orders_current AS c$$,
    $$SELECT s::text FROM snapshot AS s$$,
    'A second rebuild changes nothing either.'
);

-- Corrupt the projection as the superuser: change a row, delete one, invent one.
UPDATE os_core.work_orders_current
SET work_order_status = 'DONE', event_count = 99, lease_owner_id = NULL, lease_token_hash = NULL, lease_expires_at = NULL
WHERE tenant_id = 'acme' AND work_order_id = 'wo-a';
DELETE FROM os_core.work_orders_current WHERE tenant_id = 'acme' AND work_order_id = 'wo-c';
DELETE FROM os_core.work_orders_current WHERE tenant_id = 'globex' AND work_order_id = 'wo-g';
INSERT INTO os_core.work_orders_current (
    tenant_id, work_order_id, schema_version, correlation_id, turn_id, work_order_status,
    last_event_id, last_reason_code, last_updated_at, event_count
) VALUES ('acme', 'wo-ghost', 1, 424242, 1, 'DRAFT', 1, 1, 1, 1);

-- Acting as selene_os (tenant acme): rebuild of the declared tenant only
SELECT tap.act_as('selene_os', 'acme');
SELECT results_eq(
    $$SELECT tenant_count, work_order_count, event_count FROM os_core.work_orders_current_rebuild('acme')$$,
    $$VALUES (1::bigint, 4::bigint, 16::bigint)$$,
    'selene_os rebuilds acme: one tenant, four work orders, 16 events.'
);
SELECT results_eq(
    $$SELECT work_order_status::text, event_count, lease_owner_id::text FROM os_core.work_order_current_read('acme', 'wo-a')$$,
    $$VALUES ('EXECUTING', 8::bigint, 'worker-1')$$,
    'The corrupted row of wo-a is restored.'
);
SELECT results_eq(
    $$SELECT work_order_status::text, event_count FROM os_core.work_order_current_read('acme', 'wo-c')$$,
    $$VALUES ('REFUSED', 2::bigint)$$,
    'The deleted row of wo-c is back.'
);
SELECT is_empty(
    $$SELECT * FROM os_core.work_order_current_read('acme', 'wo-ghost')$$,
    'The invented row of wo-ghost, which has no ledger event, is gone.'
);
RESET ROLE;

-- Acting as postgres (superuser)
SELECT is(tap.current_count('globex', 'wo-g'), 0::bigint, 'The rebuild of acme did not touch globex: wo-g is still missing.');
SELECT results_eq(
    $$SELECT tenant_count, work_order_count, event_count FROM os_core.work_orders_current_rebuild('globex')$$,
    $$VALUES (1::bigint, 2::bigint, 5::bigint)$$,
    'The superuser rebuilds globex: one tenant, two work orders, five events.'
);
SELECT set_eq(
    $$SELECT c::text FROM os_core.work_orders_current AS c$$,
    $$SELECT s::text FROM snapshot AS s$$,
    'After repairing both tenants the projection is byte for byte the snapshot again.'
);
SELECT results_eq(
    $$SELECT tenant_count, work_order_count, event_count FROM os_core.work_orders_current_rebuild('initech')$$,
    $$VALUES (0::bigint, 0::bigint, 0::bigint)$$,
    'Rebuilding a tenant with no events reports zeros.'
);

-- Acting as selene_os (tenant acme): the rebuilt projection keeps working
SELECT tap.act_as('selene_os', 'acme');
SELECT lives_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-a', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'DONE',
        p_created_at => 800, p_turn_id => 9, p_expected_event_count => 8)$$,
    'An append after the rebuild sees the rebuilt event count and status.'
);
RESET ROLE;

-- Acting as selene_os (tenant scale): a correlation_id written with a different scale
SELECT tap.act_as('selene_os', 'scale');
DO $$
BEGIN
    PERFORM tap.append(p_work_order_id => 'wo-s', p_correlation_id => 5, p_created_at => 100);
    PERFORM tap.append(p_work_order_id => 'wo-s', p_correlation_id => 5.0, p_created_at => 200,
        p_event_type => 'FIELD_SET', p_turn_id => 2);
END
$$;
RESET ROLE;

-- Acting as postgres (superuser)
CREATE TEMP TABLE scale_before ON COMMIT DROP AS
SELECT * FROM os_core.work_orders_current WHERE tenant_id = 'scale';
SELECT is(
    (SELECT event_count FROM os_core.work_orders_current_rebuild('scale')),
    2::bigint,
    'The rebuild of tenant scale replays its two events.'
);
SELECT results_eq(
    $$SELECT c::text FROM os_core.work_orders_current AS c WHERE tenant_id = 'scale'$$,
    $$SELECT b::text FROM scale_before AS b$$,
    'A rebuild is byte for byte even when a later event wrote the same correlation_id as 5.0 instead of 5.'
);

SELECT * FROM finish();
ROLLBACK;
