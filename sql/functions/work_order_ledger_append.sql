-- work_order_ledger_append: OS_WORK_ORDER_LEDGER_APPEND. Validates an event,
-- deduplicates it by idempotency key, appends it and projects it, and audits it,
-- all in the caller's transaction.

CREATE OR REPLACE FUNCTION os_core.work_order_ledger_append(
    p_tenant_id text,
    p_work_order_id text,
    p_correlation_id numeric,
    p_turn_id bigint,
    p_event_type text,
    p_work_order_status text,
    p_reason_code bigint,
    p_created_at bigint,
    p_step_id text DEFAULT NULL,
    p_step_input_hash text DEFAULT NULL,
    p_lease_owner_id text DEFAULT NULL,
    p_lease_token_hash text DEFAULT NULL,
    p_lease_expires_at bigint DEFAULT NULL,
    p_idempotency_key text DEFAULT NULL,
    p_payload jsonb DEFAULT NULL,
    p_schema_version integer DEFAULT 1,
    p_expected_event_count bigint DEFAULT NULL
)
RETURNS TABLE (work_order_event_id bigint, idempotency_replay boolean)
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    _violation text;
    _event os_core.work_order_ledger;
    _current os_core.work_orders_current;
    _exists boolean;
    _differing text;
    _bound_to text;
    _event_id bigint;
    _last_event_id bigint;
    _paging_horizon xid8;
    _audit_event_id bigint;
    _node_id bigint;
