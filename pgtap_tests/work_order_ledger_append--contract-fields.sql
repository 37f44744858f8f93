-- work_order_ledger_append--contract-fields: every per-field rule of WorkOrderLedgerEventInput v1
-- (design §2), through os_core.work_order_ledger_append. Each refused event breaks
-- exactly one rule of an otherwise valid event and gets
-- OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED (SE004); each limit is tried at N
-- (accepted) and N+1 (refused); refused appends write no ledger and no audit row.
-- Last, the table itself refuses the same invalid rows on a direct INSERT by the
-- superuser (23514 check violation, 23502 not-null violation).
BEGIN;
\ir support/helpers.sql

SELECT plan(188);

SELECT is(
    current_setting('server_encoding'), 'UTF8',
    'The database is UTF8, so the Unicode whitespace below is what it says.'
);

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');

-- Required fields.
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => NULL)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'work_order_id is required.');
SELECT throws_ok(
    $$SELECT * FROM os_core.work_order_ledger_append('acme', 'wo-bad', NULL, 1, 'WORK_ORDER_CREATED', 'DRAFT', 1, 1000)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'correlation_id is required.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_turn_id => NULL)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'turn_id is required.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_event_type => NULL)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'event_type is required.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_work_order_status => NULL)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'work_order_status is required.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_reason_code => NULL)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'reason_code is required.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_created_at => NULL)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'created_at is required.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_schema_version => NULL)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'schema_version may not be NULL.');

-- Blank text: empty, or only whitespace of any kind, in each text field that has
-- the rule (60 tests: 6 fields x 10 blanks).
SELECT throws_ok(
    format('SELECT * FROM tap.append(%s)', f.args),
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    format('%s made of %s is refused as blank.', f.field, b.name)
)
FROM (
    VALUES
        ('the empty string', ''),
        ('three spaces', '   '),
        ('a tab', chr(9)),
        ('a newline', chr(10)),
        ('CR LF between spaces', ' ' || chr(13) || chr(10) || ' '),
        ('U+00A0 no-break space', chr(160)),
        ('U+3000 ideographic space', chr(12288)),
        ('U+200B zero-width space', chr(8203)),
        ('U+2028 line separator', chr(8232)),
        ('U+FEFF byte order mark', chr(65279))
) AS b (name, value)
CROSS JOIN LATERAL (
    VALUES
        ('work_order_id', format('p_work_order_id => %L', b.value)),
        ('step_id', format('p_work_order_id => ''wo-bad'', p_step_id => %L', b.value)),
        ('step_input_hash', format('p_work_order_id => ''wo-bad'', p_step_id => ''s1'', p_step_input_hash => %L', b.value)),
        ('lease_owner_id', format('p_work_order_id => ''wo-bad'', p_lease_owner_id => %L, p_lease_token_hash => ''tok'', p_lease_expires_at => 5000', b.value)),
        ('lease_token_hash', format('p_work_order_id => ''wo-bad'', p_lease_owner_id => ''worker-1'', p_lease_token_hash => %L, p_lease_expires_at => 5000', b.value)),
        ('idempotency_key', format('p_work_order_id => ''wo-bad'', p_idempotency_key => %L', b.value))
) AS f (field, args);

SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => ' padded ')$$,
    'A work_order_id with spaces around visible characters is not blank: accepted.');

-- Lengths, in characters: N accepted, N+1 refused.
SELECT lives_ok(format('SELECT * FROM tap.append(p_work_order_id => %L)', repeat('w', 128)),
    'A work_order_id of 128 characters is accepted.');
