-- Undo 0012: the tenant id's format as the bounded repetition of migration 0001
-- (the same values, checked more slowly).

DO $$
BEGIN
    ALTER DOMAIN os_core.tenant_id ADD CONSTRAINT tenant_id_format_0001
    CHECK (VALUE ~ '^[A-Za-z0-9_.:-]{1,64}$');
    ALTER DOMAIN os_core.tenant_id DROP CONSTRAINT tenant_id_format;
    ALTER DOMAIN os_core.tenant_id RENAME CONSTRAINT tenant_id_format_0001 TO tenant_id_format;
END;
$$;
