-- work_orders_current_verify: os_core.work_orders_current_verify and the audited rebuild. Proves
-- that verify returns no row when the projections agree with the ledger, one row
-- per difference otherwise (a column, a missing row, an unexpected row, in each of
-- the three projections) and writes nothing; that rebuild rewrites exactly the
-- drifted work orders and reports how many; that both write PH1.J audit rows only
-- when p_emit_audit is true; and that a non-DBA may verify its declared tenant only.
BEGIN;
\ir support/helpers.sql

SELECT plan(13);

-- Acting as selene_os (tenant acme): a history with a step and a lease
SELECT tap.act_as('selene_os', 'acme');
SELECT * FROM tap.append(p_work_order_id => 'wo-v1', p_created_at => 100);
SELECT * FROM tap.append(p_work_order_id => 'wo-v1', p_event_type => 'STEP_STARTED',
    p_work_order_status => 'EXECUTING', p_created_at => 200, p_step_id => 'survey',
    p_lease_owner_id => 'worker-1', p_lease_token_hash => 'sha-1', p_lease_expires_at => 900);
SELECT * FROM tap.append(p_work_order_id => 'wo-v2', p_created_at => 100);
SELECT is_empty(
    $$SELECT * FROM os_core.work_orders_current_verify('acme')$$,
    'After appends alone, verify finds no difference.'
);
RESET ROLE;

-- Acting as postgres (superuser): drift in each projection
UPDATE os_core.work_orders_current SET turn_id = 99 WHERE work_order_id = 'wo-v2';
DELETE FROM os_core.work_order_step_attempts WHERE work_order_id = 'wo-v1';
UPDATE os_core.work_order_leases SET lease_expires_at = 901 WHERE work_order_id = 'wo-v1';
INSERT INTO os_core.work_orders_current
SELECT tenant_id, 'wo-ghost', schema_version, correlation_id + 7, turn_id, work_order_status,
    last_event_id, last_reason_code, last_updated_at, step_id, step_input_hash, lease_owner_id,
    lease_token_hash, lease_expires_at, event_count
FROM os_core.work_orders_current WHERE work_order_id = 'wo-v2';
CREATE TEMP TABLE before_verify ON COMMIT DROP AS
SELECT (SELECT count(*) FROM os_core.work_orders_current) AS current_rows, tap.audit_count() AS audit_rows;

SELECT set_eq(
    $$SELECT work_order_id, projection, coalesce(row_key, '') AS row_key, difference,
        coalesce(expected, '') AS expected, coalesce(actual, '') AS actual
      FROM os_core.work_orders_current_verify('acme') WHERE projection <> 'work_order_step_attempts'$$,
    $$VALUES ('wo-v2', 'work_orders_current', '', 'turn_id', '1', '99'),
             ('wo-v1', 'work_order_leases', '', 'lease_expires_at', '900', '901'),
             ('wo-ghost', 'work_orders_current', '', 'unexpected row', '', (
                SELECT to_jsonb(c)::text FROM os_core.work_orders_current AS c WHERE work_order_id = 'wo-ghost'))$$,
    'Verify names the column, the unexpected row and the expected and actual values.'
);
SELECT is(
    (SELECT count(*) FROM os_core.work_orders_current_verify('acme')
     WHERE projection = 'work_order_step_attempts' AND row_key = 'survey #1' AND difference = 'missing row'),
    1::bigint,
    'Verify names the missing attempt by step and index.'
);
SELECT results_eq(
    $$SELECT (SELECT count(*) FROM os_core.work_orders_current), tap.audit_count()$$,
    $$SELECT current_rows, audit_rows FROM before_verify$$,
    'Verify wrote nothing.'
);

SELECT results_eq(
    $$SELECT tenant_count, work_order_count, event_count, rewritten_work_order_count
      FROM os_core.work_orders_current_rebuild('acme')$$,
    $$VALUES (1::bigint, 2::bigint, 3::bigint, 3::bigint)$$,
    'Rebuild rewrites exactly the three drifted work orders (wo-v1, wo-v2, wo-ghost).'
);
SELECT is_empty(
    $$SELECT * FROM os_core.work_orders_current_verify('acme')$$,
    'After the rebuild, verify finds no difference.'
);
SELECT is(tap.current_count('acme', 'wo-ghost'), 0::bigint, 'The invented row is gone.');
SELECT results_eq(
    $$SELECT rewritten_work_order_count FROM os_core.work_orders_current_rebuild('acme')$$,
    $$VALUES (0::bigint)$$,
    'A second rebuild rewrites nothing.'
);
SELECT is(
    (SELECT count(*) FROM ph1j.audit_events WHERE capability <> 'OS_WORK_ORDER_LEDGER_APPEND'),
    0::bigint,
    'Without p_emit_audit, rebuild and verify write no audit row.'
);

SELECT lives_ok(
    $$SELECT * FROM os_core.work_orders_current_verify('acme', p_emit_audit => TRUE)$$,
    'Verify with p_emit_audit runs.'
);
SELECT lives_ok(
    $$SELECT * FROM os_core.work_orders_current_rebuild('acme', p_emit_audit => TRUE)$$,
    'Rebuild with p_emit_audit runs.'
);
SELECT results_eq(
    $$SELECT capability, outcome, details, work_order_id::text FROM ph1j.audit_events
      WHERE capability <> 'OS_WORK_ORDER_LEDGER_APPEND' ORDER BY audit_event_id$$,
    $$VALUES ('OS_WORK_ORDER_CURRENT_VERIFY', 'VERIFIED', '{"differences": 0}'::jsonb, NULL::text),
             ('OS_WORK_ORDER_CURRENT_REBUILD', 'REBUILT',
              '{"events": 3, "work_orders": 2, "work_orders_rewritten": 0}'::jsonb, NULL)$$,
    'With p_emit_audit, each writes one audit row for the tenant, with what it found.'
);

-- Acting as tap_app (a login role in selene_os, not a DBA; tenant acme)
CREATE ROLE tap_app LOGIN IN ROLE selene_os;
SET LOCAL SESSION AUTHORIZATION tap_app;
SELECT os_core.set_tenant('acme');
SELECT throws_ok(
    $$SELECT * FROM os_core.work_orders_current_verify('globex')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'A non-DBA login cannot verify another tenant.'
);
RESET SESSION AUTHORIZATION;

SELECT * FROM finish();
ROLLBACK;
