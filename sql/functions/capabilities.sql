-- capabilities: the catalogue of what selene_os and selene_dba may call, one row per
-- SQL function, with the one name it has in each place (client method, CLI command).
-- The grants (sql/security/grants.sql), the Citus delegation
-- (sql/citus/delegate_capabilities.sql), the README's capability table and the tests
-- are checked against it (tests/test_capabilities.py, pgtap_tests/schema.sql).

CREATE OR REPLACE FUNCTION os_core.capabilities()
RETURNS TABLE (
    sql_function text,
    kind text,
    client_methods text[],
    cli_commands text[],
    granted_to text[],
    delegated_on_citus boolean,
    description text
)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
BEGIN ATOMIC
    SELECT
        v.sql_function,
        v.kind,
        v.client_methods,
        v.cli_commands,
        v.granted_to,
        v.delegated_on_citus,
        v.description
    FROM (
        VALUES
        (
            1,
            'os_core.work_order_ledger_append(text,text,numeric,bigint,text,text,bigint,bigint,'
            || 'text,text,text,text,bigint,text,jsonb,integer,bigint)',
            'capability', '{append}'::text[], '{append}'::text[],
            '{selene_os,selene_dba}'::text[], TRUE,
            'Append one event to a work order''s ledger: validated, idempotent, projected, '
            || 'audited.'
        ),
        (
            2, 'os_core.work_order_ledger_append_many(text,jsonb)',
            'capability', '{append_many}', '{append --file,append --jsonl}',
            '{selene_os,selene_dba}', TRUE,
            'Append a batch of one tenant''s events in one transaction, all or nothing.'
        ),
        (
            3, 'os_core.work_order_current_read(text,text)',
            'capability', '{current}', '{current}',
            '{selene_os,selene_dba}', TRUE,
            'The current record of a work order, or no row.'
        ),
        (
            4, 'os_core.work_order_ledger_read(text,text,bigint,integer)',
            'capability', '{ledger,ledger_page,follow}', '{ledger,follow}',
            '{selene_os,selene_dba}', TRUE,
            'A keyset page of the tenant''s (or one work order''s) ledger events, by id.'
        ),
        (
            5, 'os_core.audit_read(text,bigint,integer)',
            'capability', '{audit_page,follow_audit}', '{follow --audit}',
            '{selene_os,selene_dba}', TRUE,
            'A keyset page of the tenant''s PH1.J audit rows, by id.'
        ),
        (
            6, 'os_core.work_order_cancel(text,text,bigint,text,bigint,bigint)',
            'capability', '{cancel}', '{cancel}',
            '{selene_os,selene_dba}', TRUE,
            'Cancel a work order: a WORK_ORDER_CANCELED event through the append.'
        ),
        (
            7, 'os_core.work_orders_list_pending(text,text[],bigint,integer)',
            'capability', '{list_pending}', '{list-pending}',
            '{selene_os,selene_dba}', TRUE,
            'The tenant''s work orders in the given statuses, newest first.'
        ),
        (
            8, 'os_core.work_order_step_attempts_read(text,text)',
            'capability', '{step_attempts}', '{step-attempts}',
            '{selene_os,selene_dba}', TRUE,
            'The attempts of each step of a work order, in start order.'
        ),
        (
            9, 'os_core.work_order_lease_read(text,text)',
            'capability', '{lease}', '{lease}',
            '{selene_os,selene_dba}', TRUE,
            'The lease of a work order, or no row.'
        ),
        (
            10, 'os_core.work_orders_current_rebuild(text,boolean)',
            'capability', '{rebuild}', '{rebuild}',
            '{selene_os,selene_dba}', FALSE,
            'Make the projections equal to the ledger, one tenant or all (selene_dba), online.'
        ),
        (
            11, 'os_core.work_orders_current_verify(text,boolean)',
            'capability', '{verify}', '{verify}',
            '{selene_os,selene_dba}', FALSE,
            'Compare the projections with the ledger: one row per difference.'
        ),
        (
            12, 'os_core.tenant_stats(text)',
            'capability', '{stats}', '{stats}',
            '{selene_os,selene_dba}', FALSE,
            'Per tenant: events, work orders by status, leases, whether the projection agrees.'
        ),
        (
            13, 'os_core.consumer_position(text,text,text)',
            'capability', '{consumer}', '{follow --consumer}',
            '{selene_os,selene_dba}', TRUE,
            'Claim a durable consumer and read its committed position.'
        ),
        (
            14, 'os_core.consumer_commit(text,text,bigint,text)',
            'capability', '{consumer}', '{follow --consumer}',
            '{selene_os,selene_dba}', TRUE,
            'Move a durable consumer''s position forwards, in the consumer''s transaction.'
        ),
        (
            15, 'os_core.consumer_stats(text)',
            'capability', '{consumer_stats}', '{consumer-stats}',
            '{selene_os,selene_dba}', TRUE,
            'Each durable consumer of the tenant: its position and its lag.'
        ),
        (
            16, 'os_core.set_tenant(text)',
            'support', '{}', '{}',
            '{selene_os,selene_dba}', FALSE,
            'Declare the transaction''s tenant; every client call makes it first.'
        ),
        (
            17, 'os_core.error_codes()',
            'support', '{}', '{}',
            '{selene_os,selene_dba,selene_projector}', FALSE,
            'The error catalogue: SQLSTATE, reason code, exception class, meaning.'
        ),
        (
            18, 'os_core.capabilities()',
            'support', '{}', '{}',
            '{selene_os,selene_dba}', FALSE,
            'This catalogue.'
        ),
        (
            19, 'os_core.work_orders_current_rebuild_local(text,boolean)',
            'internal', '{}', '{}',
            '{selene_os,selene_dba}', TRUE,
            'The rebuild of one tenant where its rows are, called by rebuild as the caller.'
        ),
        (
            20, 'os_core.work_orders_current_verify_local(text,boolean)',
            'internal', '{}', '{}',
            '{selene_os,selene_dba}', TRUE,
            'The verify of one tenant where its rows are, called by verify as the caller.'
        ),
        (
            21, 'os_core.tenant_stats_local(text)',
            'internal', '{}', '{}',
            '{selene_os,selene_dba}', TRUE,
            'The stats of one tenant where its rows are, called by tenant_stats as the caller.'
        ),
        (
            22, 'os_core.scope_tenant_ids(text)',
            'internal', '{}', '{}',
            '{selene_os,selene_dba}', FALSE,
            'The tenants a rebuild, verify or tenant_stats call covers.'
        ),
        (
            23, 'os_core.is_distributed()',
            'internal', '{}', '{}',
            '{selene_os,selene_dba,selene_projector}', FALSE,
            'Whether the tables are distributed by Citus.'
        ),
        (
            24, 'os_core.require_dba_or_tenant_scope(text)',
            'internal', '{}', '{}',
            '{selene_os,selene_dba,selene_projector}', FALSE,
            'The scope check of rebuild, verify and tenant_stats; reveals nothing.'
        ),
        (
            25, 'os_core.is_blank(text)',
            'internal', '{}', '{}',
            '{selene_os,selene_dba,selene_projector}', FALSE,
            'The blank rule of the domains, checked again where rows arrive as text on Citus.'
        )
    )
        AS v (
            ord, sql_function, kind, client_methods, cli_commands, granted_to,
            delegated_on_citus, description
        )
    ORDER BY v.ord;
END;

COMMENT ON FUNCTION os_core.capabilities() IS
'The capability catalogue: per SQL function selene_os or selene_dba may execute, its signature (as regprocedure prints it), kind (capability: a public capability; support: set_tenant, error_codes; internal: executable only because capabilities call it as the caller), client methods, CLI commands, the roles granted EXECUTE, whether Citus delegates it to the tenant''s worker, and what it does. Grants, README and tests are checked against it.';

ALTER FUNCTION os_core.capabilities() OWNER TO selene_owner;
