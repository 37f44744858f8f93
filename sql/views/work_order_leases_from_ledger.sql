-- work_order_leases_from_ledger: the lease of each work order as the ledger defines it.
-- A lease event starts a tenure unless it renews the previous lease event's lease
-- (same owner, not expired at the new event's created_at); the latest tenure's
-- first event is the acquisition. The terminal event, if any, releases the lease.
--
-- The terminal event comes with the lease events, in the same sorted pass: the
-- append refuses every event after one (only an idempotent replay, which writes no
-- event, may follow), so an event with a terminal status is the work order's last
-- and its only one of that status, as work_orders_current_from_ledger also assumes
-- when it clears the lease. Being last, it precedes no lease event, so the lag()s of
-- the lease events are those over the lease events alone. (It was one backward probe
-- of work_order_ledger_by_work_order per work order: a fifth of this view's time.)

CREATE OR REPLACE VIEW os_core.work_order_leases_from_ledger
WITH (security_invoker = TRUE)
AS
WITH lease_events AS (
    SELECT
        l.tenant_id,
        l.work_order_id,
        l.work_order_event_id,
        l.created_at,
        l.lease_owner_id,
        os_core.is_terminal_status(l.work_order_status) AS ends_work_order,
        (
            lag(l.lease_owner_id) OVER tenure IS DISTINCT FROM l.lease_owner_id
            OR lag(l.lease_expires_at) OVER tenure <= l.created_at
        ) AS starts_tenure
    FROM os_core.work_order_ledger AS l
    WHERE l.lease_owner_id IS NOT NULL OR os_core.is_terminal_status(l.work_order_status)
    WINDOW tenure AS (
        PARTITION BY l.tenant_id, l.work_order_id ORDER BY l.work_order_event_id
    )
),

per_work_order AS (
    SELECT
        e.tenant_id,
        e.work_order_id,
        max(e.work_order_event_id) FILTER (WHERE e.lease_owner_id IS NOT NULL) AS lease_event_id,
        -- The latest tenure's first event as {id, created_at}: the greatest such pair is
        -- the one with the greatest id (ids are unique), so the acquisition comes out of
        -- this aggregate and needs no probe of its own; the terminal event likewise.
        max(
            ARRAY[e.work_order_event_id, e.created_at::bigint]
        ) FILTER (WHERE e.lease_owner_id IS NOT NULL AND e.starts_tenure) AS acquired,
        max(
            ARRAY[e.work_order_event_id, e.created_at::bigint]
        ) FILTER (WHERE e.ends_work_order) AS ended
    FROM lease_events AS e
    GROUP BY e.tenant_id, e.work_order_id
)

-- Columns in the table's order, so that rows compare and insert as they are.
SELECT  -- noqa: ST06
    w.tenant_id,
    w.work_order_id,
    lease_event.lease_owner_id,
    lease_event.lease_token_hash,
    CASE WHEN w.ended IS NULL THEN 'ACTIVE' ELSE 'RELEASED' END AS lease_state,
    lease_event.lease_expires_at,
    w.acquired[1] AS acquired_event_id,
    w.acquired[2]::os_core.monotonic_ns AS acquired_at,
    coalesce(w.ended[1], lease_event.work_order_event_id) AS last_event_id,
    w.ended[2]::os_core.monotonic_ns AS released_at
FROM per_work_order AS w
-- The last lease event by primary key, one probe per work order: a LATERAL subquery
-- with OFFSET 0 (a fence, hence noqa: AM09; a primary-key lookup returns at most one
-- row) is not flattened into a plain join, which the planner may run as a hash join
-- over the whole ledger (it did for the acquisition, when that was a join too).
INNER JOIN LATERAL (
    SELECT
        e.lease_owner_id,
        e.lease_token_hash,
        e.lease_expires_at,
        e.work_order_event_id
    FROM os_core.work_order_ledger AS e
    WHERE e.tenant_id = w.tenant_id AND e.work_order_event_id = w.lease_event_id
    OFFSET 0  -- noqa: AM09
) AS lease_event ON TRUE
-- A work order's first lease event always starts a tenure; this keeps the inner join's
-- meaning (no row without an acquisition, none for a terminal event alone) all the same.
WHERE w.acquired IS NOT NULL;

COMMENT ON VIEW os_core.work_order_leases_from_ledger IS
'What os_core.work_order_leases must hold, computed from the ledger alone (columns in the table''s order). Rebuild writes it, verify compares with it. security_invoker.';

ALTER VIEW os_core.work_order_leases_from_ledger OWNER TO selene_owner;
