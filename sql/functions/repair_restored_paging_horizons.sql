-- repair_restored_paging_horizons: after a logical restore into another cluster (or
-- for a hot standby, after a failover), clear the paging horizons of the ledger and
-- the audit trail that came from transaction ids this cluster has not given out.

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
    _audit_cleared bigint;
    _deadline timestamptz;
    _replication_role text := current_setting('session_replication_role');
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'insufficient_privilege',
            MESSAGE = 'repair_restored_paging_horizons: must be run by a superuser',
            DETAIL = format('current_user is %I.', current_user),
            HINT = 'It edits ledger and audit rows past the append-only triggers, which only a superuser can.';
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
    -- SHARE conflicts with the writers' ROW EXCLUSIVE: it waits for the appends (and
    -- for the audit rows of replays and diagnostics) in flight and holds new ones
    -- until the end of the transaction. Every horizon this cluster wrote is then at
    -- most the xid taken below; only restored ones are above.
    --
    -- Both tables, and never one held while waiting for the other: a transaction
    -- that wrote an audit row (a replay) and then appends takes them in the other
    -- order, and waiting for the audit table with the ledger held would deadlock
    -- with it. So the audit table is only tried (NOWAIT); when it is busy, both are
    -- let go (the block's subtransaction ends) and taken again shortly after.
    _deadline := clock_timestamp() + interval '5 seconds';
    LOOP
        -- Each wait for the ledger ends at the deadline: 5 s in all.
        PERFORM set_config(
            'lock_timeout',
            greatest(1, ceil(extract(EPOCH FROM _deadline - clock_timestamp()) * 1000))::text,
            TRUE
        );
        BEGIN
            LOCK TABLE os_core.work_order_ledger IN SHARE MODE;
            LOCK TABLE ph1j.audit_events IN SHARE MODE NOWAIT;
            EXIT;
        EXCEPTION WHEN lock_not_available THEN
            IF clock_timestamp() > _deadline THEN
                RAISE;
            END IF;
            PERFORM pg_sleep(0.01);
        END;
    END LOOP;
    PERFORM set_config('session_replication_role', 'replica', TRUE);
    UPDATE os_core.work_order_ledger AS l SET paging_horizon = NULL
    WHERE l.paging_horizon > pg_current_xact_id();
    GET DIAGNOSTICS _cleared = ROW_COUNT;
    UPDATE ph1j.audit_events AS a SET paging_horizon = NULL
    WHERE a.paging_horizon > pg_current_xact_id();
    GET DIAGNOSTICS _audit_cleared = ROW_COUNT;
    PERFORM set_config('session_replication_role', _replication_role, TRUE);
    RETURN _cleared + _audit_cleared;
END;
$$;

COMMENT ON FUNCTION os_core.repair_restored_paging_horizons() IS
'After a logical restore into a cluster whose transaction ids are behind the old one''s (or a failover, for the hot standbys of a new primary that takes no writes): clears (to NULL, which counts as passed) every ledger and audit paging_horizon above the current transaction id, so that tenant-wide ledger and audit reads see the rows everywhere; returns how many rows it cleared, both tables together. Superuser only, in a transaction of its own; safe with appends running (it waits up to 5 s for the writers in flight, never holding one table while waiting for the other, and holds new ones until it commits). The one in-place edit of the ledger and the audit trail: paging_horizon is not a contract field. docs/dba.md, "Restoring into another cluster".';

ALTER FUNCTION os_core.repair_restored_paging_horizons() OWNER TO selene_owner;
