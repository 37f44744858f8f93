-- tenant_id_violation: the tenant-id rule, once, for every function that checks it.

CREATE OR REPLACE FUNCTION os_core.tenant_id_violation(p_tenant_id text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
-- The domain os_core.tenant_id (migrations 0001 and 0012) states the same rule for the
-- tables; tests/test_capabilities.py checks on edge inputs that the two agree. The
-- length apart from the characters: a bounded repetition ({1,64}) costs ten times more.
RETURN CASE
    WHEN p_tenant_id !~ '^[A-Za-z0-9_.:-]+$' OR char_length(p_tenant_id) > 64
        THEN 'tenant_id must be 1 to 64 characters of A-Z, a-z, 0-9, _ . : -'
END;

COMMENT ON FUNCTION os_core.tenant_id_violation(text) IS
'The tenant-id rule: NULL when p_tenant_id is 1-64 characters of A-Z a-z 0-9 _ . : - (or is NULL, which each caller decides on), else the DETAIL that names the rule. Used by set_tenant, the contract check, require_dba_or_tenant_scope and lock_consumer; the domain os_core.tenant_id states the same rule. Internal.';

ALTER FUNCTION os_core.tenant_id_violation(text) OWNER TO selene_owner;