BEGIN
    -- The usual case in one comparison, without a call: require_tenant_scope runs
    -- only when the check fails, and raises exactly its error (no tenant declared,
    -- or another one) with its DETAIL. Passes exactly when it would pass.
    IF p_tenant_id IS NULL OR p_tenant_id IS DISTINCT FROM os_core.current_tenant_id() THEN
        PERFORM os_core.require_tenant_scope(p_tenant_id);
    END IF;

    _violation := os_core.work_order_event_contract_violation(
        p_schema_version, p_tenant_id, p_work_order_id, p_correlation_id, p_turn_id,
        p_event_type, p_work_order_status, p_reason_code, p_step_id, p_step_input_hash,
        p_lease_owner_id, p_lease_token_hash, p_lease_expires_at, p_created_at,
        p_idempotency_key, p_payload
    );
    IF _violation IS NOT NULL THEN
        PERFORM os_core.raise_error('OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', _violation);
    END IF;
    -- An integral value may arrive as 42.000: store it as 42, so that equal ids
    -- are equal byte for byte in the ledger, the projection and a rebuild.
    p_correlation_id := trunc(p_correlation_id);

    PERFORM os_core.lock_work_order(p_tenant_id, p_work_order_id);

    -- Same key, same content: a replay. created_at is not content: a retry re-stamps
    -- its clock, so the original event (and its created_at) stands, and the audit row
    -- of the replay records the created_at it carried.
    IF p_idempotency_key IS NOT NULL THEN
        SELECT l.* INTO _event
        FROM os_core.work_order_ledger AS l
        WHERE
            l.tenant_id = p_tenant_id
            AND l.work_order_id = p_work_order_id
            AND l.idempotency_key = p_idempotency_key;
        IF FOUND THEN
            SELECT string_agg(incoming.key, ', ' ORDER BY incoming.key) INTO _differing
            FROM jsonb_each(jsonb_build_object(
                'schema_version', p_schema_version,
                'correlation_id', p_correlation_id,
                'turn_id', p_turn_id,
                'event_type', p_event_type,
                'work_order_status', p_work_order_status,
                'reason_code', p_reason_code,
                'step_id', p_step_id,
                'step_input_hash', p_step_input_hash,
                'lease_owner_id', p_lease_owner_id,
                'lease_token_hash', p_lease_token_hash,
                'lease_expires_at', p_lease_expires_at,
                'payload', p_payload
            )) AS incoming
            WHERE incoming.value IS DISTINCT FROM to_jsonb(_event) -> incoming.key;
            IF _differing IS NOT NULL THEN
                PERFORM os_core.raise_error(
                    'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
                    format(
                        'idempotency_key %L already names event %s of this work order, '
                        || 'with a different %s',
                        p_idempotency_key, _event.work_order_event_id, _differing
                    ),
                    'use a new idempotency_key for a different event'
                );
            END IF;
            PERFORM ph1j.emit_append_audit(
                _event, 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY', p_created_at
            );
            RETURN QUERY SELECT _event.work_order_event_id, TRUE;
            RETURN;
        END IF;
    END IF;

    SELECT c.* INTO _current
    FROM os_core.work_orders_current AS c
    WHERE c.tenant_id = p_tenant_id AND c.work_order_id = p_work_order_id;
    _exists := FOUND;

    -- A work order with events but no current row is drift (a bug, a direct
    -- write): appending to it from a missing row would write history that breaks
    -- the contract into the ledger for good. Rebuild first.
    IF NOT _exists AND EXISTS (
        SELECT FROM os_core.work_order_ledger AS l
        WHERE l.tenant_id = p_tenant_id AND l.work_order_id = p_work_order_id
    ) THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            format(
                'work order %L has ledger events but no current row: the projection has drifted',
                p_work_order_id
            ),
            'run os_core.work_orders_current_rebuild for the tenant, then append again'
        );
    END IF;

    IF NOT _exists AND p_event_type <> 'WORK_ORDER_CREATED' THEN
        _violation := format(
            'work order %L does not exist: its first event must be WORK_ORDER_CREATED',
            p_work_order_id
        );
    ELSIF _exists AND p_event_type = 'WORK_ORDER_CREATED' THEN
        _violation := format('work order %L was already created', p_work_order_id);
    ELSIF _exists AND p_correlation_id <> _current.correlation_id THEN
        _violation := format(
            'correlation_id must stay %s for work order %L',
            _current.correlation_id, p_work_order_id
        );
    ELSIF _exists AND os_core.is_terminal_status(_current.work_order_status) THEN
        _violation := format(
            'work order %L is %s, a terminal status: only an idempotent replay may follow',
            p_work_order_id, _current.work_order_status
        );
    ELSIF _exists AND p_created_at < _current.last_updated_at THEN
        _violation := format(
            'created_at %s is before the work order''s latest event (%s): '
            || 'created_at must not go backwards',
            p_created_at, _current.last_updated_at
        );
    ELSIF
        _exists
        AND p_lease_owner_id IS DISTINCT FROM _current.lease_owner_id
        AND p_lease_owner_id IS NOT NULL
        AND _current.lease_owner_id IS NOT NULL
        AND _current.lease_expires_at > p_created_at
        THEN
        _violation := format(
            'work order %L is leased to %L until %s: lease_owner_id %L cannot take it over '
            || 'before it expires',
            p_work_order_id, _current.lease_owner_id, _current.lease_expires_at,
            p_lease_owner_id
        );
    ELSIF coalesce(_current.event_count, 0) <> p_expected_event_count THEN
        _violation := format(
            'expected_event_count is %s but work order %L has %s events: '
            || 'another writer appended first',
            p_expected_event_count, p_work_order_id, coalesce(_current.event_count, 0)
        );
    END IF;
    IF _violation IS NOT NULL THEN
        PERFORM os_core.raise_error('OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', _violation);
    END IF;

    -- The transaction takes its xid before it draws the event id, and the event
    -- records the horizon read after drawing it: together they let a tenant-wide
    -- reader page past the event only when no smaller id can still commit.
    -- The ids of a tenant keep growing on another node (after a shard move or a
    -- restore, whose sequence may be behind): an id not above an id the tenant got
    -- on another node is drawn again past its last one. (An id below one drawn here
    -- and committed first is the usual race of concurrent appends, which paging
    -- horizons cover: it needs nothing.)
    PERFORM pg_current_xact_id();
    _event_id := nextval('os_core.work_order_ledger_work_order_event_id_seq');
    SELECT l.work_order_event_id INTO _last_event_id
    FROM os_core.work_order_ledger AS l
    WHERE l.tenant_id = p_tenant_id
    ORDER BY l.work_order_event_id DESC
    LIMIT 1;
    IF _event_id <= _last_event_id AND EXISTS (
        SELECT FROM os_core.work_order_ledger AS l
        WHERE
            l.tenant_id = p_tenant_id
            AND l.work_order_event_id > _event_id
            AND l.paging_node_id <> os_core.node_id()
    ) THEN
        _event_id := os_core.next_event_id_after(_last_event_id);
    END IF;
    -- The audit row's id too, before the horizon: one horizon, read after both ids
    -- were drawn, holds for both rows (os_core.audit_read pages by it as well).
    _audit_event_id := nextval('ph1j.audit_events_audit_event_id_seq');
    _paging_horizon := os_core.paging_horizon();
    _node_id := os_core.node_id();

    -- A new work order's current row first, alone: ON CONFLICT DO NOTHING waits for a
    -- concurrent creator of the same correlation_id and then names its work order.
    IF NOT _exists THEN
        INSERT INTO os_core.work_orders_current (
            tenant_id, work_order_id, schema_version, correlation_id, turn_id,
            work_order_status, last_event_id, last_reason_code, last_updated_at, step_id,
            step_input_hash, lease_owner_id, lease_token_hash, lease_expires_at, event_count
        ) VALUES (
            p_tenant_id, p_work_order_id, p_schema_version, p_correlation_id, p_turn_id,
            p_work_order_status, _event_id, p_reason_code, p_created_at,
            p_step_id, p_step_input_hash,
            CASE WHEN NOT os_core.is_terminal_status(p_work_order_status) THEN p_lease_owner_id END,
            CASE WHEN NOT os_core.is_terminal_status(p_work_order_status) THEN p_lease_token_hash END,
            CASE WHEN NOT os_core.is_terminal_status(p_work_order_status) THEN p_lease_expires_at END,
            1
        )
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            SELECT c.work_order_id INTO _bound_to
            FROM os_core.work_orders_current AS c
            WHERE c.tenant_id = p_tenant_id AND c.correlation_id = p_correlation_id;
            PERFORM os_core.raise_error(
                'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
                format(
                    'correlation_id %s is already bound to work order %L of this tenant',
                    p_correlation_id, _bound_to
                )
            );
        END IF;
    END IF;

    -- The event, the current row's update (an existing work order's) and the audit
    -- row in one statement: each write of its own cost an executor start and an end,
    -- the audit a function call too (a fifth of the append's CPU, benchmarks ab).
    -- Every value is known beforehand: the event id was drawn above.
    WITH inserted AS (
        INSERT INTO os_core.work_order_ledger (
            tenant_id, work_order_event_id, schema_version, work_order_id, correlation_id,
            turn_id, event_type, work_order_status, reason_code, step_id, step_input_hash,
            lease_owner_id, lease_token_hash, lease_expires_at, created_at, idempotency_key,
            payload, paging_horizon, paging_node_id
        ) OVERRIDING SYSTEM VALUE VALUES (
            p_tenant_id, _event_id, p_schema_version, p_work_order_id, p_correlation_id,
            p_turn_id, p_event_type, p_work_order_status, p_reason_code, p_step_id,
            p_step_input_hash, p_lease_owner_id, p_lease_token_hash, p_lease_expires_at,
            p_created_at, p_idempotency_key, p_payload, _paging_horizon, _node_id
        )
        RETURNING *
    ),

    projected AS (
        UPDATE os_core.work_orders_current AS c SET
            schema_version = p_schema_version,
            turn_id = p_turn_id,
            work_order_status = p_work_order_status,
            last_event_id = _event_id,
            last_reason_code = p_reason_code,
            last_updated_at = p_created_at,
            step_id = coalesce(p_step_id, c.step_id),
            step_input_hash = CASE
                WHEN p_step_id IS NOT NULL THEN p_step_input_hash ELSE c.step_input_hash
            END,
            lease_owner_id = CASE
                WHEN os_core.is_terminal_status(p_work_order_status) THEN NULL
                ELSE coalesce(p_lease_owner_id, c.lease_owner_id)
            END,
            lease_token_hash = CASE
                WHEN os_core.is_terminal_status(p_work_order_status) THEN NULL
                WHEN p_lease_owner_id IS NOT NULL THEN p_lease_token_hash
                ELSE c.lease_token_hash
            END,
            lease_expires_at = CASE
                WHEN os_core.is_terminal_status(p_work_order_status) THEN NULL
                WHEN p_lease_owner_id IS NOT NULL THEN p_lease_expires_at
                ELSE c.lease_expires_at
            END,
            event_count = c.event_count + 1
        WHERE c.tenant_id = p_tenant_id AND c.work_order_id = p_work_order_id AND _exists
    ),

    audited AS (
        INSERT INTO ph1j.audit_events (
            tenant_id, audit_event_id, capability, outcome, work_order_id, correlation_id,
            turn_id, event_type, reason_code, idempotency_key, work_order_event_id,
            paging_horizon, paging_node_id
        ) OVERRIDING SYSTEM VALUE VALUES (
            p_tenant_id, _audit_event_id, 'OS_WORK_ORDER_LEDGER_APPEND', 'APPENDED',
            p_work_order_id, p_correlation_id, p_turn_id, p_event_type, p_reason_code,
            p_idempotency_key, _event_id, _paging_horizon, _node_id
        )
    )

    SELECT i.* INTO _event FROM inserted AS i;
    PERFORM ph1j.notify_audit();

    -- Only the events that change them call the step-attempt and lease projections:
    -- the conditions are the helpers' own, so a call skipped here would have done
    -- nothing, and a FIELD_SET or STATUS_CHANGED event saves two calls.
    IF _event.event_type IN ('STEP_STARTED', 'STEP_FINISHED', 'STEP_FAILED') THEN
        PERFORM os_core.project_step_attempt(_event);
    END IF;
    IF _event.lease_owner_id IS NOT NULL OR os_core.is_terminal_status(_event.work_order_status) THEN
        PERFORM os_core.project_lease(_event);
    END IF;

    RETURN QUERY SELECT _event.work_order_event_id, FALSE;
END;
$$;

COMMENT ON FUNCTION os_core.work_order_ledger_append(
    text, text, numeric, bigint, text, text, bigint, bigint, text, text, text, text, bigint,
    text, jsonb, integer, bigint
) IS
'OS_WORK_ORDER_LEDGER_APPEND: appends one work-order event for the declared tenant, updates work_orders_current, work_order_step_attempts and work_order_leases, and writes a PH1.J audit row, all in the caller''s transaction. Returns the event id; idempotency_replay is true when (tenant_id, work_order_id, idempotency_key) was already appended with the same content, created_at aside (a retry re-stamps its clock): the original event id comes back, the original created_at stays in the ledger and the projections, and nothing new is written but the audit row, which records the created_at the replay carried. Pass p_expected_event_count to refuse the append if another writer got there first. Errors: OS_WORK_ORDER_TENANT_SCOPE_VIOLATION (SE003), OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED (SE004) with a DETAIL naming the rule.';

ALTER FUNCTION os_core.work_order_ledger_append(
    text, text, numeric, bigint, text, text, bigint, bigint, text, text, text, text, bigint,
    text, jsonb, integer, bigint
) OWNER TO selene_owner;
