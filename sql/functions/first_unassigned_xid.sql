-- first_unassigned_xid: the xid from which on this server has given out no
-- transaction id yet, when a tenant-wide read can know it; lets a page pass the
-- horizons stored by an earlier incarnation of the node (before a crash or a
-- failover) that are ahead of this one's transaction ids.

-- No SET search_path: called only by os_core.work_order_ledger_read and
-- os_core.audit_read, SECURITY DEFINER functions that pin it (pg_catalog, pg_temp).
CREATE OR REPLACE FUNCTION os_core.first_unassigned_xid(p_snapshot pg_snapshot, p_own xid8)
RETURNS xid8
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
AS $$
DECLARE
    -- The next xid to give out is at least the snapshot's xmax and one past the
    -- reader's own xid: the lowest value it can be.
    _candidate xid8 := greatest(
        pg_snapshot_xmax(p_snapshot), (coalesce(p_own::text::bigint, 0) + 1)::text::xid8
    );
BEGIN
    -- A stored horizon H says xid H - 1 was running on the node that appended. An
    -- xid is given out before anything is written with it, and only a WAL record
    -- that carries it survives a crash or reaches a standby: recovery and promotion
    -- give out again the xids that were never logged. A horizon can then be above
    -- every xid this node has given out since, and the rule "at or below every
    -- running xid" would wait for xids no transaction holds (with no writes, for
    -- ever). Those horizons are told apart here: H - 1 at or past the next xid to
    -- give out cannot be this incarnation's, whose transactions all draw their ids
    -- past every event it can read (sequences resume past what they handed out).
    --
    -- The next xid is not readable, but pg_xact_status() refuses an xid that is
    -- "in the future" (22023), one at or past it. A hot standby's next xid lags the
    -- primary's, which is giving out the xids it has not replayed yet: there this
    -- answers nothing.
    --
    -- One transaction of an earlier incarnation outlives it: a prepared one (its
    -- PREPARE is logged). It may have drawn ids below those rows and commit them
    -- later, and its xid is below every xid handed out since, so no horizon tells it
    -- apart. It is in the snapshot, though, as running: so this answers only for a
    -- snapshot that saw no transaction running but the reader's own. (Checked on the
    -- snapshot, not on pg_prepared_xacts now: one committed since the snapshot was
    -- taken has rows this snapshot cannot see.) Recovery leaves the next xid just
    -- past the latest completed one, so every xid from the xmax on is this
    -- incarnation's.
    IF
        pg_is_in_recovery()
        OR EXISTS (
            SELECT FROM pg_snapshot_xip(p_snapshot) AS x (xid)
            WHERE x.xid IS DISTINCT FROM p_own
        )
    THEN
        RETURN NULL;
    END IF;
    BEGIN
        PERFORM pg_xact_status(_candidate);
    EXCEPTION WHEN invalid_parameter_value THEN
        RETURN _candidate;
    END;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION os_core.first_unassigned_xid(pg_snapshot, xid8) IS
'For the tenant-wide reads: the snapshot''s xmax (or one past the reader''s own xid, if higher) when this server has given out no xid from there on, else NULL; NULL on a hot standby, and when the snapshot saw another transaction running (a prepared one outlives a crash). A stored paging horizon above it was stored before a crash or a failover (by xids never logged) and is passed. Internal.';

ALTER FUNCTION os_core.first_unassigned_xid(pg_snapshot, xid8) OWNER TO selene_owner;
