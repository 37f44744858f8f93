-- work_orders_current_from_ledger: the current projection as the ledger defines it.

CREATE OR REPLACE VIEW os_core.work_orders_current_from_ledger
WITH (security_invoker = TRUE)
AS
WITH per_work_order AS (
    SELECT
        l.tenant_id,
        l.work_order_id,
        count(*) AS event_count,
        max(l.work_order_event_id) AS last_event_id,
        max(l.work_order_event_id) FILTER (WHERE l.step_id IS NOT NULL) AS step_event_id,
        max(l.work_order_event_id) FILTER (WHERE l.lease_owner_id IS NOT NULL) AS lease_event_id
    FROM os_core.work_order_ledger AS l
    GROUP BY l.tenant_id, l.work_order_id
)

-- Columns in the table's order, so that rows compare and insert as they are.
SELECT  -- noqa: ST06
    w.tenant_id,
    w.work_order_id,
    last_event.schema_version,
    last_event.correlation_id,
    last_event.turn_id,
    last_event.work_order_status,
    last_event.work_order_event_id AS last_event_id,
    last_event.reason_code AS last_reason_code,
    last_event.created_at AS last_updated_at,
    step_event.step_id,
    step_event.step_input_hash,
    CASE
        WHEN NOT os_core.is_terminal_status(last_event.work_order_status)
            THEN lease_event.lease_owner_id
    END AS lease_owner_id,
    CASE
        WHEN NOT os_core.is_terminal_status(last_event.work_order_status)
            THEN lease_event.lease_token_hash
    END AS lease_token_hash,
    CASE
        WHEN NOT os_core.is_terminal_status(last_event.work_order_status)
            THEN lease_event.lease_expires_at
    END AS lease_expires_at,
    w.event_count
FROM per_work_order AS w
INNER JOIN os_core.work_order_ledger AS last_event
    ON
        w.tenant_id = last_event.tenant_id
        AND w.last_event_id = last_event.work_order_event_id
LEFT JOIN os_core.work_order_ledger AS step_event
    ON
        w.tenant_id = step_event.tenant_id
        AND w.step_event_id = step_event.work_order_event_id
LEFT JOIN os_core.work_order_ledger AS lease_event
    ON
        w.tenant_id = lease_event.tenant_id
        AND w.lease_event_id = lease_event.work_order_event_id;

COMMENT ON VIEW os_core.work_orders_current_from_ledger IS
'What os_core.work_orders_current must hold, computed from the ledger alone (columns in the table''s order). Rebuild writes it, verify compares with it. security_invoker: it shows what the caller may read of the ledger.';

ALTER VIEW os_core.work_orders_current_from_ledger OWNER TO selene_owner;
