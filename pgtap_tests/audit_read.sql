-- audit_read: the PH1.J audit trail of the declared tenant. Proves that
-- os_core.audit_read returns the tenant's audit rows in id order, pages them with
-- p_after_audit_event_id and p_limit, shows nothing of another tenant, and refuses
-- another tenant (SE003) and bad paging arguments (SE004). The paging horizon and
-- concurrent writers are in tests/test_sql_audit_read.py.
BEGIN;
\ir support/helpers.sql

SELECT plan(6);

-- Acting as selene_os (tenant globex): another tenant's audit rows.
SELECT tap.act_as('selene_os', 'globex');
SELECT * FROM tap.append(p_work_order_id => 'wo-g1');
RESET ROLE;

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');
SELECT * FROM tap.append(p_work_order_id => 'wo-a1');
SELECT * FROM tap.append(p_work_order_id => 'wo-a2');
SELECT * FROM tap.append(p_work_order_id => 'wo-a3');
SELECT results_eq(
    $$SELECT work_order_id::text FROM os_core.audit_read('acme') ORDER BY audit_event_id$$,
    $$VALUES ('wo-a1'), ('wo-a2'), ('wo-a3')$$,
    'audit_read returns the tenant''s audit rows, one per append, and none of another tenant.'
);
SELECT ok(
    (SELECT array_agg(audit_event_id) = array_agg(audit_event_id ORDER BY audit_event_id)
     FROM os_core.audit_read('acme')),
    'The rows come in audit_event_id order.'
);
SELECT results_eq(
    $$SELECT work_order_id::text FROM os_core.audit_read('acme',
        (SELECT min(audit_event_id) FROM os_core.audit_read('acme')), 1)$$,
    $$VALUES ('wo-a2')$$,
    'A page starts after p_after_audit_event_id and holds at most p_limit rows.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.audit_read('globex')$$, 'SE003', NULL,
    'Another tenant''s audit trail is out of scope (SE003).'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.audit_read('acme', 0, 0)$$, 'SE004', NULL,
    'A limit below 1 is refused (SE004).'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.audit_read('acme', -1)$$, 'SE004', NULL,
    'A negative p_after_audit_event_id is refused (SE004).'
);
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
