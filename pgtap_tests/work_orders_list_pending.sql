-- work_orders_list_pending: WORKORDER_LIST_PENDING (design §7). Proves that
-- os_core.work_orders_list_pending returns the declared tenant's work orders whose
-- status is in the set (by default DRAFT, CLARIFY, CONFIRM), newest first with
-- work_order_id breaking ties, as the projection holds them; that the recency bound
-- is strict and the limit cuts the newest; that a status named twice counts once;
-- that bad arguments are SE004 and another tenant SE003; and that the index
-- work_orders_current_by_status that serves it exists as migration 0002 made it.
BEGIN;
\ir support/helpers.sql

SELECT plan(33);

-- Acting as selene_os (tenant globex): a newer pending work order in another tenant
SELECT tap.act_as('selene_os', 'globex');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-x', p_created_at => 900)$$, 'globex creates wo-x.');
RESET ROLE;

-- Acting as selene_os (tenant acme): one work order per status, wo-b and wo-d tied at 300
SELECT tap.act_as('selene_os', 'acme');
DO $$
BEGIN
    PERFORM tap.append(p_work_order_id => 'wo-a', p_created_at => 100);
    PERFORM tap.append(p_work_order_id => 'wo-b', p_created_at => 50);
    PERFORM tap.append(p_work_order_id => 'wo-b', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'CLARIFY', p_created_at => 300);
    PERFORM tap.append(p_work_order_id => 'wo-c', p_created_at => 60);
    PERFORM tap.append(p_work_order_id => 'wo-c', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'CONFIRM', p_created_at => 200);
    PERFORM tap.append(p_work_order_id => 'wo-d', p_created_at => 300);
    PERFORM tap.append(p_work_order_id => 'wo-e', p_created_at => 70);
    PERFORM tap.append(p_work_order_id => 'wo-e', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'EXECUTING', p_created_at => 400);
    PERFORM tap.append(p_work_order_id => 'wo-f', p_created_at => 80);
    PERFORM tap.append(p_work_order_id => 'wo-f', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'DONE', p_created_at => 500);
    PERFORM tap.append(p_work_order_id => 'wo-g', p_created_at => 90);
    PERFORM os_core.work_order_cancel('acme', 'wo-g', 1, 'cancel-g', 600, 2);
END
$$;

SELECT results_eq(
    $$SELECT work_order_id::text, work_order_status::text, last_updated_at::bigint FROM os_core.work_orders_list_pending('acme')$$,
    $$VALUES ('wo-b', 'CLARIFY', 300::bigint), ('wo-d', 'DRAFT', 300::bigint), ('wo-c', 'CONFIRM', 200::bigint),
        ('wo-a', 'DRAFT', 100::bigint)$$,
    'By default the DRAFT, CLARIFY and CONFIRM work orders come newest first, ties by work_order_id.'
);
SELECT is(
    (SELECT count(*) FROM os_core.work_orders_list_pending('acme') WHERE tenant_id <> 'acme'),
    0::bigint,
    'No work order of another tenant is listed, though globex''s is newer.'
);
SELECT results_eq(
    $$SELECT work_order_id::text FROM os_core.work_orders_list_pending('acme', p_limit => 2)$$,
    $$VALUES ('wo-b'), ('wo-d')$$,
    'A limit of 2 keeps the two newest.'
);
SELECT results_eq(
    $$SELECT work_order_id::text FROM os_core.work_orders_list_pending('acme', p_limit => 1)$$,
    $$VALUES ('wo-b')$$,
    'A limit of 1 keeps the newest, the tie broken by work_order_id.'
);
SELECT results_eq(
    $$SELECT work_order_id::text FROM os_core.work_orders_list_pending('acme', p_updated_after => 200)$$,
    $$VALUES ('wo-b'), ('wo-d')$$,
    'p_updated_after is strict: a work order last updated at exactly 200 is left out.'
);
SELECT results_eq(
    $$SELECT work_order_id::text FROM os_core.work_orders_list_pending('acme', p_updated_after => 199)$$,
    $$VALUES ('wo-b'), ('wo-d'), ('wo-c')$$,
    'A work order updated after p_updated_after is listed.'
);
SELECT is_empty(
    $$SELECT * FROM os_core.work_orders_list_pending('acme', p_updated_after => 300)$$,
    'Nothing was updated after the newest work order.'
);
SELECT results_eq(
    $$SELECT work_order_id::text FROM os_core.work_orders_list_pending('acme', ARRAY['EXECUTING', 'DONE', 'CANCELED'])$$,
    $$VALUES ('wo-g'), ('wo-f'), ('wo-e')$$,
    'Any set of statuses can be listed, terminal ones too.'
);
SELECT results_eq(
    $$SELECT work_order_id::text FROM os_core.work_orders_list_pending('acme', ARRAY['DRAFT', 'DRAFT'])$$,
    $$VALUES ('wo-d'), ('wo-a')$$,
    'A status named twice lists its work orders once.'
);
SELECT results_eq(
    $$SELECT work_order_id::text FROM os_core.work_orders_list_pending('acme', ARRAY['CONFIRM', 'DRAFT'], 150, 1000)$$,
    $$VALUES ('wo-d'), ('wo-c')$$,
    'Statuses, recency bound and the largest limit, 1000, combine.'
);
SELECT is_empty(
    $$SELECT * FROM os_core.work_orders_list_pending('acme', ARRAY['REFUSED'])$$,
    'A status no work order has lists nothing.'
);

