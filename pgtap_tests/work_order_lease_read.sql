-- work_order_lease_read: the lease projection. Proves that an event with lease fields
-- acquires the lease, that its holder renews it before expiry (acquisition kept),
-- that another owner is fenced off until the lease expires at an event's
-- created_at, then takes it over (new acquisition), that a terminal status
-- releases it, that only the token hash is stored, and that work_order_lease_read
-- serves the declared tenant only.
BEGIN;
\ir support/helpers.sql

SELECT plan(11);

CREATE TABLE tap.ids (name text PRIMARY KEY, work_order_event_id bigint);
GRANT ALL ON tap.ids TO PUBLIC;

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');
SELECT * FROM tap.append(p_work_order_id => 'wo-l', p_created_at => 100);
SELECT is_empty(
    $$SELECT * FROM os_core.work_order_lease_read('acme', 'wo-l')$$,
    'A work order that never carried a lease has no lease row.'
);

INSERT INTO tap.ids
SELECT 'acquired', work_order_event_id FROM tap.append(p_work_order_id => 'wo-l',
    p_event_type => 'STATUS_CHANGED', p_work_order_status => 'EXECUTING', p_created_at => 200,
    p_lease_owner_id => 'worker-1', p_lease_token_hash => 'sha-1', p_lease_expires_at => 1000);
SELECT results_eq(
    $$SELECT lease_owner_id::text, lease_token_hash::text, lease_state, lease_expires_at::bigint,
        acquired_at::bigint, released_at::bigint,
        acquired_event_id = (SELECT work_order_event_id FROM tap.ids WHERE name = 'acquired'),
        last_event_id = acquired_event_id
      FROM os_core.work_order_lease_read('acme', 'wo-l')$$,
    $$VALUES ('worker-1', 'sha-1', 'ACTIVE', 1000::bigint, 200::bigint, NULL::bigint, TRUE, TRUE)$$,
    'An event with lease fields acquires the lease.'
);

INSERT INTO tap.ids
SELECT 'renewed', work_order_event_id FROM tap.append(p_work_order_id => 'wo-l',
    p_event_type => 'FIELD_SET', p_work_order_status => 'EXECUTING', p_created_at => 900,
    p_lease_owner_id => 'worker-1', p_lease_token_hash => 'sha-1b', p_lease_expires_at => 2000);
SELECT results_eq(
    $$SELECT lease_token_hash::text, lease_expires_at::bigint, acquired_at::bigint,
        acquired_event_id = (SELECT work_order_event_id FROM tap.ids WHERE name = 'acquired'),
        last_event_id = (SELECT work_order_event_id FROM tap.ids WHERE name = 'renewed')
      FROM os_core.work_order_lease_read('acme', 'wo-l')$$,
    $$VALUES ('sha-1b', 2000::bigint, 200::bigint, TRUE, TRUE)$$,
    'Its holder renews it before expiry: new expiry and token hash, the acquisition kept.'
);

SELECT throws_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-l', p_event_type => 'FIELD_SET',
        p_work_order_status => 'EXECUTING', p_created_at => 1999,
        p_lease_owner_id => 'worker-2', p_lease_token_hash => 'sha-2', p_lease_expires_at => 5000)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'Another owner is fenced off while the lease has not expired at the event''s created_at.'
);
SELECT lives_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-l', p_event_type => 'FIELD_SET',
        p_work_order_status => 'EXECUTING', p_created_at => 1999)$$,
    'An event without lease fields passes while the lease is held.'
);

INSERT INTO tap.ids
SELECT 'taken', work_order_event_id FROM tap.append(p_work_order_id => 'wo-l',
    p_event_type => 'FIELD_SET', p_work_order_status => 'EXECUTING', p_created_at => 2000,
    p_lease_owner_id => 'worker-2', p_lease_token_hash => 'sha-2', p_lease_expires_at => 5000);
SELECT results_eq(
    $$SELECT lease_owner_id::text, lease_state, acquired_at::bigint,
        acquired_event_id = (SELECT work_order_event_id FROM tap.ids WHERE name = 'taken')
      FROM os_core.work_order_lease_read('acme', 'wo-l')$$,
    $$VALUES ('worker-2', 'ACTIVE', 2000::bigint, TRUE)$$,
    'At expiry another owner takes the lease over: a new acquisition.'
);

INSERT INTO tap.ids
SELECT 'done', work_order_event_id FROM tap.append(p_work_order_id => 'wo-l',
    p_event_type => 'STATUS_CHANGED', p_work_order_status => 'DONE', p_created_at => 3000);
SELECT results_eq(
    $$SELECT lease_owner_id::text, lease_state, released_at::bigint,
        last_event_id = (SELECT work_order_event_id FROM tap.ids WHERE name = 'done')
      FROM os_core.work_order_lease_read('acme', 'wo-l')$$,
    $$VALUES ('worker-2', 'RELEASED', 3000::bigint, TRUE)$$,
    'A terminal status releases the lease; the last holder stays on record.'
);
SELECT results_eq(
    $$SELECT lease_owner_id::text FROM os_core.work_order_current_read('acme', 'wo-l')$$,
    $$VALUES (NULL::text)$$,
    'The current record no longer shows a lease.'
);

-- Acting as selene_os (tenant globex)
SELECT tap.act_as('selene_os', 'globex');
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_lease_read('acme', 'wo-l')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'Another tenant cannot read the lease of acme.'
);
RESET ROLE;

-- Acting as postgres (superuser)
SELECT columns_are(
    'os_core', 'work_order_leases',
    ARRAY['tenant_id', 'work_order_id', 'lease_owner_id', 'lease_token_hash', 'lease_state',
        'lease_expires_at', 'acquired_event_id', 'acquired_at', 'last_event_id', 'released_at'],
    'The lease projection stores the token hash and no token.'
);
SELECT is(
    (SELECT to_jsonb(v) FROM os_core.work_order_leases_from_ledger AS v
     WHERE tenant_id = 'acme' AND work_order_id = 'wo-l'),
    (SELECT to_jsonb(l) FROM os_core.work_order_leases AS l
     WHERE tenant_id = 'acme' AND work_order_id = 'wo-l'),
    'The lease row is exactly what the ledger defines.'
);

SELECT * FROM finish();
ROLLBACK;
