-- tenant-isolation: AT-OS-CORE-DB-01 and tenant scope. Proves that the same
-- work_order_id in two tenants gives two independent work orders; that one
-- tenant reads nothing of another, neither through the capability functions nor
-- through row-level security; that no declared tenant, or a tenant_id other than
-- the declared one (however close), is OS_WORK_ORDER_TENANT_SCOPE_VIOLATION
-- (SE003); and that only selene_dba may rebuild every tenant.
BEGIN;
\ir support/helpers.sql

SELECT plan(44);

-- Acting as selene_os (tenant acme)
SET LOCAL ROLE selene_os;
SELECT is(os_core.set_tenant('acme'), 'acme', 'selene_os declares its tenant with set_tenant.');
SELECT is(
    (SELECT idempotency_replay FROM tap.append(p_work_order_id => 'wo-shared', p_correlation_id => 7)),
    FALSE,
    'Tenant acme creates work order wo-shared.'
);
SELECT is(
    (
        SELECT idempotency_replay FROM tap.append(
            p_work_order_id => 'wo-shared', p_correlation_id => 7, p_turn_id => 2,
            p_event_type => 'STATUS_CHANGED', p_work_order_status => 'EXECUTING', p_created_at => 2000
        )
    ),
    FALSE,
    'Tenant acme moves wo-shared to EXECUTING.'
);
RESET ROLE;

-- Acting as selene_os (tenant globex)
SET LOCAL ROLE selene_os;
SELECT os_core.set_tenant('globex');
SELECT is(
    (
        SELECT idempotency_replay FROM tap.append(
            p_work_order_id => 'wo-shared', p_correlation_id => 7, p_work_order_status => 'CLARIFY',
            p_created_at => 500
        )
    ),
    FALSE,
    'Tenant globex creates its own wo-shared, with the same correlation_id, without conflict.'
);
SELECT results_eq(
    $$SELECT tenant_id::text, work_order_status::text, event_count FROM os_core.work_order_current_read('globex', 'wo-shared')$$,
    $$VALUES ('globex', 'CLARIFY', 1::bigint)$$,
    'AT-OS-CORE-DB-01: globex reads its own wo-shared, untouched by acme''s events.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_current_read('acme', 'wo-shared')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'globex cannot read acme''s current record by naming acme.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_ledger_read('acme')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'globex cannot read acme''s ledger by naming acme.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_ledger_read('acme', 'wo-shared')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'globex cannot read acme''s events of wo-shared by naming acme.'
);
SELECT results_eq(
    $$SELECT tenant_id::text, event_type::text FROM os_core.work_order_ledger_read('globex', 'wo-shared')$$,
    $$VALUES ('globex', 'WORK_ORDER_CREATED')$$,
    'globex''s ledger of wo-shared holds only its own event.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_tenant_id => 'acme', p_work_order_id => 'wo-shared', p_correlation_id => 7,
        p_event_type => 'STATUS_CHANGED', p_work_order_status => 'DONE', p_created_at => 3000)$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'globex cannot append to acme''s work order by naming acme.'
);
RESET ROLE;

-- Acting as postgres (superuser, past row-level security)
SELECT results_eq(
    $$
    SELECT tenant_id::text, work_order_status::text, event_count, correlation_id::numeric
    FROM os_core.work_orders_current
    WHERE work_order_id = 'wo-shared'
    ORDER BY tenant_id
    $$,
    $$VALUES ('acme', 'EXECUTING', 2::bigint, 7::numeric), ('globex', 'CLARIFY', 1::bigint, 7::numeric)$$,
    'AT-OS-CORE-DB-01: the same work_order_id in two tenants gives two independent current rows.'
);
SELECT is(tap.ledger_count('acme', 'wo-shared'), 2::bigint, 'acme''s wo-shared has two ledger events.');
SELECT is(tap.ledger_count('globex', 'wo-shared'), 1::bigint, 'globex''s wo-shared has one ledger event.');

