-- work_order_ledger_read: OS_WORK_ORDER_LEDGER_READ, one keyset page at a time.

CREATE OR REPLACE FUNCTION os_core.work_order_ledger_read(
    p_tenant_id text,
    p_work_order_id text DEFAULT NULL,
    p_after_event_id bigint DEFAULT 0,
    p_limit integer DEFAULT 1000
)
RETURNS SETOF os_core.work_order_ledger
LANGUAGE plpgsql
STABLE
PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    _snapshot pg_snapshot := pg_current_snapshot();
    _own xid8 := pg_current_xact_id_if_assigned();
    _horizon xid8;
    _node bigint;
BEGIN
    -- The usual case in one comparison, without a call: require_tenant_scope runs
    -- only when the check fails, and raises exactly its error (no tenant declared,
    -- or another one) with its DETAIL. Passes exactly when it would pass.
    IF p_tenant_id IS NULL OR p_tenant_id IS DISTINCT FROM os_core.current_tenant_id() THEN
        PERFORM os_core.require_tenant_scope(p_tenant_id);
    END IF;
    IF p_after_event_id IS NULL OR p_after_event_id < 0 THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            'after_event_id must be >= 0 (0 reads from the start)'
        );
    END IF;
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 10000 THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            'limit must be between 1 and 10000'
        );
    END IF;

    IF p_work_order_id IS NULL THEN
        -- Event ids are drawn before commit, so a smaller id may still commit after
        -- a larger one. Return an event only when its paging horizon is at or below
        -- the lowest xid of any other transaction this snapshot cannot see (running,
        -- or above its xmax): then every transaction that could hold a smaller id
        -- has ended, and a page never passes over an event that is still to come.
        -- The rest shows up in a later page; nothing waits. The reader's own transaction
        -- does not hold its own events back. (Within one work order ids grow in
        -- commit order, so a work order's read needs no horizon.)
        IF _own IS NULL THEN
            -- The snapshot's xmin: the lowest xid it cannot see. (On a hot standby
            -- the running xids are not in pg_snapshot_xip, but xmin holds them.)
            _horizon := pg_snapshot_xmin(_snapshot);
        ELSE
            -- The same without the reader's own xid, which xmin may be.
            _horizon := least(
                (SELECT min(x.xid) FROM pg_snapshot_xip(_snapshot) AS x (xid)),
                CASE
                    WHEN pg_snapshot_xmax(_snapshot) = _own
                        THEN (_own::text::bigint + 1)::text::xid8
                    ELSE pg_snapshot_xmax(_snapshot)
                END
            );
        END IF;
        -- An event appended on another node (before a shard move or a restore) was
        -- committed there before its rows came here, and its horizon counts that
        -- node's transaction ids: it is passed. Every event still to commit here
        -- draws a larger id than it (the append draws past the tenant's last id).
        _node := os_core.node_id();
        -- The page is the run of events, in id order, up to the first one whose
        -- horizon is not reached: that one and all after it wait for a later page
        -- (a later event may have a lower horizon, and must not be read past it).
        -- The columns are carried through by name: a whole-row value expanded with
        -- (p.event).* would be built per row and taken apart once per column.
        RETURN QUERY
        SELECT
            p.tenant_id, p.work_order_event_id, p.schema_version, p.work_order_id,
            p.correlation_id, p.turn_id, p.event_type, p.work_order_status, p.reason_code,
            p.step_id, p.step_input_hash, p.lease_owner_id, p.lease_token_hash,
            p.lease_expires_at, p.created_at, p.idempotency_key, p.payload, p.recorded_at,
            p.paging_horizon, p.paging_node_id
        FROM (
            SELECT
                l.*,
                bool_and(
                    l.paging_node_id <> _node
                    OR coalesce(l.paging_horizon, '0'::xid8) <= _horizon
                    -- A horizon stored before a crash or a failover, above every xid this
                    -- node has given out since (asked only of a horizon above the xmax).
                    OR (
                        l.paging_horizon > pg_snapshot_xmax(_snapshot)
                        AND coalesce(
                            l.paging_horizon > os_core.first_unassigned_xid(_snapshot, _own), FALSE
                        )
                    )
                ) OVER (
                    ORDER BY l.work_order_event_id ROWS UNBOUNDED PRECEDING
                ) AS reached
            FROM os_core.work_order_ledger AS l
            WHERE l.tenant_id = p_tenant_id AND l.work_order_event_id > p_after_event_id
            ORDER BY l.work_order_event_id
            LIMIT p_limit
        ) AS p
        WHERE p.reached;
    ELSE
        RETURN QUERY
        SELECT l.*
        FROM os_core.work_order_ledger AS l
        WHERE
            l.tenant_id = p_tenant_id
            AND l.work_order_id = p_work_order_id
            AND l.work_order_event_id > p_after_event_id
        ORDER BY l.work_order_event_id
        LIMIT p_limit;
    END IF;
END;
$$;

COMMENT ON FUNCTION os_core.work_order_ledger_read(text, text, bigint, integer) IS
'OS_WORK_ORDER_LEDGER_READ: the declared tenant''s events (or one work order''s, with p_work_order_id) with work_order_event_id > p_after_event_id, in event-id order, at most p_limit (1-10000). Pass the last id of a page as p_after_event_id to read the next. A tenant-wide read never passes over an event that is still to commit: it returns only events below every running transaction''s horizon, so a page may end early while writers are active (read on from its last id). Errors: SE003 tenant scope, SE004 bad paging arguments.';

ALTER FUNCTION os_core.work_order_ledger_read(text, text, bigint, integer) OWNER TO selene_owner;
