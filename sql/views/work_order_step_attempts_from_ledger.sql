-- work_order_step_attempts_from_ledger: the attempt history as the ledger defines it.
-- The n-th STEP_STARTED of a step opens attempt n; the n-th STEP_FINISHED or
-- STEP_FAILED of the step closes it (the append allows them only alternately).

CREATE OR REPLACE VIEW os_core.work_order_step_attempts_from_ledger
WITH (security_invoker = TRUE)
AS
WITH started AS (
    SELECT
        l.tenant_id,
        l.work_order_id,
        l.step_id,
        l.step_input_hash,
        l.work_order_event_id,
        l.created_at,
        row_number() OVER (
            PARTITION BY l.tenant_id, l.work_order_id, l.step_id
            ORDER BY l.work_order_event_id
        ) AS attempt_index
    FROM os_core.work_order_ledger AS l
    WHERE l.event_type = 'STEP_STARTED'
),

closed AS (
    SELECT
        l.tenant_id,
        l.work_order_id,
        l.step_id,
        l.event_type,
        l.reason_code,
        l.work_order_event_id,
        l.created_at,
        row_number() OVER (
            PARTITION BY l.tenant_id, l.work_order_id, l.step_id
            ORDER BY l.work_order_event_id
        ) AS attempt_index
    FROM os_core.work_order_ledger AS l
    WHERE l.event_type IN ('STEP_FINISHED', 'STEP_FAILED')
)

-- Columns in the table's order, so that rows compare and insert as they are.
SELECT  -- noqa: ST06
    s.tenant_id,
    s.work_order_id,
    s.step_id,
    s.attempt_index::integer AS attempt_index,
    CASE c.event_type
        WHEN 'STEP_FINISHED' THEN 'FINISHED'
        WHEN 'STEP_FAILED' THEN 'FAILED'
        ELSE 'STARTED'
    END AS attempt_status,
    s.step_input_hash,
    s.work_order_event_id AS started_event_id,
    s.created_at AS started_at,
    c.work_order_event_id AS finished_event_id,
    c.created_at AS finished_at,
    c.reason_code
FROM started AS s
LEFT JOIN closed AS c
    ON
        s.tenant_id = c.tenant_id
        AND s.work_order_id = c.work_order_id
        AND s.step_id = c.step_id
        AND s.attempt_index = c.attempt_index;

COMMENT ON VIEW os_core.work_order_step_attempts_from_ledger IS
'What os_core.work_order_step_attempts must hold, computed from the ledger alone (columns in the table''s order). Rebuild writes it, verify compares with it. security_invoker.';

ALTER VIEW os_core.work_order_step_attempts_from_ledger OWNER TO selene_owner;