SELECT throws_ok(format('SELECT * FROM tap.append(p_work_order_id => %L)', repeat('w', 129)),
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A work_order_id of 129 characters is refused.');
SELECT lives_ok(format('SELECT * FROM tap.append(p_work_order_id => %L)', repeat('é', 128)),
    'A work_order_id of 128 two-byte characters (256 bytes) is accepted: lengths count characters.');
SELECT throws_ok(format('SELECT * FROM tap.append(p_work_order_id => %L)', repeat('é', 129)),
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A work_order_id of 129 two-byte characters is refused.');
SELECT lives_ok(format('SELECT * FROM tap.append(p_work_order_id => ''ok-step'', p_step_id => %L)', repeat('s', 96)),
    'A step_id of 96 characters is accepted.');
SELECT throws_ok(format('SELECT * FROM tap.append(p_work_order_id => ''wo-bad'', p_step_id => %L)', repeat('s', 97)),
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A step_id of 97 characters is refused.');
SELECT lives_ok(format('SELECT * FROM tap.append(p_work_order_id => ''ok-hash'', p_step_id => ''s1'', p_step_input_hash => %L)', repeat('h', 128)),
    'A step_input_hash of 128 characters is accepted.');
SELECT throws_ok(format('SELECT * FROM tap.append(p_work_order_id => ''wo-bad'', p_step_id => ''s1'', p_step_input_hash => %L)', repeat('h', 129)),
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A step_input_hash of 129 characters is refused.');
SELECT lives_ok(format('SELECT * FROM tap.append(p_work_order_id => ''ok-owner'', p_lease_owner_id => %L, p_lease_token_hash => ''tok'', p_lease_expires_at => 5000)', repeat('o', 128)),
    'A lease_owner_id of 128 characters is accepted.');
SELECT throws_ok(format('SELECT * FROM tap.append(p_work_order_id => ''wo-bad'', p_lease_owner_id => %L, p_lease_token_hash => ''tok'', p_lease_expires_at => 5000)', repeat('o', 129)),
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A lease_owner_id of 129 characters is refused.');
SELECT lives_ok(format('SELECT * FROM tap.append(p_work_order_id => ''ok-token'', p_lease_owner_id => ''worker-1'', p_lease_token_hash => %L, p_lease_expires_at => 5000)', repeat('t', 128)),
    'A lease_token_hash of 128 characters is accepted.');
SELECT throws_ok(format('SELECT * FROM tap.append(p_work_order_id => ''wo-bad'', p_lease_owner_id => ''worker-1'', p_lease_token_hash => %L, p_lease_expires_at => 5000)', repeat('t', 129)),
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A lease_token_hash of 129 characters is refused.');
SELECT lives_ok(format('SELECT * FROM tap.append(p_work_order_id => ''ok-key'', p_idempotency_key => %L)', repeat('k', 128)),
    'An idempotency_key of 128 characters is accepted.');
SELECT throws_ok(format('SELECT * FROM tap.append(p_work_order_id => ''wo-bad'', p_idempotency_key => %L)', repeat('k', 129)),
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'An idempotency_key of 129 characters is refused.');

-- correlation_id: an integer with 1 <= id < 2^128.
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_correlation_id => 0)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'correlation_id 0 is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_correlation_id => -1)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'correlation_id -1 is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_correlation_id => 1.5)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'correlation_id 1.5 is refused: it must be an integer.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_correlation_id => 340282366920938463463374607431768211456)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'correlation_id 2^128 is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_correlation_id => 'NaN')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'correlation_id NaN is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_correlation_id => 'Infinity')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'correlation_id Infinity is refused.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'ok-corr-max', p_correlation_id => 340282366920938463463374607431768211455)$$,
    'correlation_id 2^128-1 is accepted.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'ok-corr-min', p_correlation_id => 1)$$,
    'correlation_id 1 is accepted.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'ok-corr-scale', p_correlation_id => 42.000)$$,
    'correlation_id 42.000, an integer written with a scale, is accepted.');

-- turn_id > 0.
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_turn_id => 0)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'turn_id 0 is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_turn_id => -1)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'turn_id -1 is refused.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'ok-turn-max', p_turn_id => 9223372036854775807)$$,
    'turn_id 2^63-1 is accepted.');

-- reason_code: 1 <= code <= 2^32-1.
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_reason_code => 0)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'reason_code 0 is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_reason_code => -1)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'reason_code -1 is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_reason_code => 4294967296)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'reason_code 2^32 is refused.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'ok-reason-max', p_reason_code => 4294967295)$$,
    'reason_code 2^32-1 is accepted.');

