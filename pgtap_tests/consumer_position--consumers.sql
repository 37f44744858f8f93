-- consumer_position--consumers: durable consumers (os_core.consumer_position, consumer_commit,
-- consumer_stats). Proves that a new consumer is at 0; that a commit moves the
-- position forwards only, to an event id of the tenant's stream, and reads back;
-- that the same position again is accepted; that bad names, streams and ids are
-- refused (SE004) and another tenant's consumer is out of scope (SE003); that the
-- audit trail keeps positions of its own; that the stats show each position and
-- lag; that a position is the caller's transaction's (a rolled-back one is gone);
-- and that the table refuses malformed rows written around the functions.
-- Concurrent instances and killed sessions are in tests/test_sql_consumers.py.
BEGIN;
\ir support/helpers.sql

SELECT plan(30);

-- Acting as postgres (superuser): the audit ids each tenant's trail holds (tap.event_ids for
-- the ledger's), past row-level security.
CREATE FUNCTION tap.audit_ids(p_tenant_id text)
RETURNS bigint []
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(array_agg(a.audit_event_id ORDER BY a.audit_event_id), '{}')
    FROM ph1j.audit_events AS a WHERE a.tenant_id = p_tenant_id;
$$;

-- Acting as selene_os (tenant globex): another tenant with a consumer, and later ids.
SELECT tap.act_as('selene_os', 'globex');
SELECT * FROM tap.append(p_work_order_id => 'wo-g1');
SELECT os_core.consumer_commit('globex', 'projector', (tap.event_ids('globex'))[1]);
RESET ROLE;

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');
SELECT is(
    os_core.consumer_position('acme', 'projector'), 0::bigint,
    'A new consumer is at position 0.'
);
SELECT * FROM tap.append(p_work_order_id => 'wo-c1');
SELECT * FROM tap.append(p_work_order_id => 'wo-c2');
SELECT * FROM tap.append(p_work_order_id => 'wo-c3');
SELECT is(
    os_core.consumer_commit('acme', 'projector', (tap.event_ids('acme'))[2]),
    (tap.event_ids('acme'))[2],
    'A consumer commits the id of the last event it processed and gets it back.'
);
SELECT is(
    os_core.consumer_position('acme', 'projector'), (tap.event_ids('acme'))[2],
    'Its position reads back as committed.'
);
SELECT is(
    os_core.consumer_commit('acme', 'projector', (tap.event_ids('acme'))[2]),
    (tap.event_ids('acme'))[2],
    'Committing the same position again is accepted.'
);
SELECT throws_ok(
    format($$SELECT os_core.consumer_commit('acme', 'projector', %s)$$, (tap.event_ids('acme'))[1]),
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A position moving backwards is refused.'
);
SELECT throws_ok(
    $$SELECT os_core.consumer_commit('acme', 'projector', 0)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A position moving back to the start is refused too.'
);
SELECT throws_ok(
    $$SELECT os_core.consumer_commit('acme', 'projector', -1)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A negative event id is refused.'
);
SELECT throws_ok(
    $$SELECT os_core.consumer_commit('acme', 'projector', NULL)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A NULL event id is refused.'
);
SELECT throws_ok(
    format(
        $$SELECT os_core.consumer_commit('acme', 'projector', %s)$$,
        (SELECT max(i) + 1 FROM unnest(tap.event_ids('acme')) AS i)
    ),
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'An id past the tenant''s last event is refused.'
);
SELECT is(
    os_core.consumer_commit('acme', 'projector', (tap.event_ids('acme'))[3]),
    (tap.event_ids('acme'))[3],
    'The tenant''s last event is a position.'
);
SELECT throws_ok(
    $$SELECT os_core.consumer_position('acme', '')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'An empty consumer name is refused.'
);
SELECT throws_ok(
    $$SELECT os_core.consumer_position('acme', ' projector')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A consumer name with whitespace is refused.'
);
SELECT throws_ok(
    format($$SELECT os_core.consumer_position('acme', %L)$$, repeat('x', 129)),
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A consumer name of 129 characters is refused.'
);
SELECT is(
    os_core.consumer_position('acme', repeat('x', 128)), 0::bigint,
    'A consumer name of 128 characters is accepted.'
);
SELECT throws_ok(
    $$SELECT os_core.consumer_commit('acme', 'proj/ector', 0)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'A consumer name with a character outside A-Z a-z 0-9 _ . : - is refused by the commit too.'
);
SELECT throws_ok(
    $$SELECT os_core.consumer_position('acme', 'projector', 'events')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'An unknown stream is refused.'
);
SELECT is(
    os_core.consumer_position('acme', 'projector', 'audit'), 0::bigint,
    'The audit stream keeps positions of its own: the ledger consumer of that name is not there.'
);
SELECT is(
    os_core.consumer_commit('acme', 'projector', (tap.audit_ids('acme'))[3], 'audit'),
    (tap.audit_ids('acme'))[3],
    'An audit consumer commits audit_event_id values.'
);
SELECT throws_ok(
    format(
        $$SELECT os_core.consumer_commit('acme', 'projector', %s, 'audit')$$,
        (SELECT max(i) + 1 FROM unnest(tap.audit_ids('acme')) AS i)
    ),
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'An id past the tenant''s last audit event is refused.'
);
SELECT throws_ok(
    $$SELECT os_core.consumer_position('globex', 'projector')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'The position of another tenant''s consumer is out of scope.'
);
SELECT throws_ok(
    $$SELECT os_core.consumer_commit('globex', 'projector', 0)$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'A commit for another tenant''s consumer is out of scope.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.consumer_stats('globex')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'Another tenant''s consumer stats are out of scope.'
);
SELECT * FROM tap.append(p_work_order_id => 'wo-c4');
SELECT results_eq(
    $$
    SELECT s.tenant_id, s.stream, s.consumer, s.committed_position, s.last_event_id, s.pending_events
    FROM os_core.consumer_stats('acme') AS s
    WHERE s.consumer = 'projector'
    $$,
    $$
    VALUES
        ('acme'::text, 'audit'::text, 'projector'::text, (tap.audit_ids('acme'))[3], (tap.audit_ids('acme'))[4], 1::bigint),
        ('acme', 'ledger', 'projector', (tap.event_ids('acme'))[3], (tap.event_ids('acme'))[4], 1::bigint)
    $$,
    'consumer_stats shows each consumer''s position, the stream''s last id and the events after the position.'
);
SAVEPOINT before_rollback;
SELECT os_core.consumer_commit('acme', 'projector', (tap.event_ids('acme'))[4]);
ROLLBACK TO SAVEPOINT before_rollback;
SELECT is(
    os_core.consumer_position('acme', 'projector'), (tap.event_ids('acme'))[3],
    'A position committed in a (sub)transaction that rolls back is not kept.'
);
RESET ROLE;

