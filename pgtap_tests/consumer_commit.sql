-- consumer_commit: moving a durable consumer's position. Proves that a commit
-- stores the position and returns it, that the same position again is accepted,
-- that a position never moves backwards and must be an id of the tenant's stream
-- (SE004), and that another tenant's consumer is out of scope (SE003). The rest of
-- durable consumers is in consumer_position--consumers.sql and
-- tests/test_sql_consumers.py.
BEGIN;
\ir support/helpers.sql

SELECT plan(5);

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');
SELECT * FROM tap.append(p_work_order_id => 'wo-c1');
SELECT * FROM tap.append(p_work_order_id => 'wo-c2');
SELECT is(
    os_core.consumer_commit('acme', 'shipper', (tap.event_ids('acme'))[2]),
    (tap.event_ids('acme'))[2],
    'A commit stores the position and returns it.'
);
SELECT is(
    os_core.consumer_commit('acme', 'shipper', (tap.event_ids('acme'))[2]),
    (tap.event_ids('acme'))[2],
    'Committing the same position again is accepted.'
);
SELECT throws_ok(
    format('SELECT os_core.consumer_commit(%L, %L, %s)', 'acme', 'shipper', (tap.event_ids('acme'))[1]),
    'SE004', NULL,
    'A position never moves backwards (SE004).'
);
SELECT throws_ok(
    format('SELECT os_core.consumer_commit(%L, %L, %s)', 'acme', 'shipper', (tap.event_ids('acme'))[2] + 1000),
    'SE004', NULL,
    'A position must be an id of the tenant''s stream (SE004).'
);
SELECT throws_ok(
    $$SELECT os_core.consumer_commit('globex', 'shipper', 0)$$, 'SE003', NULL,
    'Another tenant''s consumer is out of scope (SE003).'
);
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
