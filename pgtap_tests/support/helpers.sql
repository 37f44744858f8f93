-- Shared pgTAP helpers, included by every pgtap_tests/*.sql file with
-- `\ir support/helpers.sql` right after BEGIN. Everything lives in schema tap and
-- disappears with the file's ROLLBACK.
--
--   tap.act_as(role, tenant)   switch role and declare the tenant, transaction-local
--   tap.correlation_id(wo)     the default correlation_id of a work order
--   tap.append(...)            os_core.work_order_ledger_append with a valid default event
--   tap.ledger_count(...)      ledger rows, counted past row-level security
--   tap.audit_count(...)       audit rows, counted past row-level security
--   tap.current_count(...)     work_orders_current rows, counted past row-level security
--   tap.ledger_insert(...)     a direct INSERT into the ledger, bypassing the append function

CREATE SCHEMA tap;
-- Every role a test acts as (selene_os, selene_dba, selene_owner, a PUBLIC-only
-- role) must reach the helpers; the product's schemas are untouched.
GRANT USAGE ON SCHEMA tap TO PUBLIC;

-- act_as: become p_role and declare p_tenant_id (NULL: no tenant), both until the
-- end of the transaction. The tenant is the same setting os_core.set_tenant writes,
-- set directly so that roles without EXECUTE on set_tenant can be tested too.
-- 'none' returns to the session user.
CREATE FUNCTION tap.act_as(p_role text, p_tenant_id text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_catalog.set_config('role', 'none', TRUE);
    PERFORM pg_catalog.set_config('selene.tenant_id', coalesce(p_tenant_id, ''), TRUE);
    PERFORM pg_catalog.set_config('role', p_role, TRUE);
END;
$$;

-- correlation_id: a stable, positive correlation_id per work order id, so that
-- two work orders of one tenant never share one by accident.
CREATE FUNCTION tap.correlation_id(p_work_order_id text)
RETURNS numeric
LANGUAGE sql
IMMUTABLE
RETURN 1 + ('x' || left(md5(p_work_order_id), 12))::bit(48)::bigint;

-- append: os_core.work_order_ledger_append with a valid WORK_ORDER_CREATED/DRAFT
-- event of work order wo-1 of the declared tenant; override any field by name.
-- A NULL p_correlation_id means tap.correlation_id(p_work_order_id): to pass a
-- NULL correlation_id, call os_core.work_order_ledger_append directly.
CREATE FUNCTION tap.append(
    p_work_order_id text DEFAULT 'wo-1',
    p_event_type text DEFAULT 'WORK_ORDER_CREATED',
    p_work_order_status text DEFAULT 'DRAFT',
    p_created_at bigint DEFAULT 1000,
    p_tenant_id text DEFAULT nullif(pg_catalog.current_setting('selene.tenant_id', TRUE), ''),
    p_correlation_id numeric DEFAULT NULL,
    p_turn_id bigint DEFAULT 1,
    p_reason_code bigint DEFAULT 1,
    p_step_id text DEFAULT NULL,
    p_step_input_hash text DEFAULT NULL,
    p_lease_owner_id text DEFAULT NULL,
    p_lease_token_hash text DEFAULT NULL,
    p_lease_expires_at bigint DEFAULT NULL,
    p_idempotency_key text DEFAULT NULL,
    p_payload jsonb DEFAULT NULL,
    p_schema_version integer DEFAULT 1,
    p_expected_event_count bigint DEFAULT NULL
)
RETURNS TABLE (work_order_event_id bigint, idempotency_replay boolean)
LANGUAGE sql
VOLATILE
AS $$
    SELECT a.work_order_event_id, a.idempotency_replay
    FROM os_core.work_order_ledger_append(
        p_tenant_id => p_tenant_id,
        p_work_order_id => p_work_order_id,
        p_correlation_id => coalesce(p_correlation_id, tap.correlation_id(p_work_order_id)),
        p_turn_id => p_turn_id,
        p_event_type => p_event_type,
        p_work_order_status => p_work_order_status,
        p_reason_code => p_reason_code,
        p_created_at => p_created_at,
        p_step_id => p_step_id,
        p_step_input_hash => p_step_input_hash,
        p_lease_owner_id => p_lease_owner_id,
        p_lease_token_hash => p_lease_token_hash,
        p_lease_expires_at => p_lease_expires_at,
        p_idempotency_key => p_idempotency_key,
        p_payload => p_payload,
        p_schema_version => p_schema_version,
        p_expected_event_count => p_expected_event_count
    ) AS a;
$$;

-- The ids the tenant's ledger holds, in order, seen as the superuser past row-level
-- security (the consumer tests index into it).
CREATE FUNCTION tap.event_ids(p_tenant_id text)
RETURNS bigint []
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(array_agg(l.work_order_event_id ORDER BY l.work_order_event_id), '{}')
    FROM os_core.work_order_ledger AS l WHERE l.tenant_id = p_tenant_id;
$$;

-- The counters run as the superuser that created them (SECURITY DEFINER), so
-- they see every tenant's rows whatever role the test is acting as. NULL
-- arguments mean "any".
CREATE FUNCTION tap.ledger_count(p_tenant_id text DEFAULT NULL, p_work_order_id text DEFAULT NULL)
RETURNS bigint
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*)
    FROM os_core.work_order_ledger AS l
    WHERE
        (p_tenant_id IS NULL OR l.tenant_id = p_tenant_id)
        AND (p_work_order_id IS NULL OR l.work_order_id = p_work_order_id);
$$;

CREATE FUNCTION tap.audit_count(p_tenant_id text DEFAULT NULL, p_work_order_id text DEFAULT NULL)
RETURNS bigint
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*)
    FROM ph1j.audit_events AS a
    WHERE
        (p_tenant_id IS NULL OR a.tenant_id = p_tenant_id)
        AND (p_work_order_id IS NULL OR a.work_order_id = p_work_order_id);
$$;

CREATE FUNCTION tap.current_count(p_tenant_id text DEFAULT NULL, p_work_order_id text DEFAULT NULL)
RETURNS bigint
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*)
    FROM os_core.work_orders_current AS c
    WHERE
        (p_tenant_id IS NULL OR c.tenant_id = p_tenant_id)
        AND (p_work_order_id IS NULL OR c.work_order_id = p_work_order_id);
$$;

-- ledger_insert: a direct INSERT INTO os_core.work_order_ledger, bypassing the
-- append function, of a valid event of work order wo-direct of tenant acme;
-- override any column by name. Runs as the caller, so it shows what the table
-- itself accepts (domains, constraints, privileges, row-level security).
CREATE FUNCTION tap.ledger_insert(
    p_tenant_id text DEFAULT 'acme',
    p_work_order_id text DEFAULT 'wo-direct',
    p_correlation_id numeric DEFAULT 1,
    p_turn_id bigint DEFAULT 1,
    p_event_type text DEFAULT 'WORK_ORDER_CREATED',
    p_work_order_status text DEFAULT 'DRAFT',
    p_reason_code bigint DEFAULT 1,
    p_created_at bigint DEFAULT 1000,
    p_step_id text DEFAULT NULL,
    p_step_input_hash text DEFAULT NULL,
    p_lease_owner_id text DEFAULT NULL,
    p_lease_token_hash text DEFAULT NULL,
    p_lease_expires_at bigint DEFAULT NULL,
    p_idempotency_key text DEFAULT NULL,
    p_payload jsonb DEFAULT NULL,
    p_schema_version integer DEFAULT 1
)
RETURNS void
LANGUAGE sql
VOLATILE
AS $$
    INSERT INTO os_core.work_order_ledger (
        tenant_id, work_order_id, correlation_id, turn_id, event_type, work_order_status,
        reason_code, created_at, step_id, step_input_hash, lease_owner_id, lease_token_hash,
        lease_expires_at, idempotency_key, payload, schema_version
    ) VALUES (
        p_tenant_id, p_work_order_id, p_correlation_id, p_turn_id, p_event_type,
        p_work_order_status, p_reason_code, p_created_at, p_step_id, p_step_input_hash,
        p_lease_owner_id, p_lease_token_hash, p_lease_expires_at, p_idempotency_key, p_payload,
        p_schema_version
    );
$$;
