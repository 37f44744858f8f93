-- require_dba_or_tenant_scope: who may rebuild or verify which tenants.

CREATE OR REPLACE FUNCTION os_core.require_dba_or_tenant_scope(p_tenant_id text)
RETURNS void
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Inside a SECURITY DEFINER function the session user is the only trustworthy
    -- trace of who called: a member of selene_dba may name any tenant, or all (NULL).
    IF pg_has_role(session_user, 'selene_dba', 'MEMBER') THEN
        RETURN;
    END IF;
    IF p_tenant_id IS NULL THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
            'every tenant at once needs the selene_dba role',
            'pass the declared tenant as p_tenant_id'
        );
    END IF;
    PERFORM os_core.require_tenant_scope(p_tenant_id);
END;
$$;

COMMENT ON FUNCTION os_core.require_dba_or_tenant_scope(text) IS
'Raises OS_WORK_ORDER_TENANT_SCOPE_VIOLATION unless the session user is in selene_dba, or p_tenant_id is the declared tenant. Internal, for rebuild and verify.';

ALTER FUNCTION os_core.require_dba_or_tenant_scope(text) OWNER TO selene_owner;
