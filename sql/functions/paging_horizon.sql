-- paging_horizon: the transaction-id horizon of an event whose id was just drawn.

-- No SET search_path: called only by os_core.work_order_ledger_append, a SECURITY
-- DEFINER function that pins it (pg_catalog, pg_temp), whose path this one runs with.
-- SET clauses on the four helpers of the append (emit_append_audit, paging_horizon,
-- project_step_attempt, project_lease) cost 6 % of its CPU: each saves and
-- restores the setting on every call (python -m benchmarks ab).
CREATE OR REPLACE FUNCTION os_core.paging_horizon()
RETURNS xid8
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
AS $$
DECLARE
    _own bigint := pg_current_xact_id()::text::bigint;
BEGIN
    -- Called after the transaction took its xid and then drew an event id: one
    -- above the highest top-level xid of a transaction running now. A transaction
    -- with an xid at or above it got that xid after the event id was drawn, so it
    -- draws only larger event ids (every append takes its xid before drawing). See
    -- os_core.work_order_ledger_read.
    --
    -- Snapshots cannot tell this: their xmax is one past the latest *completed*
    -- xid, and running transactions above it are not listed. The backends' status
    -- can: each backend's xid is set as the xid is assigned, and is read fresh once
    -- the statistics snapshot is cleared, in any isolation level. (The lock table
    -- would do too, but reading it holds every lock partition and slows every
    -- session that takes a lock.) Prepared transactions have no backend and are
    -- added. Xids are 32-bit there; running ones lie within 2^31 of ours, which
    -- gives each its epoch.
    PERFORM pg_stat_clear_snapshot();
    RETURN (
        SELECT (_own + max(((r.xid::text::bigint - _own % 4294967296) % 4294967296
            + 6442450944) % 4294967296 - 2147483648) + 1)::text::xid8
        FROM (
            SELECT a.backend_xid AS xid
            FROM pg_stat_get_activity(NULL) AS a
            WHERE a.backend_xid IS NOT NULL
            UNION ALL
            SELECT p.transaction FROM pg_catalog.pg_prepared_xacts AS p
            UNION ALL
            SELECT (_own % 4294967296)::text::xid
        ) AS r
    );
END;
$$;

COMMENT ON FUNCTION os_core.paging_horizon() IS
'The xid horizon stored with an event (work_order_ledger.paging_horizon), read after its event id was drawn: one above the highest running top-level xid, so every transaction with an xid at or above it draws only larger event ids. Internal, called by the append.';

ALTER FUNCTION os_core.paging_horizon() OWNER TO selene_owner;
