-- paging_horizon: the transaction-id horizon of an event whose id was just drawn.

CREATE OR REPLACE FUNCTION os_core.paging_horizon()
RETURNS xid8
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    _own bigint := pg_current_xact_id()::text::bigint;
BEGIN
    -- Called after the transaction took its xid and then drew an event id: one
    -- above the highest xid of a transaction running now. A transaction with an
    -- xid at or above it got that xid after the event id was drawn, so it draws
    -- only larger event ids (every append takes its xid before drawing). See
    -- os_core.work_order_ledger_read.
    --
    -- Snapshots cannot tell this: their xmax is one past the latest *completed*
    -- xid, and running transactions above it are not listed. The lock table can:
    -- every transaction holds a lock on its own xid, and it is read fresh, in any
    -- isolation level. It shows 32-bit xids; running ones lie within 2^31 of ours,
    -- which gives each its epoch.
    RETURN (
        SELECT (_own + max(((l.transactionid::text::bigint - _own % 4294967296) % 4294967296
            + 6442450944) % 4294967296 - 2147483648) + 1)::text::xid8
        FROM pg_catalog.pg_locks AS l
        WHERE l.locktype = 'transactionid'
    );
END;
$$;

COMMENT ON FUNCTION os_core.paging_horizon() IS
'The xid horizon stored with an event (work_order_ledger.paging_horizon), read after its event id was drawn: one above the highest running xid, so every transaction with an xid at or above it draws only larger event ids. Internal, called by the append.';

ALTER FUNCTION os_core.paging_horizon() OWNER TO selene_owner;