-- Acting as selene_os with no tenant declared
SELECT tap.act_as('selene_os', NULL);
SELECT throws_ok(
    $$SELECT os_core.consumer_position('acme', 'projector')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'Without a declared tenant the position is refused.'
);
RESET ROLE;

-- Acting as postgres (superuser)
SELECT results_eq(
    $$
    SELECT p.tenant_id, p.stream, p.consumer, p.committed_position
    FROM os_core.consumer_positions AS p
    WHERE p.consumer = 'projector'
    ORDER BY 1, 2
    $$,
    $$
    VALUES
        ('acme'::text, 'audit'::text, 'projector'::text, (tap.audit_ids('acme'))[3]),
        ('acme', 'ledger', 'projector', (tap.event_ids('acme'))[3]),
        ('globex', 'ledger', 'projector', (tap.event_ids('globex'))[1])
    $$,
    'Each tenant''s consumer has its own row per stream; the refused calls wrote nothing.'
);
SELECT throws_ok(
    $$INSERT INTO os_core.consumer_positions (tenant_id, stream, consumer) VALUES ('acme', 'ledger', 'a b')$$,
    '23514', NULL,
    'The table refuses a malformed consumer name written around the functions.'
);
SELECT throws_ok(
    $$INSERT INTO os_core.consumer_positions (tenant_id, stream, consumer) VALUES ('acme', 'events', 'x')$$,
    '23514', NULL,
    'The table refuses an unknown stream.'
);
SELECT throws_ok(
    $$INSERT INTO os_core.consumer_positions (tenant_id, stream, consumer, committed_position) VALUES ('acme', 'ledger', 'x', -1)$$,
    '23514', NULL,
    'The table refuses a negative position.'
);
SELECT throws_ok(
    $$INSERT INTO os_core.consumer_positions (tenant_id, stream, consumer) VALUES ('acme ', 'ledger', 'x')$$,
    '23514', NULL,
    'The table refuses a malformed tenant id.'
);

SELECT * FROM finish();
ROLLBACK;
