-- is_distributed: whether this database is a Citus cluster's, its tables distributed.

CREATE OR REPLACE FUNCTION os_core.is_distributed()
RETURNS boolean
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    _distributed boolean;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        RETURN FALSE;
    END IF;
    -- Citus's catalog exists only with the extension: named at run time.
    EXECUTE format(
        'SELECT EXISTS (SELECT FROM %s WHERE logicalrelid = $1)', 'pg_catalog.pg_dist_partition'
    )
    INTO _distributed
    USING 'os_core.work_order_ledger'::regclass;
    RETURN _distributed;
END;
$$;

COMMENT ON FUNCTION os_core.is_distributed() IS
'True when the citus extension is in this database and os_core.work_order_ledger is distributed (migration 0007): the capabilities then run on the worker holding the tenant. Internal.';

ALTER FUNCTION os_core.is_distributed() OWNER TO selene_owner;
