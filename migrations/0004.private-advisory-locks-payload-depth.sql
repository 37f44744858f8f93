-- Two hardenings found by the tenant-attack and fuzz suites (docs/guarantees.md).
--
-- 1. Advisory locks become private to the product. os_core.lock_work_order
--    serialises the appends of a work order with an advisory lock on a hash of
--    (tenant_id, work_order_id). PostgreSQL grants the advisory-lock functions to
--    PUBLIC, so any session of any tenant could take that key first and stall
--    another tenant's appends for as long as it liked. Taking an advisory lock is
--    now reserved to the roles whose functions do (selene_owner for the append
--    and cancel, selene_projector for the rebuild) and to superusers. This is a
--    change to the whole database: another application sharing it needs its own
--    GRANT (docs/dba.md, "Roles"); never grant them to selene_os or selene_dba.
--    Releasing a lock stays PUBLIC: a session can release only its own.
--
-- 2. A payload nests at most 64 levels. PostgreSQL's jsonb input fails with
--    "stack depth limit exceeded" (54001) somewhere in the thousands of levels, a
--    limit that moves with max_stack_depth; the contract now has a fixed rule
--    below it (os_core.work_order_event_contract_violation), and the ledger holds
--    it as a constraint like every other rule. Adding it checks every existing
--    row under the ACCESS EXCLUSIVE lock the ALTER takes, for the whole migration:
--    appends and reads wait for the scan (about 1 s per million small events
--    here); on a large live ledger, apply it in a quiet window.
-- depends: 0003.projections-paging-diagnostics

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
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', _lock_function);
        EXECUTE format(
            'GRANT EXECUTE ON FUNCTION %s TO selene_owner, selene_projector', _lock_function
        );
    END LOOP;
END;
$$;

ALTER TABLE os_core.work_order_ledger
ADD CONSTRAINT payload_depth_is_bounded CHECK (
    NOT jsonb_path_exists(payload, 'strict $.**{65}')
);

COMMENT ON COLUMN os_core.work_order_ledger.payload IS
'Optional JSON object (fields set, conflict resolutions), at most 64 KiB, no value nested more than 64 levels below it.';
