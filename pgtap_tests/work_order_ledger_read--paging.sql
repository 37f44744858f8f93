-- work_order_ledger_read--paging: the paging horizon of tenant-wide ledger reads. Proves that
-- every append records a horizon above its own transaction id; that a tenant-wide
-- read stops before an event whose horizon is above every running transaction (as
-- an event drawn before a transaction still in flight would be) and holds back
-- everything after it, even an event whose own horizon is reached; that a read of
-- the work order shows it (ids of one work order grow in commit order); and that
-- the reader's own appends are not held back.
-- The concurrent case is in tests/test_ledger_paging.py.
BEGIN;
\ir support/helpers.sql

SELECT plan(6);

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');
SELECT * FROM tap.append(p_work_order_id => 'wo-p1');
SELECT * FROM tap.append(p_work_order_id => 'wo-p2');
RESET ROLE;

-- Acting as postgres (superuser)
SELECT ok(
    (SELECT bool_and(paging_horizon > pg_current_xact_id()) FROM os_core.work_order_ledger),
    'Every append records a horizon above its own transaction id.'
);
SELECT is(
    (SELECT seqcache FROM pg_catalog.pg_sequence
     WHERE seqrelid = 'os_core.work_order_ledger_work_order_event_id_seq'::regclass),
    1::bigint,
    'The event id sequence caches no ids per session: every nextval draws the next id.'
);

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');
SELECT results_eq(
    $$SELECT work_order_id::text FROM os_core.work_order_ledger_read('acme')$$,
    $$VALUES ('wo-p1'), ('wo-p2')$$,
    'The reader sees its own transaction''s appends.'
);
RESET ROLE;

-- Acting as postgres (superuser): an event whose horizon no running transaction has
-- reached yet, then a later one, as a writer still in flight would leave them.
SELECT tap.ledger_insert(p_tenant_id => 'acme', p_work_order_id => 'wo-ahead', p_correlation_id => 77);
SELECT tap.ledger_insert(p_tenant_id => 'acme', p_work_order_id => 'wo-after', p_correlation_id => 78);
CREATE TABLE tap.ahead AS
SELECT work_order_event_id FROM os_core.work_order_ledger WHERE work_order_id = 'wo-ahead';
GRANT SELECT ON tap.ahead TO PUBLIC;
ALTER TABLE os_core.work_order_ledger DISABLE TRIGGER _100_refuse_update_delete;
UPDATE os_core.work_order_ledger
SET paging_horizon = (pg_current_xact_id()::text::bigint + 1000000)::text::xid8
WHERE work_order_id = 'wo-ahead';
-- The next event's horizon is reached (NULL): a later event can have a lower
-- horizon than an earlier one, and must still wait behind it.
UPDATE os_core.work_order_ledger SET paging_horizon = NULL WHERE work_order_id = 'wo-after';
ALTER TABLE os_core.work_order_ledger ENABLE TRIGGER _100_refuse_update_delete;

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');
SELECT results_eq(
    $$SELECT work_order_id::text FROM os_core.work_order_ledger_read('acme')$$,
    $$VALUES ('wo-p1'), ('wo-p2')$$,
    'A tenant-wide read stops before the event no running transaction has reached, and holds back the reached one after it.'
);
SELECT is_empty(
    $$SELECT * FROM os_core.work_order_ledger_read('acme',
        p_after_event_id => (SELECT work_order_event_id - 1 FROM tap.ahead))$$,
    'A page that starts before them returns at once, empty: nothing waits.'
);
SELECT results_eq(
    $$SELECT work_order_id::text FROM os_core.work_order_ledger_read('acme', p_work_order_id => 'wo-ahead')$$,
    $$VALUES ('wo-ahead')$$,
    'A read of the work order itself shows it.'
);
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
