-- schema: the schema smoke test. Proves that the schemas, the five tables with
-- their exact columns and keys, the capability functions with their signatures,
-- the append-only triggers and the tenant policies exist, and pins the security
-- surface exactly: which role may use which schema, table and function.
BEGIN;
\ir support/helpers.sql

SELECT plan(120);

-- A role with no grant of its own holds exactly what PUBLIC holds.
CREATE ROLE tap_public_only NOLOGIN;

-- Acting as postgres (superuser, reading the catalogs)

-- Schemas and tables.
SELECT has_schema('os_core', 'Schema os_core exists.');
SELECT has_schema('ph1j', 'Schema ph1j exists.');
SELECT has_table('os_core', 'work_order_ledger', 'The ledger table exists.');
SELECT has_table('os_core', 'work_orders_current', 'The current-state projection exists.');
SELECT has_table('os_core', 'work_order_step_attempts', 'The step-attempts projection exists.');
SELECT has_table('os_core', 'work_order_leases', 'The leases projection exists.');
SELECT has_table('ph1j', 'audit_events', 'The PH1.J audit table exists.');
SELECT has_table('os_core', 'consumer_positions', 'The durable consumers'' positions table exists.');

SELECT columns_are(
    'os_core', 'work_order_ledger',
    ARRAY[
        'tenant_id', 'work_order_event_id', 'schema_version', 'work_order_id', 'correlation_id',
        'turn_id', 'event_type', 'work_order_status', 'reason_code', 'step_id', 'step_input_hash',
        'lease_owner_id', 'lease_token_hash', 'lease_expires_at', 'created_at', 'idempotency_key',
        'payload', 'recorded_at', 'paging_horizon', 'paging_node_id'
    ],
    'The ledger has the event id, the contract fields, the payload, recorded_at and the paging horizon with its node, and nothing else.'
);
SELECT columns_are(
    'os_core', 'work_orders_current',
    ARRAY[
        'tenant_id', 'work_order_id', 'schema_version', 'correlation_id', 'turn_id',
        'work_order_status', 'last_event_id', 'last_reason_code', 'last_updated_at', 'step_id',
        'step_input_hash', 'lease_owner_id', 'lease_token_hash', 'lease_expires_at', 'event_count'
    ],
    'The current projection has the WorkOrderCurrentRecord columns plus event_count, and nothing else.'
);
SELECT columns_are(
    'ph1j', 'audit_events',
    ARRAY[
        'tenant_id', 'audit_event_id', 'capability', 'outcome', 'work_order_id', 'correlation_id',
        'turn_id', 'event_type', 'reason_code', 'idempotency_key', 'work_order_event_id',
        'recorded_at', 'details', 'replay_created_at', 'paging_horizon', 'paging_node_id'
    ],
    'The audit table carries the fields the audit rule names, details of diagnostics, the created_at a replay carried, the paging horizon with its node, and nothing else.'
);
SELECT columns_are(
    'os_core', 'consumer_positions',
    ARRAY['tenant_id', 'stream', 'consumer', 'committed_position', 'created_at', 'updated_at'],
    'A consumer''s row names its tenant, stream and name, its position and when it was created and moved, and nothing else.'
);
SELECT col_type_is(
    'ph1j', 'audit_events', 'replay_created_at', 'os_core', 'monotonic_ns',
    'The created_at a replay carried has the ledger''s created_at domain.'
);
SELECT col_is_null(
    'ph1j', 'audit_events', 'replay_created_at',
    'replay_created_at is nullable: only replay rows carry it.'
);

SELECT col_type_is(
    'os_core', 'work_order_ledger', 'correlation_id', 'os_core', 'correlation_id',
    'The ledger''s correlation_id is the u128 domain.'
);
SELECT col_type_is(
    'os_core', 'work_order_ledger', 'payload', 'jsonb', 'The ledger''s payload is jsonb.'
);

-- Keys: every primary and unique key starts with tenant_id (design §8, §9).
SELECT col_is_pk(
    'os_core', 'work_order_ledger', ARRAY['tenant_id', 'work_order_event_id'],
    'The ledger is keyed by (tenant_id, work_order_event_id).'
);
SELECT col_is_unique(
    'os_core', 'work_order_ledger', ARRAY['tenant_id', 'work_order_id', 'idempotency_key'],
    'Idempotency keys are unique per (tenant_id, work_order_id).'
);
SELECT col_is_pk(
    'os_core', 'work_orders_current', ARRAY['tenant_id', 'work_order_id'],
    'The current projection is keyed by (tenant_id, work_order_id).'
);
SELECT col_is_unique(
    'os_core', 'work_orders_current', ARRAY['tenant_id', 'correlation_id'],
    'Within a tenant, one correlation_id binds one work order.'
);
SELECT col_is_pk(
    'ph1j', 'audit_events', ARRAY['tenant_id', 'audit_event_id'],
    'The audit table is keyed by (tenant_id, audit_event_id).'
);
SELECT col_is_pk(
    'os_core', 'consumer_positions', ARRAY['tenant_id', 'stream', 'consumer'],
    'Consumer positions are keyed by (tenant_id, stream, consumer).'
);
SELECT is_empty(
    $$
    SELECT c.conrelid::regclass::text, c.conname
    FROM pg_catalog.pg_constraint AS c
    INNER JOIN pg_catalog.pg_class AS t ON t.oid = c.conrelid
    WHERE
        t.relnamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace)
        AND c.contype IN ('p', 'u')
        AND (
            SELECT a.attname FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        ) <> 'tenant_id'
    $$,
    'No primary or unique key of os_core or ph1j fails to start with tenant_id.'
);

