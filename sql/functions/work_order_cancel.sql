-- work_order_cancel: WORKORDER_CANCEL (design §7). Appends a WORK_ORDER_CANCELED
-- event through os_core.work_order_ledger_append; a work order already terminal
-- is refused with its own reason code, unless the call replays the cancel.

CREATE OR REPLACE FUNCTION os_core.work_order_cancel(
    p_tenant_id text,
    p_work_order_id text,
    p_reason_code bigint,
    p_idempotency_key text,
    p_created_at bigint,
    p_turn_id bigint
)
RETURNS TABLE (work_order_id text, work_order_status text, last_event_id bigint)
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    _violation text;
    _current os_core.work_orders_current;
    _event_id bigint;
BEGIN
    PERFORM os_core.require_tenant_scope(p_tenant_id);

    -- The cancel's own fields, by the append's per-event rules, before any lock.
    -- The correlation_id is the work order's, read below: 1 stands in for it here.
    IF p_idempotency_key IS NULL THEN
        _violation := 'idempotency_key is required for a cancel, so that a retry can be '
            || 'recognised and answered with the first result';
    ELSE
        _violation := os_core.work_order_event_contract_violation(
            1, p_tenant_id, p_work_order_id, 1, p_turn_id, 'WORK_ORDER_CANCELED', 'CANCELED',
            p_reason_code, NULL, NULL, NULL, NULL, NULL, p_created_at, p_idempotency_key, NULL
        );
    END IF;
    IF _violation IS NOT NULL THEN
        PERFORM os_core.raise_error('OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', _violation);
    END IF;

    -- Under the work order's lock nobody else appends to it until we commit, so
    -- the status read here is the status the cancel is appended after.
    PERFORM os_core.lock_work_order(p_tenant_id, p_work_order_id);

    SELECT c.* INTO _current
    FROM os_core.work_orders_current AS c
    WHERE c.tenant_id = p_tenant_id AND c.work_order_id = p_work_order_id;
    IF NOT FOUND THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            format('work order %L does not exist: there is nothing to cancel', p_work_order_id)
        );
    END IF;

    -- A terminal work order is refused, except when the key was already used for
    -- this work order: then the append answers, with the replay of the first
    -- cancel (whatever created_at the retry carries), or with a contract violation
    -- if the key named different content.
    IF
        os_core.is_terminal_status(_current.work_order_status)
        AND NOT EXISTS (
            SELECT
            FROM os_core.work_order_ledger AS l
            WHERE
                l.tenant_id = p_tenant_id
                AND l.work_order_id = p_work_order_id
                AND l.idempotency_key = p_idempotency_key
        )
        THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CANCEL_INVALID_STATE',
            format(
                'work order %L is already %s, a terminal status: it cannot be canceled',
                p_work_order_id, _current.work_order_status
            )
        );
    END IF;

    SELECT a.work_order_event_id INTO STRICT _event_id
    FROM os_core.work_order_ledger_append(
        p_tenant_id => p_tenant_id,
        p_work_order_id => p_work_order_id,
        p_correlation_id => _current.correlation_id,
        p_turn_id => p_turn_id,
        p_event_type => 'WORK_ORDER_CANCELED',
        p_work_order_status => 'CANCELED',
        p_reason_code => p_reason_code,
        p_created_at => p_created_at,
        p_idempotency_key => p_idempotency_key
    ) AS a;

    -- CANCELED is terminal, so the cancel event (first time or replayed) is the
    -- work order's last event.
    RETURN QUERY SELECT p_work_order_id, 'CANCELED'::text, _event_id;
END;
$$;

COMMENT ON FUNCTION os_core.work_order_cancel(text, text, bigint, text, bigint, bigint) IS
'WORKORDER_CANCEL: appends a WORK_ORDER_CANCELED event (status CANCELED, the work order''s correlation_id) through os_core.work_order_ledger_append, with its audit row, and returns (work_order_id, ''CANCELED'', last_event_id). The same idempotency_key and content again returns the first result (an idempotent replay), also with a later created_at (a retry re-stamps its clock; the first cancel''s stays). Errors: OS_WORK_ORDER_TENANT_SCOPE_VIOLATION (SE003); OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED (SE004) for a bad or missing argument or a work order that does not exist; OS_WORK_ORDER_CANCEL_INVALID_STATE (SE005) when the work order is already DONE, REFUSED, FAILED or CANCELED.';

ALTER FUNCTION os_core.work_order_cancel(text, text, bigint, text, bigint, bigint)
OWNER TO selene_owner;
