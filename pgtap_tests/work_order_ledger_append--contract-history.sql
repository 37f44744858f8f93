-- work_order_ledger_append--contract-history: the contract rules that depend on a work order's history
-- (design §2, §3): the first event is WORK_ORDER_CREATED and there is no second
-- one; a work order keeps its correlation_id, which binds one work order per
-- tenant; after DONE, REFUSED, FAILED or CANCELED only an idempotent replay
-- follows; created_at never goes backwards; an unexpired lease of another owner
-- (compared with the event's created_at) cannot be taken over; and the optional
-- expected event count. Every violation is SE004 and writes nothing.
BEGIN;
\ir support/helpers.sql

SELECT plan(53);

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');

-- The first event of a work order is WORK_ORDER_CREATED (7 tests).
SELECT throws_ok(
    format(
        'SELECT * FROM tap.append(p_work_order_id => ''wo-new'', p_event_type => %L, p_work_order_status => %L%s)',
        e.event_type, e.status, e.extra
    ),
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    format('A work order cannot start with %s.', e.event_type)
)
FROM (
    VALUES
        ('FIELD_SET', 'DRAFT', ''),
        ('FIELD_CONFLICT_RESOLVED', 'DRAFT', ''),
        ('STATUS_CHANGED', 'EXECUTING', ''),
        ('STEP_STARTED', 'EXECUTING', ', p_step_id => ''step-1'''),
        ('STEP_FINISHED', 'EXECUTING', ', p_step_id => ''step-1'''),
        ('STEP_FAILED', 'EXECUTING', ', p_step_id => ''step-1'''),
        ('WORK_ORDER_CANCELED', 'CANCELED', '')
) AS e (event_type, status, extra);
SELECT is(tap.ledger_count('acme', 'wo-new'), 0::bigint, 'No refused first event was written.');

-- No second WORK_ORDER_CREATED.
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-h', p_created_at => 1000)$$,
    'wo-h is created.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-h', p_created_at => 1000)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A second WORK_ORDER_CREATED, even identical, is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-h', p_created_at => 2000, p_work_order_status => 'CLARIFY')$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A later WORK_ORDER_CREATED is refused.');

-- correlation_id stays, and binds one work order per tenant.
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-h', p_event_type => 'FIELD_SET', p_created_at => 1100,
        p_correlation_id => tap.correlation_id('wo-h') + 1)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'An event of wo-h with another correlation_id is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-other', p_correlation_id => tap.correlation_id('wo-h'))$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A new work order cannot take the correlation_id bound to wo-h in the same tenant.');
SELECT is(tap.ledger_count('acme', 'wo-other'), 0::bigint, 'The refused creation of wo-other left no ledger row.');
SELECT is(tap.current_count('acme', 'wo-other'), 0::bigint, 'The refused creation of wo-other left no current row.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-other')$$,
    'wo-other is created with its own correlation_id.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-other', p_event_type => 'FIELD_SET',
        p_correlation_id => tap.correlation_id('wo-h'))$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'wo-other cannot switch to wo-h''s correlation_id.');
RESET ROLE;

-- Acting as selene_os (tenant globex)
SELECT tap.act_as('selene_os', 'globex');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-g', p_correlation_id => tap.correlation_id('wo-h'))$$,
    'Another tenant may use the correlation_id that wo-h holds in acme.');
RESET ROLE;

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');

-- created_at never goes backwards within a work order.
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-h', p_event_type => 'FIELD_SET', p_created_at => 999)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'An event of wo-h with created_at before its latest event is refused.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-h', p_event_type => 'FIELD_SET', p_created_at => 1000)$$,
    'An event with the same created_at as the latest is accepted.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-h', p_event_type => 'FIELD_SET', p_created_at => 1500)$$,
    'An event with a later created_at is accepted.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-h', p_event_type => 'FIELD_SET', p_created_at => 1499)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'Once at 1500, created_at 1499 is refused.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-late', p_created_at => 1)$$,
    'created_at is per work order: another work order may start earlier.');

-- Optimistic concurrency: p_expected_event_count (wo-h has 3 events).
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-h', p_event_type => 'FIELD_SET', p_created_at => 1500, p_expected_event_count => 2)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'An expected event count below the real one is refused.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-h', p_event_type => 'FIELD_SET', p_created_at => 1500, p_expected_event_count => 4)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'An expected event count above the real one is refused.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-h', p_event_type => 'FIELD_SET', p_created_at => 1500, p_expected_event_count => 3)$$,
    'The right expected event count is accepted.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-h', p_event_type => 'FIELD_SET', p_created_at => 1500, p_expected_event_count => 3)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'The same expected count again is refused: another event got there first.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-fresh', p_expected_event_count => 1)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'Creating a work order while expecting one event is refused.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-fresh', p_expected_event_count => 0)$$,
    'Creating a work order while expecting zero events is accepted.');
SELECT is(tap.ledger_count('acme', 'wo-h'), 4::bigint, 'wo-h holds exactly its four accepted events.');