-- Acting as selene_owner (tenant globex): forced row-level security
SELECT tap.act_as('selene_owner', 'globex');
SELECT results_eq(
    $$SELECT tenant_id::text, work_order_id::text FROM os_core.work_orders_current$$,
    $$VALUES ('globex', 'wo-shared')$$,
    'Row-level security shows the owner only globex''s current rows.'
);
SELECT results_eq(
    $$SELECT DISTINCT tenant_id::text FROM os_core.work_order_ledger$$,
    $$VALUES ('globex')$$,
    'Row-level security shows the owner only globex''s ledger rows.'
);
SELECT results_eq(
    $$SELECT DISTINCT tenant_id::text FROM ph1j.audit_events$$,
    $$VALUES ('globex')$$,
    'Row-level security shows the owner only globex''s audit rows.'
);
SELECT is_empty(
    $$SELECT 1 FROM os_core.work_orders_current WHERE tenant_id = 'acme'$$,
    'Asking for acme''s rows by name returns nothing to the owner declared as globex.'
);
SELECT throws_ok(
    $$
    INSERT INTO os_core.work_order_ledger (
        tenant_id, work_order_id, correlation_id, turn_id, event_type, work_order_status,
        reason_code, created_at
    ) VALUES ('acme', 'wo-forged', 99, 1, 'WORK_ORDER_CREATED', 'DRAFT', 1, 1)
    $$,
    '42501', NULL,
    'Row-level security refuses the owner a ledger row for another tenant.'
);
SELECT throws_ok(
    $$
    INSERT INTO os_core.work_orders_current (
        tenant_id, work_order_id, schema_version, correlation_id, turn_id, work_order_status,
        last_event_id, last_reason_code, last_updated_at, event_count
    ) VALUES ('acme', 'wo-forged', 1, 99, 1, 'DRAFT', 1, 1, 1, 1)
    $$,
    '42501', NULL,
    'Row-level security refuses the owner a current row for another tenant.'
);

-- Acting as selene_owner (no tenant declared): fail closed
SELECT tap.act_as('selene_owner');
SELECT is_empty($$SELECT 1 FROM os_core.work_order_ledger$$, 'With no tenant declared the owner sees no ledger row.');
SELECT is_empty($$SELECT 1 FROM os_core.work_orders_current$$, 'With no tenant declared the owner sees no current row.');
SELECT is_empty($$SELECT 1 FROM ph1j.audit_events$$, 'With no tenant declared the owner sees no audit row.');
RESET ROLE;

-- Acting as selene_os (no tenant declared)
SELECT tap.act_as('selene_os');
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_tenant_id => 'acme', p_work_order_id => 'wo-new')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'An append with no tenant declared is a tenant scope violation.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_current_read('acme', 'wo-shared')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'A current read with no tenant declared is a tenant scope violation.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_ledger_read('acme')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'A ledger read with no tenant declared is a tenant scope violation.'
);
SELECT throws_ok(
    $$SELECT os_core.set_tenant('acme ')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'set_tenant refuses a tenant_id that breaks the tenant_id format.'
);
SELECT is(tap.ledger_count('acme', 'wo-new'), 0::bigint, 'The refused append wrote no ledger row.');
RESET ROLE;

-- Acting as selene_os (tenant acme): tenant_id other than the declared one
SELECT tap.act_as('selene_os', 'acme');
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_tenant_id => 'ACME', p_work_order_id => 'wo-new')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'tenant_id ACME is not the declared acme: tenant ids are case-sensitive.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_tenant_id => 'acme ', p_work_order_id => 'wo-new')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'tenant_id with a trailing space is not the declared tenant.'
);
SELECT throws_ok(
    $$SELECT * FROM tap.append(p_tenant_id => 'globex', p_work_order_id => 'wo-new')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'An append for another tenant is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_ledger_append(NULL, 'wo-new', 1, 1, 'WORK_ORDER_CREATED', 'DRAFT', 1, 1)$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'An append with a NULL tenant_id is refused as out of scope.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_current_read('ACME', 'wo-shared')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'A current read for ACME while acme is declared is refused.'
);
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_ledger_read('acme ', 'wo-shared')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'A ledger read for ''acme '' while acme is declared is refused.'
);
SELECT is(tap.ledger_count(NULL, 'wo-new'), 0::bigint, 'No refused append wrote a ledger row, in any tenant.');
SELECT is(tap.audit_count(NULL, 'wo-new'), 0::bigint, 'No refused append wrote an audit row, in any tenant.');
RESET ROLE;