-- Bad arguments.
SELECT throws_ok($$SELECT * FROM os_core.work_orders_list_pending('acme', p_limit => 0)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A limit of 0 is refused.');
SELECT throws_ok($$SELECT * FROM os_core.work_orders_list_pending('acme', p_limit => -1)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A negative limit is refused.');
SELECT throws_ok($$SELECT * FROM os_core.work_orders_list_pending('acme', p_limit => 1001)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A limit of 1001 is refused.');
SELECT throws_ok($$SELECT * FROM os_core.work_orders_list_pending('acme', p_limit => NULL)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A NULL limit is refused.');
SELECT throws_ok($$SELECT * FROM os_core.work_orders_list_pending('acme', NULL)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A NULL status set is refused.');
SELECT throws_ok($$SELECT * FROM os_core.work_orders_list_pending('acme', ARRAY[]::text[])$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'An empty status set is refused.');
SELECT throws_ok($$SELECT * FROM os_core.work_orders_list_pending('acme', ARRAY['DRAFT', 'PENDING'])$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'An unknown status in the set is refused.');
SELECT throws_ok($$SELECT * FROM os_core.work_orders_list_pending('acme', ARRAY['draft'])$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'Statuses are case-sensitive: draft is unknown.');
SELECT throws_ok($$SELECT * FROM os_core.work_orders_list_pending('acme', ARRAY['DRAFT', NULL])$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A NULL status in the set is refused.');
SELECT throws_ok($$SELECT * FROM os_core.work_orders_list_pending('globex')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION', 'Listing a tenant other than the declared one is refused.');
SELECT throws_ok($$SELECT * FROM os_core.work_orders_list_pending('globex', NULL, NULL, 0)$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION', 'The tenant scope is checked before the arguments.');
RESET ROLE;

-- Acting as selene_os (no tenant declared)
SELECT tap.act_as('selene_os', NULL);
SELECT throws_ok($$SELECT * FROM os_core.work_orders_list_pending('acme')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION', 'Listing with no tenant declared is refused.');
RESET ROLE;

-- Acting as selene_os (tenant globex)
SELECT tap.act_as('selene_os', 'globex');
SELECT results_eq(
    $$SELECT work_order_id::text FROM os_core.work_orders_list_pending('globex')$$,
    $$VALUES ('wo-x')$$,
    'globex lists only its own pending work order.'
);
RESET ROLE;

-- Acting as selene_dba (tenant acme)
SELECT tap.act_as('selene_dba', 'acme');
SELECT is(
    (SELECT count(*) FROM os_core.work_orders_list_pending('acme')),
    4::bigint,
    'selene_dba lists the declared tenant''s pending work orders too.'
);
RESET ROLE;

-- Acting as selene_os (tenant acme): a cancel takes a work order off the list
SELECT tap.act_as('selene_os', 'acme');
SELECT lives_ok($$SELECT * FROM os_core.work_order_cancel('acme', 'wo-d', 1, 'cancel-d', 700, 2)$$, 'wo-d is canceled.');
SELECT results_eq(
    $$SELECT work_order_id::text FROM os_core.work_orders_list_pending('acme')$$,
    $$VALUES ('wo-b'), ('wo-c'), ('wo-a')$$,
    'Once canceled, wo-d is no longer pending.'
);
SELECT results_eq(
    $$SELECT work_order_id::text FROM os_core.work_orders_list_pending('acme', ARRAY['CANCELED'])$$,
    $$VALUES ('wo-d'), ('wo-g')$$,
    'wo-d is listed among the CANCELED, newest first.'
);
RESET ROLE;

-- Acting as postgres (superuser, tenant acme declared)
SELECT tap.act_as('none', 'acme');
SELECT results_eq(
    $$SELECT * FROM os_core.work_orders_list_pending('acme', ARRAY['DRAFT', 'CLARIFY', 'CONFIRM', 'EXECUTING'])$$,
    $$SELECT * FROM os_core.work_orders_current
      WHERE tenant_id = 'acme' AND work_order_status IN ('DRAFT', 'CLARIFY', 'CONFIRM', 'EXECUTING')
      ORDER BY last_updated_at DESC, work_order_id$$,
    'The work orders come back exactly as the projection holds them, every column.'
);

-- The index.
SELECT is(
    pg_catalog.pg_get_indexdef('os_core.work_orders_current_by_status'::regclass),
    'CREATE INDEX work_orders_current_by_status ON os_core.work_orders_current '
    'USING btree (tenant_id, work_order_status, last_updated_at DESC, work_order_id)',
    'work_orders_current_by_status orders each (tenant, status) newest first, then by work_order_id.'
);
SELECT isnt(
    obj_description('os_core.work_orders_current_by_status'::regclass, 'pg_class'),
    NULL,
    'The index says what it serves.'
);
SELECT is(
    (SELECT count(*) FROM os_core.work_orders_current),
    8::bigint,
    'The superuser sees the eight work orders of both tenants.'
);

SELECT * FROM finish();
ROLLBACK;
