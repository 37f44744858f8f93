-- tenant_stats: per tenant, what its ledger and projections hold. Proves that
-- os_core.tenant_stats counts the declared tenant's events, work orders by status
-- and active leases, says the projection agrees with the ledger, shows no other
-- tenant, and gives selene_dba every tenant. Its refusals (another tenant, every
-- tenant at once for a non-DBA) look at the session user, a superuser here: they are
-- proven through login roles in tests/test_sql_tenant_stats.py.
BEGIN;
\ir support/helpers.sql

SELECT plan(3);

-- Acting as selene_os (tenant globex): another tenant.
SELECT tap.act_as('selene_os', 'globex');
SELECT * FROM tap.append(p_work_order_id => 'wo-g1');
RESET ROLE;

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');
SELECT * FROM tap.append(p_work_order_id => 'wo-a1');
SELECT * FROM tap.append(
    p_work_order_id => 'wo-a1', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'EXECUTING',
    p_created_at => 2000, p_turn_id => 2
);
SELECT * FROM tap.append(p_work_order_id => 'wo-a2');
SELECT results_eq(
    $$SELECT tenant_id, ledger_events, work_orders, work_orders_by_status, projection_agrees
      FROM os_core.tenant_stats('acme')$$,
    $$VALUES ('acme'::text, 3::bigint, 2::bigint, '{"DRAFT": 1, "EXECUTING": 1}'::jsonb, TRUE)$$,
    'tenant_stats counts the tenant''s events and work orders by status, and the projection agrees.'
);
RESET ROLE;

-- Acting as selene_dba (tenant acme)
SELECT tap.act_as('selene_dba', 'acme');
SELECT results_eq(
    $$SELECT tenant_id, ledger_events FROM os_core.tenant_stats() WHERE tenant_id IN ('acme', 'globex') ORDER BY 1$$,
    $$VALUES ('acme'::text, 3::bigint), ('globex'::text, 1::bigint)$$,
    'selene_dba gets every tenant, one row each.'
);
SELECT is(
    (SELECT active_leases FROM os_core.tenant_stats('acme')), 0::bigint,
    'A tenant whose work orders hold no lease has no active lease.'
);
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
