-- current_tenant_id: the tenant this transaction declared, or NULL.

CREATE OR REPLACE FUNCTION os_core.current_tenant_id()
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
RETURN nullif(pg_catalog.current_setting('selene.tenant_id', TRUE), '');

COMMENT ON FUNCTION os_core.current_tenant_id() IS
'The tenant declared for this transaction (setting selene.tenant_id), or NULL when none is. Every row-level security policy compares tenant_id with it.';

ALTER FUNCTION os_core.current_tenant_id() OWNER TO selene_owner;

-- set_tenant: declares the transaction's tenant.

CREATE OR REPLACE FUNCTION os_core.set_tenant(p_tenant_id text)
RETURNS text
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
-- Definer so that a bad tenant id raises SE004 through os_core.raise_error,
-- which callers may not execute themselves. The setting it makes is the caller's.
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- A missing tenant breaks the rule as an empty one does, with the same DETAIL.
    _tenant_id_violation text := os_core.tenant_id_violation(coalesce(p_tenant_id, ''));
BEGIN
    IF _tenant_id_violation IS NOT NULL THEN
        PERFORM os_core.raise_error('OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', _tenant_id_violation);
    END IF;
    -- On a Citus coordinator (migration 0007 sets citus.propagate_set_commands to
    -- local), Citus sends a SET LOCAL, not a set_config, on to every worker this
    -- transaction uses, now or later: the tenant is declared wherever its calls run,
    -- also when a shard move between two calls sends them to different workers.
    IF pg_catalog.current_setting('citus.propagate_set_commands', TRUE) = 'local' THEN
        EXECUTE format('SET LOCAL selene.tenant_id = %L', p_tenant_id);
    END IF;
    RETURN pg_catalog.set_config('selene.tenant_id', p_tenant_id, TRUE);
END;
$$;

COMMENT ON FUNCTION os_core.set_tenant(text) IS
'Declares the tenant of the current transaction (transaction-local setting selene.tenant_id). Call it inside the transaction that uses the capabilities: it ends with the transaction.';

ALTER FUNCTION os_core.set_tenant(text) OWNER TO selene_owner;

-- require_tenant_scope: refuses a tenant_id that is not the declared one.

CREATE OR REPLACE FUNCTION os_core.require_tenant_scope(p_tenant_id text)
RETURNS void
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    _declared text := os_core.current_tenant_id();
BEGIN
    IF _declared IS NULL THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
            'no tenant is declared in this transaction',
            'call os_core.set_tenant(''<tenant_id>'') first, in the same transaction'
        );
    END IF;
    IF p_tenant_id IS DISTINCT FROM _declared THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
            format(
                'tenant_id %s is not the tenant declared for this transaction (%s)',
                coalesce(quote_literal(p_tenant_id), 'NULL'), quote_literal(_declared)
            )
        );
    END IF;
END;
$$;

COMMENT ON FUNCTION os_core.require_tenant_scope(text) IS
'Raises OS_WORK_ORDER_TENANT_SCOPE_VIOLATION unless p_tenant_id is exactly the tenant declared for this transaction. Internal.';

ALTER FUNCTION os_core.require_tenant_scope(text) OWNER TO selene_owner;

-- is_terminal_status: DONE, REFUSED, FAILED and CANCELED end a work order.

CREATE OR REPLACE FUNCTION os_core.is_terminal_status(p_work_order_status text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
RETURN p_work_order_status IN ('DONE', 'REFUSED', 'FAILED', 'CANCELED');

COMMENT ON FUNCTION os_core.is_terminal_status(text) IS
'True for the terminal statuses DONE, REFUSED, FAILED and CANCELED: after one, only an idempotent replay may follow.';

ALTER FUNCTION os_core.is_terminal_status(text) OWNER TO selene_owner;
