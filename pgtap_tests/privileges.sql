-- privileges: allowed_callers SELENE_OS_ONLY made real (design §4). Proves,
-- by trying, that selene_os, selene_dba and a role holding only PUBLIC's
-- privileges can neither read nor write any table or sequence directly (42501),
-- cannot call the internal helpers or read the *_from_ledger views (42501), and
-- cannot create objects in os_core;
-- that selene_os and selene_dba can call every capability function; that
-- PUBLIC can call no function of the capability catalogue (os_core.capabilities());
-- and that none of them can take an advisory lock
-- (which would let a session stall another tenant's appends: migration 0004).
BEGIN;
\ir support/helpers.sql

SELECT plan(221);

CREATE ROLE tap_public_only NOLOGIN;

-- Every direct statement on every table: 6 tables x 5 statements.
CREATE TABLE tap.direct_statements (statement text, description text);
INSERT INTO tap.direct_statements
SELECT format(s.template, t.name), format(s.description, t.name)
FROM (
    VALUES
        ('os_core.work_order_ledger'),
        ('os_core.work_orders_current'),
        ('os_core.work_order_step_attempts'),
        ('os_core.work_order_leases'),
        ('ph1j.audit_events'),
        ('os_core.consumer_positions')
) AS t (name)
CROSS JOIN (
    VALUES
        (1, 'SELECT * FROM %s', 'SELECT from %s is denied.'),
        (2, 'INSERT INTO %s DEFAULT VALUES', 'INSERT into %s is denied.'),
        (3, 'UPDATE %s SET tenant_id = tenant_id', 'UPDATE of %s is denied.'),
        (4, 'DELETE FROM %s', 'DELETE from %s is denied.'),
        (5, 'TRUNCATE %s', 'TRUNCATE of %s is denied.')
) AS s (n, template, description)
ORDER BY t.name, s.n;

-- Every internal helper, the identity sequences and the ledger views: 18 + 2 + 3 statements.
CREATE TABLE tap.internal_statements (statement text, description text);
INSERT INTO tap.internal_statements VALUES
    ($$SELECT os_core.raise_error('OS_WORK_ORDER_APPEND_ONLY_VIOLATION', 'forged')$$, 'os_core.raise_error cannot be called.'),
    ($$SELECT os_core.require_tenant_scope('acme')$$, 'os_core.require_tenant_scope cannot be called.'),
    ($$SELECT ph1j.emit_append_audit(NULL::os_core.work_order_ledger, 'APPENDED', NULL)$$, 'ph1j.emit_append_audit cannot be called.'),
    ($$SELECT os_core.work_order_event_contract_violation(1, 'acme', 'wo-1', 1, 1, 'WORK_ORDER_CREATED', 'DRAFT', 1,
        NULL, NULL, NULL, NULL, NULL, 1, NULL, NULL)$$, 'os_core.work_order_event_contract_violation cannot be called.'),
    ($$SELECT os_core.current_tenant_id()$$, 'os_core.current_tenant_id cannot be called.'),
    ($$SELECT os_core.next_event_id_after(1)$$, 'os_core.next_event_id_after cannot be called.'),
    ($$SELECT os_core.is_terminal_status('DONE')$$, 'os_core.is_terminal_status cannot be called.'),
    ($$SELECT os_core.tg_append_only__refuse_mutation()$$, 'the trigger function cannot be called.'),
    ($$SELECT nextval('os_core.work_order_ledger_work_order_event_id_seq')$$, 'the ledger''s event id sequence cannot be advanced.'),
    ($$SELECT nextval('ph1j.audit_events_audit_event_id_seq')$$, 'the audit id sequence cannot be advanced.'),
    ($$SELECT os_core.lock_work_order('acme', 'wo-1')$$, 'os_core.lock_work_order cannot be called.'),
    ($$SELECT os_core.paging_horizon()$$, 'os_core.paging_horizon cannot be called.'),
    ($$SELECT os_core.first_unassigned_xid(pg_current_snapshot(), NULL)$$, 'os_core.first_unassigned_xid cannot be called.'),
    ($$SELECT os_core.project_step_attempt(NULL::os_core.work_order_ledger)$$, 'os_core.project_step_attempt cannot be called.'),
    ($$SELECT os_core.project_lease(NULL::os_core.work_order_ledger)$$, 'os_core.project_lease cannot be called.'),
    ($$SELECT os_core.projection_drift('acme', FALSE)$$, 'os_core.projection_drift cannot be called.'),
    ($$SELECT os_core.lock_consumer('acme', 'tap-consumer', 'ledger')$$, 'os_core.lock_consumer cannot be called.'),
    ($$SELECT ph1j.emit_diagnostic_audit('acme', 'OS_WORK_ORDER_CURRENT_VERIFY', 'VERIFIED', '{}')$$,
        'ph1j.emit_diagnostic_audit cannot be called.'),
    ($$SELECT * FROM ph1j.draw_audit_event_id()$$, 'ph1j.draw_audit_event_id cannot be called.'),
    ($$SELECT * FROM os_core.work_orders_current_from_ledger$$, 'the current projection''s ledger view cannot be read.'),
    ($$SELECT * FROM os_core.work_order_step_attempts_from_ledger$$, 'the step attempts'' ledger view cannot be read.'),
    ($$SELECT * FROM os_core.work_order_leases_from_ledger$$, 'the leases'' ledger view cannot be read.');
-- A call of each function of the capability catalogue, with NULL arguments: 25 statements.
CREATE TABLE tap.catalogue_calls AS
SELECT
    split_part(c.sql_function, '(', 1) AS name,
    format(
        'SELECT * FROM %s(%s)',
        split_part(c.sql_function, '(', 1),
        (
            SELECT coalesce(string_agg(format('NULL::%s', format_type(t.type, NULL)), ', ' ORDER BY t.n), '')
            FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS t (type, n)
        )
    ) AS statement
FROM os_core.capabilities() AS c
JOIN pg_catalog.pg_proc AS p ON p.oid = to_regprocedure(c.sql_function);
GRANT SELECT ON tap.direct_statements, tap.internal_statements, tap.catalogue_calls TO PUBLIC;

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');
SELECT throws_ok(d.statement, '42501', NULL, 'selene_os: ' || d.description) FROM tap.direct_statements AS d;
SELECT throws_ok(i.statement, '42501', NULL, 'selene_os: ' || i.description) FROM tap.internal_statements AS i;
SELECT throws_ok($$CREATE TABLE os_core.tap_forged (id int)$$, '42501', NULL, 'selene_os cannot create a table in os_core.');
SELECT lives_ok($$SELECT os_core.set_tenant('acme')$$, 'selene_os can call set_tenant.');
SELECT lives_ok($$SELECT * FROM os_core.error_codes()$$, 'selene_os can call error_codes.');
SELECT lives_ok($$SELECT * FROM os_core.work_order_ledger_append('acme', 'wo-os', 1, 1, 'WORK_ORDER_CREATED', 'DRAFT', 1, 1000)$$,
    'selene_os can call work_order_ledger_append.');
SELECT lives_ok($$SELECT * FROM os_core.work_order_ledger_append_many('acme', '[{"work_order_id": "wo-os-many", "correlation_id": 11, "turn_id": 1, "event_type": "WORK_ORDER_CREATED", "work_order_status": "DRAFT", "reason_code": 1, "created_at": 1000}]')$$,
    'selene_os can call work_order_ledger_append_many.');
SELECT lives_ok($$SELECT * FROM os_core.work_order_current_read('acme', 'wo-os')$$, 'selene_os can call work_order_current_read.');
SELECT lives_ok($$SELECT * FROM os_core.work_order_ledger_read('acme')$$, 'selene_os can call work_order_ledger_read.');
SELECT lives_ok($$SELECT * FROM os_core.work_order_cancel('acme', 'wo-os', 1, 'cancel-wo-os', 2000, 2)$$,
    'selene_os can call work_order_cancel.');
SELECT lives_ok($$SELECT * FROM os_core.work_orders_list_pending('acme')$$, 'selene_os can call work_orders_list_pending.');
SELECT lives_ok($$SELECT * FROM os_core.work_orders_current_rebuild('acme')$$, 'selene_os can call work_orders_current_rebuild.');
SELECT lives_ok($$SELECT * FROM os_core.work_orders_current_verify('acme')$$, 'selene_os can call work_orders_current_verify.');
SELECT lives_ok($$SELECT * FROM os_core.tenant_stats('acme')$$, 'selene_os can call tenant_stats for its tenant.');
SELECT lives_ok($$SELECT * FROM os_core.work_order_step_attempts_read('acme', 'wo-os')$$, 'selene_os can call work_order_step_attempts_read.');
SELECT lives_ok($$SELECT * FROM os_core.work_order_lease_read('acme', 'wo-os')$$, 'selene_os can call work_order_lease_read.');
SELECT lives_ok($$SELECT os_core.consumer_position('acme', 'tap-os')$$, 'selene_os can call consumer_position.');
SELECT lives_ok($$SELECT os_core.consumer_commit('acme', 'tap-os', 0)$$, 'selene_os can call consumer_commit.');
SELECT lives_ok($$SELECT * FROM os_core.consumer_stats('acme')$$, 'selene_os can call consumer_stats.');
RESET ROLE;

-- Acting as selene_dba (tenant acme)
SELECT tap.act_as('selene_dba', 'acme');
SELECT throws_ok(d.statement, '42501', NULL, 'selene_dba: ' || d.description) FROM tap.direct_statements AS d;
SELECT throws_ok(i.statement, '42501', NULL, 'selene_dba: ' || i.description) FROM tap.internal_statements AS i;
SELECT throws_ok($$CREATE TABLE os_core.tap_forged (id int)$$, '42501', NULL, 'selene_dba cannot create a table in os_core.');
SELECT lives_ok($$SELECT os_core.set_tenant('acme')$$, 'selene_dba can call set_tenant.');
SELECT lives_ok($$SELECT * FROM os_core.error_codes()$$, 'selene_dba can call error_codes.');
SELECT lives_ok($$SELECT * FROM os_core.work_order_ledger_append('acme', 'wo-dba', 2, 1, 'WORK_ORDER_CREATED', 'DRAFT', 1, 1000)$$,
    'selene_dba can call work_order_ledger_append.');
SELECT lives_ok($$SELECT * FROM os_core.work_order_ledger_append_many('acme', '[{"work_order_id": "wo-dba-many", "correlation_id": 12, "turn_id": 1, "event_type": "WORK_ORDER_CREATED", "work_order_status": "DRAFT", "reason_code": 1, "created_at": 1000}]')$$,
    'selene_dba can call work_order_ledger_append_many.');
SELECT lives_ok($$SELECT * FROM os_core.work_order_current_read('acme', 'wo-dba')$$, 'selene_dba can call work_order_current_read.');
SELECT lives_ok($$SELECT * FROM os_core.work_order_ledger_read('acme')$$, 'selene_dba can call work_order_ledger_read.');
SELECT lives_ok($$SELECT * FROM os_core.work_order_cancel('acme', 'wo-dba', 1, 'cancel-wo-dba', 2000, 2)$$,
    'selene_dba can call work_order_cancel.');
SELECT lives_ok($$SELECT * FROM os_core.work_orders_list_pending('acme')$$, 'selene_dba can call work_orders_list_pending.');
SELECT lives_ok($$SELECT * FROM os_core.work_orders_current_rebuild()$$, 'selene_dba can call work_orders_current_rebuild for every tenant.');
SELECT lives_ok($$SELECT * FROM os_core.work_orders_current_verify()$$, 'selene_dba can call work_orders_current_verify for every tenant.');
SELECT lives_ok($$SELECT * FROM os_core.tenant_stats()$$, 'selene_dba can call tenant_stats for every tenant.');
SELECT lives_ok($$SELECT * FROM os_core.work_order_step_attempts_read('acme', 'wo-dba')$$, 'selene_dba can call work_order_step_attempts_read.');
SELECT lives_ok($$SELECT * FROM os_core.work_order_lease_read('acme', 'wo-dba')$$, 'selene_dba can call work_order_lease_read.');
SELECT lives_ok($$SELECT os_core.consumer_position('acme', 'tap-dba')$$, 'selene_dba can call consumer_position.');
SELECT lives_ok($$SELECT os_core.consumer_commit('acme', 'tap-dba', 0)$$, 'selene_dba can call consumer_commit.');
SELECT lives_ok($$SELECT * FROM os_core.consumer_stats('acme')$$, 'selene_dba can call consumer_stats.');
RESET ROLE;

-- Acting as tap_public_only (PUBLIC's privileges only; tenant acme)
SELECT tap.act_as('tap_public_only', 'acme');
SELECT throws_ok(d.statement, '42501', NULL, 'PUBLIC: ' || d.description) FROM tap.direct_statements AS d;
SELECT throws_ok(i.statement, '42501', NULL, 'PUBLIC: ' || i.description) FROM tap.internal_statements AS i;
-- Every function of the capability catalogue (os_core.capabilities()), called with
-- NULL arguments: refused for the privilege before any argument is looked at.
SELECT throws_ok(c.statement, '42501', NULL, format('PUBLIC cannot call %s.', c.name))
FROM tap.catalogue_calls AS c
ORDER BY c.name;
RESET ROLE;

-- Advisory locks: only the product's function owners may take one.
CREATE TABLE tap.advisory_lock_functions AS
SELECT p.oid::regprocedure AS signature
FROM pg_catalog.pg_proc AS p
WHERE
    p.pronamespace = 'pg_catalog'::regnamespace
    AND p.proname ~ '^pg_(try_)?advisory_(xact_)?lock(_shared)?$';
SELECT is(
    (SELECT count(*)::integer FROM tap.advisory_lock_functions),
    16,
    'There are 16 functions that take an advisory lock (8 kinds, bigint and int4 pair keys).'
);
SELECT is(
    (
        SELECT array_agg(format('%s: %s', r.rolname, f.signature) ORDER BY 1)
        FROM tap.advisory_lock_functions AS f
        CROSS JOIN (VALUES ('selene_os'), ('selene_dba'), ('tap_public_only')) AS r (rolname)
        WHERE has_function_privilege(r.rolname, f.signature, 'EXECUTE')
    ),
    NULL,
    'selene_os, selene_dba and PUBLIC cannot take any advisory lock.'
);
SELECT is(
    (
        SELECT count(*)::integer
        FROM tap.advisory_lock_functions AS f
        CROSS JOIN (VALUES ('selene_owner'), ('selene_projector')) AS r (rolname)
        WHERE has_function_privilege(r.rolname, f.signature, 'EXECUTE')
    ),
    32,
    'selene_owner (append, cancel) and selene_projector (rebuild) can take all 16.'
);
SELECT tap.act_as('selene_os', 'acme');
SELECT throws_ok($$SELECT pg_advisory_xact_lock(hashtextextended('acme/wo-os', 0))$$, '42501', NULL,
    'selene_os cannot take the advisory lock of a work order.');
SELECT throws_ok($$SELECT pg_try_advisory_lock_shared(1, 2)$$, '42501', NULL,
    'selene_os cannot take a shared advisory lock on an int4 pair either.');
RESET ROLE;

-- Acting as postgres (superuser)
SELECT results_eq(
    $$SELECT work_order_id::text FROM os_core.work_order_ledger ORDER BY work_order_event_id$$,
    $$VALUES ('wo-os'), ('wo-os-many'), ('wo-os'), ('wo-dba'), ('wo-dba-many'), ('wo-dba')$$,
    'Only the two appends, the two batches and the two cancels made through the capability functions reached the ledger.'
);

SELECT * FROM finish();
ROLLBACK;