-- created_at > 0.
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_created_at => 0)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'created_at 0 is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_created_at => -1)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'created_at -1 is refused.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'ok-created-1', p_created_at => 1)$$,
    'created_at 1 is accepted.');

-- event_type, work_order_status and schema_version: known values only.
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_event_type => 'WORK_ORDER_DELETED')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'An unknown event_type is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_event_type => 'work_order_created')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'event_type is case-sensitive: work_order_created is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_event_type => 'WORK_ORDER_CREATED ')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'An event_type with a trailing space is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_work_order_status => 'PENDING')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'An unknown work_order_status is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_work_order_status => 'draft')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'work_order_status is case-sensitive: draft is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_schema_version => 2)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'schema_version 2 is refused: this is contract v1.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_schema_version => 0)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'schema_version 0 is refused.');

-- payload: an optional JSON object of at most 64 KiB, nesting at most 64 levels.
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_payload => '[]')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A JSON array payload is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_payload => '"text"')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A JSON string payload is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_payload => '42')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A JSON number payload is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_payload => 'null')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A JSON null payload is refused (SQL NULL means no payload).');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_payload => jsonb_build_object('blob', repeat('x', 70000)))$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A payload object of about 70 KB is refused: the bound is 64 KiB.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'ok-payload-60k', p_payload => jsonb_build_object('blob', repeat('x', 60000)))$$,
    'A payload object of about 60 KB is accepted.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'ok-payload-empty', p_payload => '{}')$$,
    'An empty payload object is accepted.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'ok-payload-deep', p_payload => ('{"a":' || repeat('[', 64) || repeat(']', 64) || '}')::jsonb)$$,
    'A payload whose deepest value is 64 levels below it is accepted.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_payload => ('{"a":' || repeat('[', 65) || repeat(']', 65) || '}')::jsonb)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A payload with a value 65 levels below it is refused.');

-- Lease: owner, token hash and expiry together, expiry after created_at.
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_lease_owner_id => 'worker-1')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A lease_owner_id alone is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_lease_token_hash => 'tok')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A lease_token_hash alone is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_lease_expires_at => 5000)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A lease_expires_at alone is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_lease_owner_id => 'worker-1', p_lease_token_hash => 'tok')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A lease without lease_expires_at is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_lease_owner_id => 'worker-1', p_lease_expires_at => 5000)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A lease without lease_token_hash is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_lease_token_hash => 'tok', p_lease_expires_at => 5000)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A lease without lease_owner_id is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_created_at => 1000,
        p_lease_owner_id => 'worker-1', p_lease_token_hash => 'tok', p_lease_expires_at => 1000)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A lease expiring at created_at is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_created_at => 1000,
        p_lease_owner_id => 'worker-1', p_lease_token_hash => 'tok', p_lease_expires_at => 999)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A lease expiring before created_at is refused.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'ok-lease', p_created_at => 1000,
        p_lease_owner_id => 'worker-1', p_lease_token_hash => 'tok', p_lease_expires_at => 1001)$$,
    'A lease expiring one nanosecond after created_at is accepted.');

-- Steps: step events name a step; a step_input_hash needs a step_id.
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-steps')$$,
    'Work order wo-steps is created for the step rules.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-steps', p_event_type => 'STEP_STARTED', p_work_order_status => 'EXECUTING')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'STEP_STARTED without step_id is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-steps', p_event_type => 'STEP_FINISHED', p_work_order_status => 'EXECUTING')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'STEP_FINISHED without step_id is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-steps', p_event_type => 'STEP_FAILED', p_work_order_status => 'EXECUTING')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'STEP_FAILED without step_id is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-steps', p_event_type => 'FIELD_SET', p_step_input_hash => 'in-1')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A step_input_hash without step_id is refused.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-steps', p_event_type => 'STEP_STARTED', p_work_order_status => 'EXECUTING', p_step_id => 'step-1', p_step_input_hash => 'in-1')$$,
    'STEP_STARTED with step_id and step_input_hash is accepted.');

