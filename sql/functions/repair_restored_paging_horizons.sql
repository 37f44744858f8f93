-- repair_restored_paging_horizons: after a logical restore into another cluster,
-- clear the paging horizons that came from the old cluster's transaction ids.

CREATE OR REPLACE FUNCTION os_core.repair_restored_paging_horizons()
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
-- Do not queue for long behind a stuck append: every new append would queue behind us.
SET lock_timeout = '5s'
AS $$
DECLARE
    _cleared bigint;
    _replication_role text := current_setting('session_replication_role');
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'insufficient_privilege',
            MESSAGE = 'repair_restored_paging_horizons: must be run by a superuser',
            DETAIL = format('current_user is %I.', current_user),
            HINT = 'It edits ledger rows past the append-only triggers, which only a superuser can.';
    END IF;
    -- The argument below needs the transaction's xid taken after the lock: an xid
    -- taken earlier could be below the horizon of an append that committed since.
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'active_sql_transaction',
            MESSAGE = 'repair_restored_paging_horizons: must run in a transaction of its own',
            DETAIL = 'This transaction has already written (it has a transaction id).',
            HINT = 'Call it alone, outside BEGIN ... COMMIT, or first thing after BEGIN.';
    END IF;
    -- SHARE conflicts with the appends' ROW EXCLUSIVE: it waits for the appends in
    -- flight and holds new ones until the end of the transaction. Every horizon this
    -- cluster wrote is then at most the xid taken below; only restored ones are above.
    LOCK TABLE os_core.work_order_ledger IN SHARE MODE;
    PERFORM set_config('session_replication_role', 'replica', TRUE);
    UPDATE os_core.work_order_ledger AS l SET paging_horizon = NULL
    WHERE l.paging_horizon > pg_current_xact_id();
    GET DIAGNOSTICS _cleared = ROW_COUNT;
    PERFORM set_config('session_replication_role', _replication_role, TRUE);
    RETURN _cleared;
END;
$$;

COMMENT ON FUNCTION os_core.repair_restored_paging_horizons() IS
'After a logical restore into a cluster whose transaction ids are behind the old one''s: clears (to NULL, which counts as passed) every ledger paging_horizon above the current transaction id, so that tenant-wide ledger reads see the restored events; returns how many. Superuser only, in a transaction of its own; safe with appends running (it waits up to 5 s for those in flight and holds new ones until it commits). The one in-place edit of the ledger: paging_horizon is not a contract field. docs/dba.md, "Restoring into another cluster".';

ALTER FUNCTION os_core.repair_restored_paging_horizons() OWNER TO selene_owner;
