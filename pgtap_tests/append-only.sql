-- append-only: AT-OS-CORE-DB-02. Proves that the ledger and the PH1.J audit
-- table refuse UPDATE, DELETE and TRUNCATE with OS_WORK_ORDER_APPEND_ONLY_VIOLATION
-- (SE001) for the superuser, including statements that match no row; that the
-- owner is refused by privileges first (42501) and by the triggers (SE001) even
-- after granting itself the privileges back; and that no row changed.
BEGIN;
\ir support/helpers.sql

SELECT plan(29);

-- Acting as selene_os (tenant acme): some history to protect
SELECT tap.act_as('selene_os', 'acme');
SELECT lives_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-1', p_idempotency_key => 'k-1')$$,
    'selene_os appends the WORK_ORDER_CREATED event of wo-1.'
);
SELECT lives_ok(
    $$SELECT * FROM tap.append(p_work_order_id => 'wo-1', p_event_type => 'STATUS_CHANGED',
        p_work_order_status => 'EXECUTING', p_created_at => 2000)$$,
    'selene_os appends a STATUS_CHANGED event to wo-1.'
);
RESET ROLE;

-- Acting as postgres (superuser)
CREATE TEMP TABLE ledger_before ON COMMIT DROP AS SELECT * FROM os_core.work_order_ledger;
CREATE TEMP TABLE audit_before ON COMMIT DROP AS SELECT * FROM ph1j.audit_events;

SELECT throws_ok(
    $$UPDATE os_core.work_order_ledger SET work_order_status = 'DONE' WHERE work_order_id = 'wo-1'$$,
    'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
    'AT-OS-CORE-DB-02: the superuser cannot overwrite a ledger event.'
);
SELECT throws_ok(
    $$UPDATE os_core.work_order_ledger SET turn_id = 9 WHERE FALSE$$,
    'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
    'An UPDATE of the ledger that matches no row is refused too.'
);
SELECT throws_ok(
    $$DELETE FROM os_core.work_order_ledger WHERE work_order_id = 'wo-1'$$,
    'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
    'The superuser cannot delete a ledger event.'
);
SELECT throws_ok(
    $$DELETE FROM os_core.work_order_ledger WHERE FALSE$$,
    'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
    'A DELETE from the ledger that matches no row is refused too.'
);
SELECT throws_ok(
    $$TRUNCATE os_core.work_order_ledger$$,
    'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
    'The superuser cannot truncate the ledger.'
);
SELECT throws_ok(
    $$UPDATE ph1j.audit_events SET outcome = 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY'$$,
    'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
    'The superuser cannot overwrite an audit row.'
);
SELECT throws_ok(
    $$UPDATE ph1j.audit_events SET turn_id = 9 WHERE FALSE$$,
    'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
    'An UPDATE of audit_events that matches no row is refused too.'
);
SELECT throws_ok(
    $$DELETE FROM ph1j.audit_events$$,
    'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
    'The superuser cannot delete audit rows.'
);
SELECT throws_ok(
    $$DELETE FROM ph1j.audit_events WHERE FALSE$$,
    'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
    'A DELETE from audit_events that matches no row is refused too.'
);
SELECT throws_ok(
    $$TRUNCATE ph1j.audit_events$$,
    'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
    'The superuser cannot truncate audit_events.'
);
SELECT throws_ok(
    $$TRUNCATE os_core.work_order_ledger, ph1j.audit_events$$,
    'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
    'A TRUNCATE naming both tables is refused.'
);
SELECT throws_ok(
    $$TRUNCATE os_core.work_orders_current, os_core.work_order_ledger$$,
    'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
    'A TRUNCATE that names the ledger beside a projection is refused as a whole.'
);

-- Acting as selene_owner (tenant acme): privileges refuse first
SELECT tap.act_as('selene_owner', 'acme');
SELECT throws_ok(
    $$UPDATE os_core.work_order_ledger SET work_order_status = 'DONE'$$,
    '42501', NULL,
    'The owner holds no UPDATE privilege on the ledger.'
);
SELECT throws_ok(
    $$DELETE FROM os_core.work_order_ledger WHERE FALSE$$,
    '42501', NULL,
    'The owner holds no DELETE privilege on the ledger.'
);
SELECT throws_ok(
    $$TRUNCATE os_core.work_order_ledger$$,
    '42501', NULL,
    'The owner holds no TRUNCATE privilege on the ledger.'
);
SELECT throws_ok(
    $$UPDATE ph1j.audit_events SET turn_id = 9$$,
    '42501', NULL,
    'The owner holds no UPDATE privilege on audit_events.'
);
SELECT throws_ok(
    $$TRUNCATE ph1j.audit_events$$,
    '42501', NULL,
    'The owner holds no TRUNCATE privilege on audit_events.'
);

-- Acting as selene_owner (tenant acme), after granting itself the privileges back: the triggers refuse
GRANT UPDATE, DELETE, TRUNCATE ON os_core.work_order_ledger, ph1j.audit_events TO selene_owner;
SELECT throws_ok(
    $$UPDATE os_core.work_order_ledger SET work_order_status = 'DONE' WHERE work_order_id = 'wo-1'$$,
    'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
    'The owner, even with UPDATE granted back, cannot overwrite a ledger event.'
);
SELECT throws_ok(
    $$UPDATE os_core.work_order_ledger SET turn_id = 9 WHERE FALSE$$,
    'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
    'The owner''s UPDATE of the ledger matching no row is refused.'
);
SELECT throws_ok(
    $$DELETE FROM os_core.work_order_ledger$$,
    'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
    'The owner, even with DELETE granted back, cannot delete ledger events.'
);
SELECT throws_ok(
    $$TRUNCATE os_core.work_order_ledger$$,
    'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
    'The owner, even with TRUNCATE granted back, cannot truncate the ledger.'
);
SELECT throws_ok(
    $$UPDATE ph1j.audit_events SET outcome = 'APPENDED'$$,
    'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
    'The owner, even with UPDATE granted back, cannot overwrite audit rows.'
);
SELECT throws_ok(
    $$DELETE FROM ph1j.audit_events WHERE FALSE$$,
    'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
    'The owner''s DELETE from audit_events matching no row is refused.'
);
SELECT throws_ok(
    $$TRUNCATE ph1j.audit_events$$,
    'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
    'The owner, even with TRUNCATE granted back, cannot truncate audit_events.'
);
RESET ROLE;

-- Acting as postgres (superuser): nothing changed
SELECT set_eq(
    $$SELECT * FROM os_core.work_order_ledger$$,
    $$SELECT * FROM ledger_before$$,
    'Every ledger row is exactly as it was before the refused statements.'
);
SELECT set_eq(
    $$SELECT * FROM ph1j.audit_events$$,
    $$SELECT * FROM audit_before$$,
    'Every audit row is exactly as it was before the refused statements.'
);
SELECT is(tap.ledger_count('acme'), 2::bigint, 'The ledger still holds the two events.');

SELECT * FROM finish();
ROLLBACK;
