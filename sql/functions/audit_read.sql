-- audit_read: the declared tenant's PH1.J audit rows, one keyset page at a time.

CREATE OR REPLACE FUNCTION os_core.audit_read(
    p_tenant_id text,
    p_after_audit_event_id bigint DEFAULT 0,
    p_limit integer DEFAULT 1000
)
RETURNS SETOF ph1j.audit_events
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
    _node bigint := os_core.node_id();
BEGIN
    -- The usual case in one comparison; require_tenant_scope raises exactly its error.
    IF p_tenant_id IS NULL OR p_tenant_id IS DISTINCT FROM os_core.current_tenant_id() THEN
        PERFORM os_core.require_tenant_scope(p_tenant_id);
    END IF;
    IF p_after_audit_event_id IS NULL OR p_after_audit_event_id < 0 THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            'after_audit_event_id must be >= 0 (0 reads from the start)'
        );
    END IF;
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 10000 THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            'limit must be between 1 and 10000'
        );
    END IF;

    -- Audit ids, like event ids, are drawn before commit: a smaller one may commit
    -- after a larger one. Every audit row (an append's, a replay's, a rebuild's or a
    -- verify's) stores the paging horizon read just after its id was drawn, by a
    -- transaction that had its xid before drawing it (ph1j.emit_append_audit,
    -- ph1j.emit_diagnostic_audit). The rule is the ledger read's
    -- (os_core.work_order_ledger_read), with the same horizon: a row is returned only
    -- when its horizon is at or below the lowest xid of any other transaction this
    -- snapshot cannot see, so every transaction that could still commit a smaller
    -- audit id has ended. The page stops at the first row not reached. A row's own
    -- ledger event being safe would not do: replays and diagnostics write audit rows
    -- with no new event, and audit ids are drawn after event ids.
    IF _own IS NULL THEN
        _horizon := pg_snapshot_xmin(_snapshot);
    ELSE
        _horizon := least(
            (SELECT min(x.xid) FROM pg_snapshot_xip(_snapshot) AS x (xid)),
            CASE
                WHEN pg_snapshot_xmax(_snapshot) = _own
                    THEN (_own::text::bigint + 1)::text::xid8
                ELSE pg_snapshot_xmax(_snapshot)
            END
        );
    END IF;
    -- A row written on another node (a shard move, a restore) or before migration 0010
    -- (no node) was committed before its rows came here: it is passed.
    RETURN QUERY
    SELECT
        p.tenant_id, p.audit_event_id, p.capability, p.outcome, p.work_order_id,
        p.correlation_id, p.turn_id, p.event_type, p.reason_code, p.idempotency_key,
        p.work_order_event_id, p.recorded_at, p.details, p.replay_created_at,
        p.paging_horizon, p.paging_node_id
    FROM (
        SELECT
            a.*,
            bool_and(
                a.paging_node_id IS DISTINCT FROM _node
                OR coalesce(a.paging_horizon, '0'::xid8) <= _horizon
                -- A horizon stored before a crash or a failover, above every xid this
                -- node has given out since (asked only of a horizon above the xmax).
                OR (
                    a.paging_horizon > pg_snapshot_xmax(_snapshot)
                    AND coalesce(
                        a.paging_horizon > os_core.first_unassigned_xid(_snapshot, _own), FALSE
                    )
                )
            ) OVER (ORDER BY a.audit_event_id ROWS UNBOUNDED PRECEDING) AS reached
        FROM ph1j.audit_events AS a
        WHERE a.tenant_id = p_tenant_id AND a.audit_event_id > p_after_audit_event_id
        ORDER BY a.audit_event_id
        LIMIT p_limit
    ) AS p
    WHERE p.reached;
END;
$$;

COMMENT ON FUNCTION os_core.audit_read(text, bigint, integer) IS
'PH1.J audit trail read: the declared tenant''s audit rows (appends, idempotent replays, rebuilds and verifies) with audit_event_id > p_after_audit_event_id, in id order, at most p_limit (1-10000). Pass the last id of a page as p_after_audit_event_id to read the next. Never passes over a row still to commit: like the tenant-wide ledger read, it returns only rows below every running transaction''s horizon, so a page may end early while writers are active (read on from its last id). Errors: SE003 tenant scope, SE004 bad paging arguments.';

ALTER FUNCTION os_core.audit_read(text, bigint, integer) OWNER TO selene_owner;