-- WORK_ORDER_CANCELED carries CANCELED, and only it does.
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-steps', p_event_type => 'WORK_ORDER_CANCELED', p_work_order_status => 'EXECUTING')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'WORK_ORDER_CANCELED with status EXECUTING is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-steps', p_event_type => 'WORK_ORDER_CANCELED', p_work_order_status => 'DONE')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'WORK_ORDER_CANCELED with status DONE is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-steps', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'CANCELED')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'STATUS_CHANGED to CANCELED is refused: cancel is its own event.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad', p_work_order_status => 'CANCELED')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'WORK_ORDER_CREATED with status CANCELED is refused.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-steps', p_event_type => 'WORK_ORDER_CANCELED', p_work_order_status => 'CANCELED')$$,
    'WORK_ORDER_CANCELED with status CANCELED is accepted.');
RESET ROLE;

-- Acting as selene_os (tenant_id declared past set_tenant's own check): tenant_id format
SELECT tap.act_as('selene_os', repeat('t', 64));
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'ok-tenant-64')$$,
    'A tenant_id of 64 characters is accepted.');
SELECT tap.act_as('selene_os', repeat('t', 65));
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-bad')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A tenant_id of 65 characters is refused.');
SELECT tap.act_as('selene_os', 'a_b.c:d-E9');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'ok-tenant-chars')$$,
    'A tenant_id of letters, digits, _ . : and - is accepted.');

-- One test per bad tenant_id: the LATERAL call declares it (as selene_os) just
-- before the row's throws_ok runs.
SELECT throws_ok(
    'SELECT * FROM tap.append(p_work_order_id => ''wo-bad'')',
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    format('A tenant_id containing %s is refused.', t.name)
)
FROM (
    VALUES
        ('a space', 'acme corp'),
        ('a slash', 'acme/x'),
        ('a non-ASCII letter', 'acmé'),
        ('a semicolon', 'acme;x'),
        ('a trailing newline', 'acme' || chr(10)),
        ('a fullwidth letter', 'ａcme')
) AS t (name, value)
CROSS JOIN LATERAL tap.act_as('selene_os', t.value);
RESET ROLE;

-- Acting as postgres (superuser): nothing refused was written
SELECT is(tap.ledger_count(NULL, 'wo-bad'), 0::bigint, 'No refused append wrote a ledger row.');
SELECT is(tap.audit_count(NULL, 'wo-bad'), 0::bigint, 'No refused append wrote an audit row.');
SELECT is(tap.ledger_count(), 23::bigint, 'The ledger holds exactly the 23 accepted events.');
SELECT is(tap.audit_count(), 23::bigint, 'The audit trail holds exactly one row per accepted event.');
SELECT is(tap.ledger_count('acme', 'wo-steps'), 3::bigint, 'wo-steps holds its three accepted events and none of the refused ones.');
SELECT results_eq(
    $$SELECT l.correlation_id::text, c.correlation_id::text, a.correlation_id::text
      FROM os_core.work_order_ledger AS l
      INNER JOIN os_core.work_orders_current AS c USING (tenant_id, work_order_id)
      INNER JOIN ph1j.audit_events AS a USING (tenant_id, work_order_id)
      WHERE l.tenant_id = 'acme' AND l.work_order_id = 'ok-corr-scale'$$,
    $$VALUES ('42', '42', '42')$$,
    'correlation_id 42.000 is stored as 42 in the ledger, the projection and the audit trail.'
);