-- Acting as tap_app (a login role in selene_os, not a DBA; tenant acme)
CREATE ROLE tap_app LOGIN IN ROLE selene_os;
CREATE ROLE tap_dba LOGIN IN ROLE selene_dba;
SET LOCAL SESSION AUTHORIZATION tap_app;
SELECT os_core.set_tenant('acme');
SELECT throws_ok(
    $$SELECT tenant_count, work_order_count, event_count FROM os_core.work_orders_current_rebuild()$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'A non-DBA login cannot rebuild every tenant.'
);
SELECT throws_ok(
    $$SELECT tenant_count, work_order_count, event_count FROM os_core.work_orders_current_rebuild(NULL)$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'A non-DBA login cannot rebuild every tenant by passing NULL.'
);
SELECT throws_ok(
    $$SELECT tenant_count, work_order_count, event_count FROM os_core.work_orders_current_rebuild('globex')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'A non-DBA login cannot rebuild a tenant other than the declared one.'
);
SELECT results_eq(
    $$SELECT tenant_count, work_order_count, event_count FROM os_core.work_orders_current_rebuild('acme')$$,
    $$VALUES (1::bigint, 1::bigint, 2::bigint)$$,
    'A non-DBA login may rebuild its declared tenant: one tenant, one work order, two events.'
);
SELECT tap.act_as('none');
SELECT throws_ok(
    $$SELECT tenant_count, work_order_count, event_count FROM os_core.work_orders_current_rebuild('acme')$$,
    'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
    'A non-DBA login with no tenant declared cannot rebuild even one tenant.'
);
RESET SESSION AUTHORIZATION;

-- Acting as tap_dba (a login role in selene_dba, no tenant declared)
SET LOCAL SESSION AUTHORIZATION tap_dba;
SELECT results_eq(
    $$SELECT tenant_count, work_order_count, event_count FROM os_core.work_orders_current_rebuild()$$,
    $$VALUES (2::bigint, 2::bigint, 3::bigint)$$,
    'A selene_dba login rebuilds every tenant: two tenants, two work orders, three events.'
);
SELECT results_eq(
    $$SELECT tenant_count, work_order_count, event_count FROM os_core.work_orders_current_rebuild('globex')$$,
    $$VALUES (1::bigint, 1::bigint, 1::bigint)$$,
    'A selene_dba login rebuilds a named tenant without declaring it.'
);
RESET SESSION AUTHORIZATION;

-- Acting as postgres (superuser, so a selene_dba member)
SELECT results_eq(
    $$SELECT tenant_count, work_order_count, event_count FROM os_core.work_orders_current_rebuild(NULL)$$,
    $$VALUES (2::bigint, 2::bigint, 3::bigint)$$,
    'The superuser rebuilds every tenant.'
);
SELECT results_eq(
    $$
    SELECT tenant_id::text, work_order_status::text, event_count
    FROM os_core.work_orders_current
    WHERE work_order_id = 'wo-shared'
    ORDER BY tenant_id
    $$,
    $$VALUES ('acme', 'EXECUTING', 2::bigint), ('globex', 'CLARIFY', 1::bigint)$$,
    'After the rebuilds both tenants'' wo-shared are still independent and unchanged.'
);

SELECT * FROM finish();
ROLLBACK;