-- Capability functions: signatures, return types, SECURITY DEFINER and owners.
SELECT function_returns(
    'os_core', 'work_order_ledger_append',
    ARRAY[
        'text', 'text', 'numeric', 'bigint', 'text', 'text', 'bigint', 'bigint', 'text', 'text',
        'text', 'text', 'bigint', 'text', 'jsonb', 'integer', 'bigint'
    ],
    'setof record',
    'work_order_ledger_append takes the 17 contract arguments and returns a set of records.'
);
SELECT is(
    pg_catalog.pg_get_function_result(
        'os_core.work_order_ledger_append(text, text, numeric, bigint, text, text, bigint, bigint, '
        'text, text, text, text, bigint, text, jsonb, integer, bigint)'::regprocedure
    ),
    'TABLE(work_order_event_id bigint, idempotency_replay boolean)',
    'work_order_ledger_append returns (work_order_event_id, idempotency_replay).'
);
SELECT is(
    pg_catalog.pg_get_function_identity_arguments(
        'os_core.work_order_ledger_append(text, text, numeric, bigint, text, text, bigint, bigint, '
        'text, text, text, text, bigint, text, jsonb, integer, bigint)'::regprocedure
    ),
    'p_tenant_id text, p_work_order_id text, p_correlation_id numeric, p_turn_id bigint, '
    'p_event_type text, p_work_order_status text, p_reason_code bigint, p_created_at bigint, '
    'p_step_id text, p_step_input_hash text, p_lease_owner_id text, p_lease_token_hash text, '
    'p_lease_expires_at bigint, p_idempotency_key text, p_payload jsonb, '
    'p_schema_version integer, p_expected_event_count bigint',
    'work_order_ledger_append names its parameters as the contract does, in this order.'
);
SELECT function_returns(
    'os_core', 'work_order_current_read', ARRAY['text', 'text'],
    'setof os_core.work_orders_current',
    'work_order_current_read returns rows of work_orders_current.'
);
SELECT function_returns(
    'os_core', 'work_order_ledger_read', ARRAY['text', 'text', 'bigint', 'integer'],
    'setof os_core.work_order_ledger',
    'work_order_ledger_read returns rows of work_order_ledger.'
);
SELECT function_returns(
    'os_core', 'audit_read', ARRAY['text', 'bigint', 'integer'],
    'setof ph1j.audit_events',
    'audit_read returns rows of audit_events.'
);
SELECT function_returns(
    'os_core', 'work_orders_current_rebuild', ARRAY['text', 'boolean'], 'setof record',
    'work_orders_current_rebuild takes a tenant and the audit flag and returns a set of records.'
);
SELECT is(
    pg_catalog.pg_get_function_result('os_core.work_orders_current_rebuild(text, boolean)'::regprocedure),
    'TABLE(tenant_count bigint, work_order_count bigint, event_count bigint, rewritten_work_order_count bigint)',
    'work_orders_current_rebuild returns (tenant_count, work_order_count, event_count, rewritten_work_order_count).'
);
SELECT is(
    pg_catalog.pg_get_function_result('os_core.work_orders_current_verify(text, boolean)'::regprocedure),
    'TABLE(tenant_id text, work_order_id text, projection text, row_key text, difference text, expected text, actual text)',
    'work_orders_current_verify returns one row per difference: where, what, expected and actual.'
);
SELECT function_returns(
    'os_core', 'work_order_step_attempts_read', ARRAY['text', 'text'],
    'setof os_core.work_order_step_attempts',
    'work_order_step_attempts_read returns rows of work_order_step_attempts.'
);
SELECT function_returns(
    'os_core', 'work_order_lease_read', ARRAY['text', 'text'],
    'setof os_core.work_order_leases',
    'work_order_lease_read returns rows of work_order_leases.'
);
SELECT function_returns(
    'os_core', 'set_tenant', ARRAY['text'], 'text', 'set_tenant takes a tenant and returns it.'
);
SELECT is(
    pg_catalog.pg_get_function_identity_arguments(
        'os_core.work_order_cancel(text, text, bigint, text, bigint, bigint)'::regprocedure
    ),
    'p_tenant_id text, p_work_order_id text, p_reason_code bigint, p_idempotency_key text, '
    'p_created_at bigint, p_turn_id bigint',
    'work_order_cancel takes tenant, work order, reason code, idempotency key, created_at and turn.'
);
SELECT is(
    pg_catalog.pg_get_function_result(
        'os_core.work_order_cancel(text, text, bigint, text, bigint, bigint)'::regprocedure
    ),
    'TABLE(work_order_id text, work_order_status text, last_event_id bigint)',
    'work_order_cancel returns (work_order_id, work_order_status, last_event_id).'
);
SELECT function_returns(
    'os_core', 'work_orders_list_pending', ARRAY['text', 'text[]', 'bigint', 'integer'],
    'setof os_core.work_orders_current',
    'work_orders_list_pending returns rows of work_orders_current.'
);
SELECT is(
    pg_catalog.pg_get_function_arguments(
        'os_core.work_orders_list_pending(text, text[], bigint, integer)'::regprocedure
    ),
    'p_tenant_id text, p_statuses text[] DEFAULT ARRAY[''DRAFT''::text, ''CLARIFY''::text, '
    '''CONFIRM''::text], p_updated_after bigint DEFAULT NULL::bigint, p_limit integer DEFAULT 50',
    'work_orders_list_pending defaults to the pending statuses, no recency bound and 50 rows.'
);

SELECT is_definer(
    'os_core', 'work_order_ledger_append',
    ARRAY[
        'text', 'text', 'numeric', 'bigint', 'text', 'text', 'bigint', 'bigint', 'text', 'text',
        'text', 'text', 'bigint', 'text', 'jsonb', 'integer', 'bigint'
    ],
    'work_order_ledger_append is SECURITY DEFINER.'
);
SELECT is_definer(
    'os_core', 'work_order_ledger_append_many', ARRAY['text', 'jsonb'],
    'work_order_ledger_append_many is SECURITY DEFINER.'
);
SELECT is_definer(
    'os_core', 'work_order_current_read', ARRAY['text', 'text'],
    'work_order_current_read is SECURITY DEFINER.'
);
SELECT is_definer(
    'os_core', 'work_order_ledger_read', ARRAY['text', 'text', 'bigint', 'integer'],
    'work_order_ledger_read is SECURITY DEFINER.'
);
SELECT is_definer(
    'os_core', 'audit_read', ARRAY['text', 'bigint', 'integer'],
    'audit_read is SECURITY DEFINER.'
);
SELECT is_definer(
    'ph1j', 'draw_audit_event_id', ARRAY[]::text[],
    'draw_audit_event_id is SECURITY DEFINER: the rebuild''s role draws audit ids through it.'
);
SELECT is_definer(
    'os_core', 'work_order_cancel', ARRAY['text', 'text', 'bigint', 'text', 'bigint', 'bigint'],
    'work_order_cancel is SECURITY DEFINER.'
);
SELECT is_definer(
    'os_core', 'work_orders_list_pending', ARRAY['text', 'text[]', 'bigint', 'integer'],
    'work_orders_list_pending is SECURITY DEFINER.'
);
SELECT is_definer(
    'os_core', 'work_orders_current_rebuild_local', ARRAY['text', 'boolean'],
    'work_orders_current_rebuild_local (the rebuild''s work) is SECURITY DEFINER.'
);
SELECT is_definer(
    'os_core', 'work_orders_current_verify_local', ARRAY['text', 'boolean'],
    'work_orders_current_verify_local (the verify''s work) is SECURITY DEFINER.'
);
SELECT isnt_definer(
    'os_core', 'work_orders_current_rebuild', ARRAY['text', 'boolean'],
    'work_orders_current_rebuild runs as its caller (on Citus its calls connect to workers as the caller).'
);
SELECT is(
    pg_catalog.pg_get_function_arguments('os_core.consumer_position(text, text, text)'::regprocedure)
    || ' -> ' || pg_catalog.pg_get_function_result('os_core.consumer_position(text, text, text)'::regprocedure),
    'p_tenant_id text, p_consumer text, p_stream text DEFAULT ''ledger''::text -> bigint',
    'consumer_position takes tenant, consumer and stream (ledger by default) and returns the position.'
);
SELECT is(
    pg_catalog.pg_get_function_arguments('os_core.consumer_commit(text, text, bigint, text)'::regprocedure)
    || ' -> ' || pg_catalog.pg_get_function_result('os_core.consumer_commit(text, text, bigint, text)'::regprocedure),
    'p_tenant_id text, p_consumer text, p_event_id bigint, p_stream text DEFAULT ''ledger''::text -> bigint',
    'consumer_commit takes tenant, consumer, event id and stream (ledger by default) and returns the position.'
);
SELECT is(
    pg_catalog.pg_get_function_result('os_core.consumer_stats(text)'::regprocedure),
    'TABLE(tenant_id text, stream text, consumer text, committed_position bigint, last_event_id bigint, pending_events bigint, updated_at timestamp with time zone)',
    'consumer_stats returns each consumer''s stream, name, position, the last id, the events pending and when it moved.'
);
SELECT is_definer(
    'os_core', 'consumer_position', ARRAY['text', 'text', 'text'],
    'consumer_position is SECURITY DEFINER.'
);
SELECT is_definer(
    'os_core', 'consumer_commit', ARRAY['text', 'text', 'bigint', 'text'],
    'consumer_commit is SECURITY DEFINER.'
);
SELECT is_definer(
    'os_core', 'consumer_stats', ARRAY['text'],
    'consumer_stats is SECURITY DEFINER.'
);
SELECT is_definer(
    'os_core', 'work_order_step_attempts_read', ARRAY['text', 'text'],
    'work_order_step_attempts_read is SECURITY DEFINER.'
);
SELECT is_definer(
    'os_core', 'work_order_lease_read', ARRAY['text', 'text'],
    'work_order_lease_read is SECURITY DEFINER.'
);
SELECT is_definer(
    'os_core', 'set_tenant', ARRAY['text'],
    'set_tenant runs as its owner, so that a bad tenant id raises SE004 for every caller.'
);
SELECT isnt_definer(
    'os_core', 'error_codes', ARRAY[]::name[], 'error_codes runs as its caller.'
);
SELECT function_owner_is(
    'os_core', 'work_orders_current_rebuild_local', ARRAY['text', 'boolean'], 'selene_projector',
    'The rebuild''s work is owned by selene_projector, the one BYPASSRLS role.'
);
SELECT set_eq(
    $$
    SELECT p.oid::regprocedure::text
    FROM pg_catalog.pg_proc AS p
    WHERE
        p.pronamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace)
        AND p.proowner <> 'selene_owner'::regrole
    $$,
    ARRAY[
        'os_core.work_orders_current_rebuild_local(text,boolean)',
        'os_core.work_orders_current_verify_local(text,boolean)',
        'os_core.tenant_stats_local(text)'
    ],
    'Every function of os_core and ph1j but the work of rebuild, verify and tenant_stats (selene_projector''s) is owned by selene_owner.'
);
SELECT is_empty(
    $$
    SELECT p.oid::regprocedure::text
    FROM pg_catalog.pg_proc AS p
    WHERE
        p.pronamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace)
        AND p.prosecdef
        AND NOT coalesce(
            'search_path=pg_catalog, pg_temp' = ANY(p.proconfig), FALSE
        )
    $$,
    'Every SECURITY DEFINER function pins search_path to pg_catalog, pg_temp.'
);
SELECT is(
    (SELECT array_agg(e.sqlstate || ' ' || e.reason_code ORDER BY e.sqlstate) FROM os_core.error_codes() AS e),
    ARRAY[
        'SE001 OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
        'SE002 OS_WORK_ORDER_IDEMPOTENCY_REPLAY',
        'SE003 OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
        'SE004 OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
        'SE005 OS_WORK_ORDER_CANCEL_INVALID_STATE'
    ],
    'The error catalogue maps SE001..SE005 to the five reason codes.'
);

-- Append-only triggers.
SELECT triggers_are(
    'os_core', 'work_order_ledger', ARRAY['_100_refuse_update_delete', '_100_refuse_truncate'],
    'The ledger has exactly the two append-only triggers.'
);
SELECT triggers_are(
    'ph1j', 'audit_events', ARRAY['_100_refuse_update_delete', '_100_refuse_truncate'],
    'The audit table has exactly the two append-only triggers.'
);
SELECT is(
    (
        SELECT count(*)
        FROM pg_catalog.pg_trigger AS t
        WHERE
            t.tgrelid IN ('os_core.work_order_ledger'::regclass, 'ph1j.audit_events'::regclass)
            AND t.tgfoid = 'os_core.tg_append_only__refuse_mutation()'::regprocedure
            AND t.tgenabled = 'O'
            AND (t.tgtype & 1) = 0   -- statement level
            AND (t.tgtype & 2) = 2   -- BEFORE
            AND (
                (t.tgname = '_100_refuse_update_delete' AND (t.tgtype & (8 | 16)) = 8 | 16)
                OR (t.tgname = '_100_refuse_truncate' AND (t.tgtype & 32) = 32)
            )
    ),
    4::bigint,
    'All four are enabled BEFORE statement-level triggers on the right events, calling tg_append_only__refuse_mutation.'
);
SELECT is_empty(
    $$
    SELECT tree.relid::text, parent.tgname
    FROM pg_catalog.pg_trigger AS parent
    CROSS JOIN LATERAL pg_catalog.pg_partition_tree(parent.tgrelid) AS tree
    WHERE
        parent.tgrelid IN ('os_core.work_order_ledger'::regclass, 'ph1j.audit_events'::regclass)
        AND parent.tgfoid = 'os_core.tg_append_only__refuse_mutation()'::regprocedure
        AND tree.level > 0
        AND NOT EXISTS (
            SELECT FROM pg_catalog.pg_trigger AS t
            WHERE
                t.tgrelid = tree.relid AND t.tgname = parent.tgname AND t.tgfoid = parent.tgfoid
                AND t.tgtype = parent.tgtype AND t.tgenabled = 'O'
        )
    $$,
    'Every partition of the ledger and the audit table, if there are any, has both statement-level triggers too.'
);

-- Row-level security: enabled, forced, one tenant policy per table.
SELECT is(
    (
        SELECT count(*)
        FROM pg_catalog.pg_class AS c
        WHERE
            c.relnamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace)
            AND c.relkind IN ('r', 'p') AND NOT c.relispartition
            AND c.relrowsecurity AND c.relforcerowsecurity
    ),
    6::bigint,
    'Row-level security is enabled and forced on all six tables.'
);
-- Partitioned layout (os_core.partition_by_tenant); on the plain one there is no partition.
SELECT is_empty(
    $$
    SELECT c.oid::regclass::text
    FROM pg_catalog.pg_class AS c
    WHERE
        c.relnamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace)
        AND c.relkind IN ('r', 'p') AND c.relispartition
        AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
    $$,
    'Row-level security is enabled and forced on every partition too, if there are any.'
);
SELECT policies_are('os_core', 'work_order_ledger', ARRAY['tenant_isolation', 'tenant_list'], 'The ledger has only the tenant_isolation and tenant_list policies.');
SELECT policies_are('os_core', 'work_orders_current', ARRAY['tenant_isolation', 'tenant_list'], 'work_orders_current has only the tenant_isolation and tenant_list policies.');
SELECT policies_are('os_core', 'work_order_step_attempts', ARRAY['tenant_isolation', 'tenant_list'], 'work_order_step_attempts has only the tenant_isolation and tenant_list policies.');
SELECT policies_are('os_core', 'work_order_leases', ARRAY['tenant_isolation', 'tenant_list'], 'work_order_leases has only the tenant_isolation and tenant_list policies.');
SELECT policies_are('ph1j', 'audit_events', ARRAY['tenant_isolation'], 'audit_events has only the tenant_isolation policy.');
SELECT policies_are('os_core', 'consumer_positions', ARRAY['tenant_isolation'], 'consumer_positions has only the tenant_isolation policy.');
SELECT column_privs_are(
    'os_core', 'work_order_ledger', 'tenant_id', 'selene_dba',
    CASE WHEN os_core.is_distributed() THEN ARRAY['SELECT'] ELSE ARRAY[]::text[] END,
    'selene_dba may read the ledger''s tenant_id column on Citus only (tenant_list_grants.sql).'
);
SELECT column_privs_are(
    'os_core', 'work_order_ledger', 'payload', 'selene_dba', ARRAY[]::text[],
    'selene_dba may read no column of the ledger.'
);
SELECT is(
    (
        SELECT count(*)
        FROM pg_catalog.pg_policies AS p
        WHERE
            p.policyname = 'tenant_isolation' AND p.cmd = 'ALL' AND p.permissive = 'PERMISSIVE'
            AND p.roles = '{public}'
            AND p.qual = '(tenant_id = os_core.current_tenant_id())'
            AND p.with_check = '(tenant_id = os_core.current_tenant_id())'
    ),
    6::bigint,
    'Each tenant_isolation policy covers every command and compares tenant_id with the declared tenant, for reads and writes.'
);

-- Roles.
SELECT results_eq(
    $$
    SELECT r.rolname::text COLLATE "default", r.rolcanlogin, r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb
    FROM pg_catalog.pg_roles AS r
    WHERE r.rolname IN ('selene_owner', 'selene_projector', 'selene_os', 'selene_dba')
    ORDER BY r.rolname
    $$,
    $$
    VALUES
        ('selene_dba', FALSE, FALSE, FALSE, FALSE, FALSE),
        ('selene_os', FALSE, FALSE, FALSE, FALSE, FALSE),
        ('selene_owner', FALSE, FALSE, FALSE, FALSE, FALSE),
        ('selene_projector', FALSE, FALSE, TRUE, FALSE, FALSE)
    $$,
    'The four product roles cannot log in and only selene_projector bypasses row-level security.'
);
SELECT is_empty(
    $$
    SELECT m.roleid::regrole::text, m.member::regrole::text
    FROM pg_catalog.pg_auth_members AS m
    WHERE m.member IN ('selene_os'::regrole, 'selene_dba'::regrole)
    $$,
    'selene_os and selene_dba inherit from no other role.'
);

-- Schema privileges.
SELECT schema_privs_are('os_core', 'selene_os', ARRAY['USAGE'], 'selene_os may use schema os_core, not create in it.');
SELECT schema_privs_are('os_core', 'selene_dba', ARRAY['USAGE'], 'selene_dba may use schema os_core, not create in it.');
SELECT schema_privs_are('os_core', 'tap_public_only', ARRAY[]::name[], 'PUBLIC has no privilege on schema os_core.');
SELECT schema_privs_are('ph1j', 'selene_os', ARRAY[]::name[], 'selene_os has no privilege on schema ph1j.');
SELECT schema_privs_are('ph1j', 'selene_dba', ARRAY[]::name[], 'selene_dba has no privilege on schema ph1j.');
SELECT schema_privs_are('ph1j', 'tap_public_only', ARRAY[]::name[], 'PUBLIC has no privilege on schema ph1j.');

-- Table privileges: the application roles have none, anywhere.
SELECT is_empty(
    $$
    SELECT r.rolname, c.oid::regclass::text, p.privilege
    FROM pg_catalog.pg_class AS c
    CROSS JOIN (VALUES ('selene_os'), ('selene_dba'), ('tap_public_only')) AS r (rolname)
    CROSS JOIN (
        VALUES ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE'), ('TRUNCATE'), ('REFERENCES'), ('TRIGGER')
    ) AS p (privilege)
    WHERE
        c.relnamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace)
        AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        AND pg_catalog.has_table_privilege(r.rolname, c.oid, p.privilege)
    $$,
    'selene_os, selene_dba and PUBLIC hold no privilege on any table of os_core or ph1j.'
);
SELECT is_empty(
    $$
    SELECT r.rolname, c.oid::regclass::text
    FROM pg_catalog.pg_class AS c
    CROSS JOIN (VALUES ('selene_os'), ('selene_dba'), ('tap_public_only')) AS r (rolname)
    WHERE
        c.relnamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace)
        AND c.relkind = 'S'
        AND pg_catalog.has_sequence_privilege(r.rolname, c.oid, 'USAGE,SELECT,UPDATE')
    $$,
    'selene_os, selene_dba and PUBLIC hold no privilege on any sequence of os_core or ph1j.'
);
SELECT table_privs_are('os_core', 'work_order_ledger', 'selene_os', ARRAY[]::name[], 'selene_os has no privilege on the ledger.');
SELECT table_privs_are('os_core', 'work_orders_current', 'selene_os', ARRAY[]::name[], 'selene_os has no privilege on work_orders_current.');
SELECT table_privs_are('os_core', 'consumer_positions', 'selene_os', ARRAY[]::name[], 'selene_os has no privilege on consumer_positions: only the consumer functions write it.');
SELECT table_privs_are('ph1j', 'audit_events', 'selene_dba', ARRAY[]::name[], 'selene_dba has no privilege on audit_events.');
SELECT table_privs_are('os_core', 'work_order_ledger', 'tap_public_only', ARRAY[]::name[], 'PUBLIC has no privilege on the ledger.');
SELECT table_privs_are(
    'os_core', 'work_order_ledger', 'selene_owner', ARRAY['INSERT', 'REFERENCES', 'SELECT', 'TRIGGER'],
    'Even the owner has no UPDATE, DELETE or TRUNCATE on the ledger.'
);
SELECT table_privs_are(
    'ph1j', 'audit_events', 'selene_owner', ARRAY['INSERT', 'REFERENCES', 'SELECT', 'TRIGGER'],
    'Even the owner has no UPDATE, DELETE or TRUNCATE on audit_events.'
);
SELECT table_privs_are(
    'os_core', 'work_order_ledger', 'selene_projector', ARRAY['SELECT'],
    'selene_projector may only read the ledger.'
);
SELECT table_privs_are(
    'os_core', 'work_orders_current', 'selene_projector', ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    'selene_projector may rewrite work_orders_current, but not truncate it.'
);
SELECT table_privs_are(
    'ph1j', 'audit_events', 'selene_projector', ARRAY['INSERT'],
    'selene_projector may only INSERT into audit_events: the audit rows of rebuild and verify.'
);

-- Function privileges: exactly the catalogue's (os_core.capabilities()), nothing for PUBLIC.
SELECT is_empty(
    $$
    SELECT c.sql_function
    FROM os_core.capabilities() AS c
    WHERE pg_catalog.to_regprocedure(c.sql_function) IS NULL
    $$,
    'Every function of the capability catalogue exists, with the signature it lists.'
);
SELECT set_eq(
    $$
    SELECT p.oid::regprocedure::text
    FROM pg_catalog.pg_proc AS p
    WHERE
        p.pronamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace)
        AND pg_catalog.has_function_privilege('selene_os', p.oid, 'EXECUTE')
    $$,
    $$SELECT c.sql_function FROM os_core.capabilities() AS c WHERE 'selene_os' = ANY(c.granted_to)$$,
    'selene_os may execute exactly the functions the capability catalogue grants it.'
);
SELECT set_eq(
    $$
    SELECT p.oid::regprocedure::text
    FROM pg_catalog.pg_proc AS p
    WHERE
        p.pronamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace)
        AND pg_catalog.has_function_privilege('selene_dba', p.oid, 'EXECUTE')
    $$,
    $$SELECT c.sql_function FROM os_core.capabilities() AS c WHERE 'selene_dba' = ANY(c.granted_to)$$,
    'selene_dba may execute exactly the functions the capability catalogue grants it.'
);
SELECT is_empty(
    $$
    SELECT c.sql_function, c.granted_to, g.grantees
    FROM os_core.capabilities() AS c
    CROSS JOIN LATERAL (
        SELECT array_agg(a.grantee::regrole::text ORDER BY a.grantee::regrole::text) AS grantees
        FROM pg_catalog.pg_proc AS p
        CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) AS a
        WHERE p.oid = pg_catalog.to_regprocedure(c.sql_function) AND a.grantee <> p.proowner
            AND a.privilege_type = 'EXECUTE'
    ) AS g
    WHERE g.grantees IS DISTINCT FROM (SELECT array_agg(r ORDER BY r) FROM unnest(c.granted_to) AS r)
    $$,
    'Each function of the catalogue is granted EXECUTE to exactly the roles it lists (its owner aside).'
);
SELECT results_eq(
    $$SELECT count(*)::integer, count(*) FILTER (WHERE c.kind = 'capability')::integer FROM os_core.capabilities() AS c$$,
    $$VALUES (25, 15)$$,
    'The catalogue lists 25 executable functions, 15 of them public capabilities.'
);
SELECT is_empty(
    $$
    SELECT p.oid::regprocedure::text
    FROM pg_catalog.pg_proc AS p
    WHERE
        p.pronamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace)
        AND pg_catalog.has_function_privilege('tap_public_only', p.oid, 'EXECUTE')
    $$,
    'PUBLIC may execute no function of os_core or ph1j.'
);
-- Domains are left out: PostgreSQL gives PUBLIC USAGE on every type by default,
-- and without USAGE on schema os_core PUBLIC cannot name them.
SELECT is_empty(
    $$
    SELECT o.kind, o.name
    FROM (
        SELECT 'schema' AS kind, n.nspname::text AS name, n.nspacl AS acl, n.nspowner AS owner, 'n'::"char" AS objtype
        FROM pg_catalog.pg_namespace AS n
        WHERE n.nspname IN ('os_core', 'ph1j')
        UNION ALL
        SELECT 'relation', c.oid::regclass::text, c.relacl, c.relowner,
            CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char"
        FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace) AND c.relkind IN ('r', 'S', 'v', 'm')
        UNION ALL
        SELECT 'function', p.oid::regprocedure::text, p.proacl, p.proowner, 'f'::"char"
        FROM pg_catalog.pg_proc AS p
        WHERE p.pronamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace)
    ) AS o
    CROSS JOIN LATERAL pg_catalog.aclexplode(coalesce(o.acl, pg_catalog.acldefault(o.objtype, o.owner))) AS a
    WHERE a.grantee = 0
    $$,
    'No ACL of a schema, table, sequence or function of os_core or ph1j grants anything to PUBLIC.'
);
SELECT function_privs_are(
    'os_core', 'work_order_ledger_append',
    ARRAY[
        'text', 'text', 'numeric', 'bigint', 'text', 'text', 'bigint', 'bigint', 'text', 'text',
        'text', 'text', 'bigint', 'text', 'jsonb', 'integer', 'bigint'
    ],
    'selene_os', ARRAY['EXECUTE'],
    'selene_os may execute work_order_ledger_append.'
);
SELECT function_privs_are(
    'os_core', 'work_order_current_read', ARRAY['text', 'text'], 'selene_os', ARRAY['EXECUTE'],
    'selene_os may execute work_order_current_read.'
);
SELECT function_privs_are(
    'os_core', 'work_order_ledger_read', ARRAY['text', 'text', 'bigint', 'integer'], 'selene_os', ARRAY['EXECUTE'],
    'selene_os may execute work_order_ledger_read.'
);
SELECT function_privs_are(
    'os_core', 'work_order_cancel', ARRAY['text', 'text', 'bigint', 'text', 'bigint', 'bigint'], 'selene_os', ARRAY['EXECUTE'],
    'selene_os may execute work_order_cancel.'
);
SELECT function_privs_are(
    'os_core', 'work_orders_list_pending', ARRAY['text', 'text[]', 'bigint', 'integer'], 'selene_dba', ARRAY['EXECUTE'],
    'selene_dba may execute work_orders_list_pending.'
);
SELECT function_privs_are(
    'os_core', 'work_order_cancel', ARRAY['text', 'text', 'bigint', 'text', 'bigint', 'bigint'], 'tap_public_only', ARRAY[]::name[],
    'PUBLIC may not execute work_order_cancel.'
);
SELECT function_privs_are(
    'os_core', 'work_orders_list_pending', ARRAY['text', 'text[]', 'bigint', 'integer'], 'tap_public_only', ARRAY[]::name[],
    'PUBLIC may not execute work_orders_list_pending.'
);
SELECT function_privs_are(
    'os_core', 'work_orders_current_rebuild', ARRAY['text', 'boolean'], 'selene_dba', ARRAY['EXECUTE'],
    'selene_dba may execute work_orders_current_rebuild.'
);
SELECT function_privs_are(
    'os_core', 'projection_drift', ARRAY['text', 'boolean'], 'selene_os', ARRAY[]::name[],
    'selene_os may not execute the internal projection_drift.'
);
SELECT function_privs_are(
    'os_core', 'raise_error', ARRAY['text', 'text', 'text'], 'selene_os', ARRAY[]::name[],
    'selene_os may not execute the internal raise_error.'
);
SELECT function_privs_are(
    'os_core', 'require_tenant_scope', ARRAY['text'], 'selene_os', ARRAY[]::name[],
    'selene_os may not execute the internal require_tenant_scope.'
);
SELECT function_privs_are(
    'ph1j', 'emit_append_audit', ARRAY['os_core.work_order_ledger', 'text', 'bigint'], 'selene_dba', ARRAY[]::name[],
    'selene_dba may not execute the internal emit_append_audit.'
);
SELECT function_privs_are(
    'os_core', 'work_order_ledger_append',
    ARRAY[
        'text', 'text', 'numeric', 'bigint', 'text', 'text', 'bigint', 'bigint', 'text', 'text',
        'text', 'text', 'bigint', 'text', 'jsonb', 'integer', 'bigint'
    ],
    'tap_public_only', ARRAY[]::name[],
    'PUBLIC may not execute work_order_ledger_append.'
);

-- Style §6: every public object says what it is for, for DBAs reading \df+.
SELECT is_empty(
    $$
    SELECT 'function', p.oid::regprocedure::text FROM pg_catalog.pg_proc AS p
    WHERE p.pronamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace) AND obj_description(p.oid, 'pg_proc') IS NULL
    UNION ALL
    SELECT 'table', c.oid::regclass::text FROM pg_catalog.pg_class AS c
    WHERE c.relnamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace) AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') IS NULL
    UNION ALL
    SELECT 'schema', n.nspname::text FROM pg_catalog.pg_namespace AS n
    WHERE n.nspname IN ('os_core', 'ph1j') AND obj_description(n.oid, 'pg_namespace') IS NULL
    UNION ALL
    SELECT 'domain', t.oid::regtype::text FROM pg_catalog.pg_type AS t
    WHERE t.typnamespace = 'os_core'::regnamespace AND t.typtype = 'd' AND obj_description(t.oid, 'pg_type') IS NULL
    UNION ALL
    SELECT 'role', r.rolname::text FROM pg_catalog.pg_roles AS r
    WHERE r.rolname IN ('selene_owner', 'selene_projector', 'selene_os', 'selene_dba') AND shobj_description(r.oid, 'pg_authid') IS NULL
    UNION ALL
    SELECT 'trigger', t.tgname::text FROM pg_catalog.pg_trigger AS t
    INNER JOIN pg_catalog.pg_class AS c ON c.oid = t.tgrelid
    WHERE c.relnamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace) AND obj_description(t.oid, 'pg_trigger') IS NULL
        -- Citus's own trigger on a distributed table, which forwards TRUNCATE to the shards.
        AND t.tgfoid::regproc::text <> 'citus_truncate_trigger'
    UNION ALL
    SELECT 'policy', p.polname::text FROM pg_catalog.pg_policy AS p
    INNER JOIN pg_catalog.pg_class AS c ON c.oid = p.polrelid
    WHERE c.relnamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace) AND obj_description(p.oid, 'pg_policy') IS NULL
    $$,
    'Every schema, table, domain, function, trigger, policy and product role has a comment.'
);

SELECT * FROM finish();
ROLLBACK;
