-- project_step_attempt: what one appended event does to the step-attempt history.

-- No SET search_path: called only by os_core.work_order_ledger_append, a SECURITY
-- DEFINER function that pins it (pg_catalog, pg_temp), whose path this one runs with.
-- SET clauses on the four helpers of the append (emit_append_audit, paging_horizon,
-- project_step_attempt, project_lease) cost 6 % of its CPU: each saves and
-- restores the setting on every call (python -m benchmarks ab).
CREATE OR REPLACE FUNCTION os_core.project_step_attempt(p_event os_core.work_order_ledger)
RETURNS void
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
AS $$
DECLARE
    _last os_core.work_order_step_attempts;
    _closed_status text;
BEGIN
    IF p_event.event_type = 'STEP_STARTED' THEN
        SELECT a.* INTO _last
        FROM os_core.work_order_step_attempts AS a
        WHERE
            a.tenant_id = p_event.tenant_id
            AND a.work_order_id = p_event.work_order_id
            AND a.step_id = p_event.step_id
        ORDER BY a.attempt_index DESC
        LIMIT 1;
        IF _last.attempt_status = 'STARTED' THEN
            PERFORM os_core.raise_error(
                'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
                format(
                    'step %L of work order %L already has attempt %s open (started by event %s)',
                    p_event.step_id, p_event.work_order_id, _last.attempt_index,
                    _last.started_event_id
                ),
                'append STEP_FINISHED or STEP_FAILED for it before starting the step again'
            );
        END IF;
        INSERT INTO os_core.work_order_step_attempts (
            tenant_id, work_order_id, step_id, attempt_index, attempt_status, step_input_hash,
            started_event_id, started_at
        ) VALUES (
            p_event.tenant_id, p_event.work_order_id, p_event.step_id,
            coalesce(_last.attempt_index, 0) + 1, 'STARTED', p_event.step_input_hash,
            p_event.work_order_event_id, p_event.created_at
        );
    ELSIF p_event.event_type IN ('STEP_FINISHED', 'STEP_FAILED') THEN
        -- Decided here, not in the UPDATE: Citus deparses a CASE over a field of the
        -- row argument wrongly (event_type = boolean) when it sends the UPDATE on.
        _closed_status := CASE p_event.event_type
            WHEN 'STEP_FINISHED' THEN 'FINISHED' ELSE 'FAILED'
        END;
        UPDATE os_core.work_order_step_attempts AS a SET
            attempt_status = _closed_status,
            finished_event_id = p_event.work_order_event_id,
            finished_at = p_event.created_at,
            reason_code = p_event.reason_code
        WHERE
            a.tenant_id = p_event.tenant_id
            AND a.work_order_id = p_event.work_order_id
            AND a.step_id = p_event.step_id
            AND a.attempt_status = 'STARTED';
        IF NOT FOUND THEN
            PERFORM os_core.raise_error(
                'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
                format(
                    '%s for step %L of work order %L, which has no open attempt',
                    p_event.event_type, p_event.step_id, p_event.work_order_id
                ),
                'append STEP_STARTED for the step first'
            );
        END IF;
    END IF;
END;
$$;

COMMENT ON FUNCTION os_core.project_step_attempt(os_core.work_order_ledger) IS
'Applies one appended event to work_order_step_attempts: STEP_STARTED opens the next attempt of its step, STEP_FINISHED or STEP_FAILED closes the open one; raises OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED for a second start or a close with nothing open. Internal, called by the append.';

ALTER FUNCTION os_core.project_step_attempt(os_core.work_order_ledger) OWNER TO selene_owner;