-- Leases: another owner cannot take an unexpired lease, judged by created_at.
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-lease', p_created_at => 1000,
        p_lease_owner_id => 'worker-1', p_lease_token_hash => 'tok-1', p_lease_expires_at => 2000)$$,
    'wo-lease is created leased to worker-1 until 2000.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-lease', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'EXECUTING',
        p_created_at => 1500, p_lease_owner_id => 'worker-2', p_lease_token_hash => 'tok-2', p_lease_expires_at => 2500)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    'worker-2 cannot take the lease at 1500, though 2000 ns is long past by the wall clock: only created_at counts.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-lease', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'EXECUTING',
        p_created_at => 1999, p_lease_owner_id => 'worker-2', p_lease_token_hash => 'tok-2', p_lease_expires_at => 2500)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'worker-2 cannot take the lease one nanosecond before it expires.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-lease', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'EXECUTING',
        p_created_at => 1600, p_lease_owner_id => 'worker-1', p_lease_token_hash => 'tok-1b', p_lease_expires_at => 3000)$$,
    'worker-1 renews its own lease until 3000.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-lease', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'EXECUTING',
        p_created_at => 2500, p_lease_owner_id => 'worker-2', p_lease_token_hash => 'tok-2', p_lease_expires_at => 4000)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'After the renewal, worker-2 cannot take the lease at 2500.');
SELECT lives_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-lease', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'EXECUTING',
        p_created_at => 3000, p_lease_owner_id => 'worker-2', p_lease_token_hash => 'tok-2', p_lease_expires_at => 4000)$$,
    'worker-2 takes the lease over at 3000, the instant it expires.');
SELECT throws_ok($$SELECT * FROM tap.append(p_work_order_id => 'wo-lease', p_event_type => 'STATUS_CHANGED', p_work_order_status => 'EXECUTING',
        p_created_at => 3500, p_lease_owner_id => 'worker-1', p_lease_token_hash => 'tok-1c', p_lease_expires_at => 5000)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'worker-1 cannot take back the lease worker-2 now holds.');
SELECT results_eq(
    $$SELECT lease_owner_id::text, lease_token_hash::text, lease_expires_at::bigint, event_count FROM os_core.work_order_current_read('acme', 'wo-lease')$$,
    $$VALUES ('worker-2', 'tok-2', 4000::bigint, 3::bigint)$$,
    'wo-lease is held by worker-2 until 4000 after three accepted events.'
);

-- Terminal statuses: nothing but an idempotent replay follows (4 x 3 tests).
DO $$
BEGIN
    PERFORM tap.append(p_work_order_id => 'wo-' || lower(s.status))
    FROM (VALUES ('DONE'), ('REFUSED'), ('FAILED'), ('CANCELED')) AS s (status);
    PERFORM tap.append(
        p_work_order_id => 'wo-' || lower(s.status),
        p_event_type => CASE s.status WHEN 'CANCELED' THEN 'WORK_ORDER_CANCELED' ELSE 'STATUS_CHANGED' END,
        p_work_order_status => s.status, p_created_at => 2000, p_turn_id => 2,
        p_idempotency_key => 'end-' || lower(s.status)
    )
    FROM (VALUES ('DONE'), ('REFUSED'), ('FAILED'), ('CANCELED')) AS s (status);
END
$$;
SELECT throws_ok(
    format(
        'SELECT * FROM tap.append(p_work_order_id => %L, p_event_type => ''STATUS_CHANGED'', '
        'p_work_order_status => ''EXECUTING'', p_created_at => 3000, p_turn_id => 3)',
        'wo-' || lower(s.status)
    ),
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    format('After %s, a new STATUS_CHANGED is refused.', s.status)
)
FROM (VALUES ('DONE'), ('REFUSED'), ('FAILED'), ('CANCELED')) AS s (status);
SELECT throws_ok(
    format(
        'SELECT * FROM tap.append(p_work_order_id => %L, p_event_type => ''WORK_ORDER_CANCELED'', '
        'p_work_order_status => ''CANCELED'', p_created_at => 3000, p_turn_id => 3, p_idempotency_key => ''late-cancel'')',
        'wo-' || lower(s.status)
    ),
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
    format('After %s, a cancel under a new key is refused.', s.status)
)
FROM (VALUES ('DONE'), ('REFUSED'), ('FAILED'), ('CANCELED')) AS s (status);
SELECT is(
    (
        SELECT r.idempotency_replay FROM tap.append(
            p_work_order_id => 'wo-' || lower(s.status),
            p_event_type => CASE s.status WHEN 'CANCELED' THEN 'WORK_ORDER_CANCELED' ELSE 'STATUS_CHANGED' END,
            p_work_order_status => s.status, p_created_at => 2000, p_turn_id => 2,
            p_idempotency_key => 'end-' || lower(s.status)
        ) AS r
    ),
    TRUE,
    format('After %s, the replay of the terminal event is answered.', s.status)
)
FROM (VALUES ('DONE'), ('REFUSED'), ('FAILED'), ('CANCELED')) AS s (status);
RESET ROLE;

-- Acting as postgres (superuser): nothing refused was written
SELECT results_eq(
    $$SELECT work_order_id::text, count(*) FROM os_core.work_order_ledger
      WHERE tenant_id = 'acme' AND work_order_id IN ('wo-done', 'wo-refused', 'wo-failed', 'wo-canceled')
      GROUP BY work_order_id ORDER BY work_order_id$$,
    $$VALUES ('wo-canceled', 2::bigint), ('wo-done', 2::bigint), ('wo-failed', 2::bigint), ('wo-refused', 2::bigint)$$,
    'Each terminal work order still holds its two events.'
);
SELECT is(tap.ledger_count(), 19::bigint, 'The ledger holds exactly the 19 accepted events.');
SELECT is(tap.audit_count(), 23::bigint, 'The audit trail holds 19 appends and 4 replays, nothing for the refusals.');

SELECT * FROM finish();
ROLLBACK;
