-- require_dba_or_tenant_scope: who may rebuild or verify which tenants.

CREATE OR REPLACE FUNCTION os_core.require_dba_or_tenant_scope(p_tenant_id text)
RETURNS void
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
-- As its owner: rebuild, verify and tenant_stats call it as their caller on Citus,
-- who may not run what it calls (raise_error, require_tenant_scope).
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    _tenant_id_violation text := os_core.tenant_id_violation(p_tenant_id);
BEGIN
    -- Inside a SECURITY DEFINER function the session user is the only trustworthy
    -- trace of who called: a member of selene_dba may name any tenant, or all (NULL).
    IF NOT pg_has_role(session_user, 'selene_dba', 'MEMBER') THEN
        IF p_tenant_id IS NULL THEN
            PERFORM os_core.raise_error(
                'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
                'every tenant at once needs the selene_dba role',
                'pass the declared tenant as p_tenant_id'
            );
        END IF;
        PERFORM os_core.require_tenant_scope(p_tenant_id);
    END IF;
    -- Scope first, as everywhere; then the tenant id, which reaches the audit rows of
    -- rebuild and verify: a malformed one (declarable only by a raw SET, which
    -- set_tenant would refuse) is refused here rather than by the audit INSERT.
    IF _tenant_id_violation IS NOT NULL THEN
        PERFORM os_core.raise_error('OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', _tenant_id_violation);
    END IF;
END;
$$;

COMMENT ON FUNCTION os_core.require_dba_or_tenant_scope(text) IS
'Raises OS_WORK_ORDER_TENANT_SCOPE_VIOLATION unless the session user is in selene_dba or p_tenant_id is the declared tenant, then OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED for a malformed tenant id. Internal, for rebuild, verify and tenant_stats; executable by selene_os and selene_dba, to whom it reveals nothing.';

ALTER FUNCTION os_core.require_dba_or_tenant_scope(text) OWNER TO selene_owner;