-- Acting as postgres (superuser): the table refuses invalid rows on a direct INSERT
SELECT lives_ok($$SELECT tap.ledger_insert()$$, 'A valid row inserted directly is accepted (superuser only).');
SELECT throws_ok($$SELECT tap.ledger_insert(p_tenant_id => 'acme corp')$$, '23514', NULL, 'The table refuses a tenant_id with a space.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_tenant_id => repeat('t', 65))$$, '23514', NULL, 'The table refuses a tenant_id of 65 characters.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_work_order_id => '   ')$$, '23514', NULL, 'The table refuses a blank work_order_id.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_work_order_id => chr(12288))$$, '23514', NULL, 'The table refuses a work_order_id of U+3000.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_work_order_id => repeat('w', 129))$$, '23514', NULL, 'The table refuses a work_order_id of 129 characters.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_correlation_id => 0)$$, '23514', NULL, 'The table refuses correlation_id 0.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_correlation_id => 340282366920938463463374607431768211456)$$, '23514', NULL, 'The table refuses correlation_id 2^128.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_correlation_id => 1.5)$$, '23514', NULL, 'The table refuses correlation_id 1.5.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_correlation_id => 1.0)$$, '23514', NULL, 'The table refuses correlation_id 1.0: ids are stored with scale 0.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_turn_id => 0)$$, '23514', NULL, 'The table refuses turn_id 0.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_event_type => 'WORK_ORDER_DELETED')$$, '23514', NULL, 'The table refuses an unknown event_type.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_work_order_status => 'PENDING')$$, '23514', NULL, 'The table refuses an unknown work_order_status.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_reason_code => 4294967296)$$, '23514', NULL, 'The table refuses reason_code 2^32.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_created_at => 0)$$, '23514', NULL, 'The table refuses created_at 0.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_step_id => repeat('s', 97))$$, '23514', NULL, 'The table refuses a step_id of 97 characters.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_step_id => chr(8203))$$, '23514', NULL, 'The table refuses a step_id of U+200B.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_idempotency_key => repeat('k', 129))$$, '23514', NULL, 'The table refuses an idempotency_key of 129 characters.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_schema_version => 2)$$, '23514', NULL, 'The table refuses schema_version 2.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_event_type => 'STEP_STARTED')$$, '23514', NULL, 'The table refuses a step event without step_id.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_step_input_hash => 'in-1')$$, '23514', NULL, 'The table refuses a step_input_hash without step_id.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_lease_owner_id => 'worker-1')$$, '23514', NULL, 'The table refuses a partial lease.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_lease_owner_id => 'worker-1', p_lease_token_hash => 'tok', p_lease_expires_at => 1000)$$,
    '23514', NULL, 'The table refuses a lease expiring at created_at.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_event_type => 'WORK_ORDER_CANCELED')$$, '23514', NULL, 'The table refuses WORK_ORDER_CANCELED without status CANCELED.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_work_order_status => 'CANCELED')$$, '23514', NULL, 'The table refuses status CANCELED on another event type.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_payload => '[1, 2]')$$, '23514', NULL, 'The table refuses a payload that is not an object.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_payload => jsonb_build_object('blob', repeat('x', 70000)))$$, '23514', NULL, 'The table refuses a payload over 64 KiB.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_payload => ('{"a":' || repeat('{"b":', 65) || '1' || repeat('}', 65) || '}')::jsonb)$$, '23514', NULL, 'The table refuses a payload nesting a value 66 levels deep.');
SELECT lives_ok($$SELECT tap.ledger_insert(p_payload => ('{"a":' || repeat('{"b":', 63) || '1' || repeat('}', 63) || '}')::jsonb)$$, 'The table accepts a payload nesting a value 64 levels deep.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_work_order_id => NULL)$$, '23502', NULL, 'The table refuses a NULL work_order_id.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_created_at => NULL)$$, '23502', NULL, 'The table refuses a NULL created_at.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_correlation_id => NULL)$$, '23502', NULL, 'The table refuses a NULL correlation_id.');
SELECT throws_ok($$SELECT tap.ledger_insert(p_tenant_id => NULL)$$, '23502', NULL, 'The table refuses a NULL tenant_id.');
SELECT is(tap.ledger_count('acme', 'wo-direct'), 2::bigint, 'Only the two valid direct rows reached the table.');

SELECT * FROM finish();
ROLLBACK;
