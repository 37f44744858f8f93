-- Undo 0004: advisory locks back to PUBLIC (PostgreSQL's default), and no depth
-- rule on the ledger's payload.

ALTER TABLE os_core.work_order_ledger DROP CONSTRAINT payload_depth_is_bounded;

COMMENT ON COLUMN os_core.work_order_ledger.payload IS
'Optional JSON object (fields set, conflict resolutions), at most 64 KiB.';

DO $$
DECLARE
    _lock_function regprocedure;
BEGIN
    FOR _lock_function IN
        SELECT p.oid::regprocedure
        FROM pg_catalog.pg_proc AS p
        WHERE
            p.pronamespace = 'pg_catalog'::regnamespace
            AND p.proname ~ '^pg_(try_)?advisory_(xact_)?lock(_shared)?$'
        ORDER BY 1
    LOOP
        EXECUTE format(
            'REVOKE EXECUTE ON FUNCTION %s FROM selene_owner, selene_projector', _lock_function
        );
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', _lock_function);
    END LOOP;
END;
$$;
