-- consumer_stats: each durable consumer of the declared tenant, its position and
-- its lag. Proves that os_core.consumer_stats shows every consumer of the tenant on
-- either stream, with its committed position (0 when it has processed nothing), the stream's last id and the events
-- after its position, none of another tenant, and refuses another tenant (SE003).
BEGIN;
\ir support/helpers.sql

SELECT plan(3);

-- Acting as selene_os (tenant globex): another tenant's consumer.
SELECT tap.act_as('selene_os', 'globex');
SELECT os_core.consumer_position('globex', 'projector');
RESET ROLE;

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');
SELECT * FROM tap.append(p_work_order_id => 'wo-s1');
SELECT * FROM tap.append(p_work_order_id => 'wo-s2');
SELECT os_core.consumer_commit(
    'acme', 'projector', (SELECT min(work_order_event_id) FROM os_core.work_order_ledger_read('acme'))
);
SELECT os_core.consumer_commit('acme', 'shipper', 0, 'audit');
SELECT results_eq(
    $$SELECT stream, consumer, pending_events FROM os_core.consumer_stats('acme') ORDER BY stream, consumer$$,
    $$VALUES ('audit'::text, 'shipper'::text, 2::bigint), ('ledger', 'projector', 1)$$,
    'consumer_stats shows each consumer of the tenant, on either stream, with the events after its position.'
);
SELECT results_eq(
    $$SELECT committed_position, last_event_id FROM os_core.consumer_stats('acme') WHERE stream = 'ledger'$$,
    $$SELECT min(work_order_event_id), max(work_order_event_id) FROM os_core.work_order_ledger_read('acme')$$,
    'A ledger consumer''s row holds its committed position and the ledger''s last id.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.consumer_stats('globex')$$, 'SE003', NULL,
    'Another tenant''s consumers are out of scope (SE003).'
);
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
