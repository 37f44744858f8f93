-- work_order_event_contract_violation: the first rule of the v1 contract that an
-- event breaks, as a sentence naming the field, or NULL when it keeps them all.
-- Rules about the work order's history (first event, terminal status, ...) need
-- the ledger and live in os_core.work_order_ledger_append.

CREATE OR REPLACE FUNCTION os_core.work_order_event_contract_violation(
    p_schema_version integer,
    p_tenant_id text,
    p_work_order_id text,
    p_correlation_id numeric,
    p_turn_id bigint,
    p_event_type text,
    p_work_order_status text,
    p_reason_code bigint,
    p_step_id text,
    p_step_input_hash text,
    p_lease_owner_id text,
    p_lease_token_hash text,
    p_lease_expires_at bigint,
    p_created_at bigint,
    p_idempotency_key text,
    p_payload jsonb
)
RETURNS text
LANGUAGE sql
-- STABLE, not IMMUTABLE: it calls format() and pg_column_size(), which are stable,
-- and an IMMUTABLE SQL function holding a non-immutable call is never inlined: every
-- append then parsed and planned this body anew (a quarter of the append's CPU).
STABLE
PARALLEL SAFE
RETURN CASE
    WHEN p_schema_version IS DISTINCT FROM 1
        THEN 'schema_version must be 1 (contract v1)'
    WHEN p_tenant_id IS NULL
        THEN 'tenant_id is required'
    WHEN os_core.tenant_id_violation(p_tenant_id) IS NOT NULL
        THEN os_core.tenant_id_violation(p_tenant_id)
    WHEN p_work_order_id IS NULL
        THEN 'work_order_id is required'
    WHEN os_core.is_blank(p_work_order_id)
        THEN 'work_order_id must not be blank'
    WHEN char_length(p_work_order_id) > 128
        THEN 'work_order_id must be at most 128 characters'
    WHEN p_correlation_id IS NULL
        THEN 'correlation_id is required'
    WHEN
        p_correlation_id <> trunc(p_correlation_id)
        OR p_correlation_id < 1
        OR p_correlation_id >= 340282366920938463463374607431768211456
        THEN 'correlation_id must be an integer with 1 <= correlation_id < 2^128'
    WHEN p_turn_id IS NULL
        THEN 'turn_id is required'
    WHEN p_turn_id <= 0
        THEN 'turn_id must be > 0'
    WHEN p_event_type IS NULL
        THEN 'event_type is required'
    WHEN
        p_event_type NOT IN (
            'WORK_ORDER_CREATED', 'FIELD_SET', 'FIELD_CONFLICT_RESOLVED', 'STATUS_CHANGED',
            'STEP_STARTED', 'STEP_FINISHED', 'STEP_FAILED', 'WORK_ORDER_CANCELED'
        )
        THEN
            'event_type must be one of WORK_ORDER_CREATED, FIELD_SET, '
            || 'FIELD_CONFLICT_RESOLVED, STATUS_CHANGED, STEP_STARTED, STEP_FINISHED, '
            || 'STEP_FAILED, WORK_ORDER_CANCELED'
    WHEN p_work_order_status IS NULL
        THEN 'work_order_status is required'
    WHEN
        p_work_order_status NOT IN (
            'DRAFT', 'CLARIFY', 'CONFIRM', 'EXECUTING', 'DONE', 'REFUSED', 'FAILED', 'CANCELED'
        )
        THEN
            'work_order_status must be one of DRAFT, CLARIFY, CONFIRM, EXECUTING, '
            || 'DONE, REFUSED, FAILED, CANCELED'
    WHEN (p_event_type = 'WORK_ORDER_CANCELED') <> (p_work_order_status = 'CANCELED')
        THEN
            'a WORK_ORDER_CANCELED event carries work_order_status CANCELED, '
            || 'and only it does'
    WHEN p_reason_code IS NULL
        THEN 'reason_code is required'
    WHEN p_reason_code < 1 OR p_reason_code > 4294967295
        THEN 'reason_code must be between 1 and 2^32-1'
    WHEN p_step_id IS NULL AND p_event_type IN ('STEP_STARTED', 'STEP_FINISHED', 'STEP_FAILED')
        THEN format('step_id is required for %s events', p_event_type)
    WHEN os_core.is_blank(p_step_id)
        THEN 'step_id must not be blank'
    WHEN char_length(p_step_id) > 96
        THEN 'step_id must be at most 96 characters'
    WHEN p_step_input_hash IS NOT NULL AND p_step_id IS NULL
        THEN 'step_input_hash needs a step_id'
    WHEN os_core.is_blank(p_step_input_hash)
        THEN 'step_input_hash must not be blank'
    WHEN char_length(p_step_input_hash) > 128
        THEN 'step_input_hash must be at most 128 characters'
    WHEN
        (p_lease_owner_id IS NULL) <> (p_lease_token_hash IS NULL)
        OR (p_lease_owner_id IS NULL) <> (p_lease_expires_at IS NULL)
        THEN
            'lease_owner_id, lease_token_hash and lease_expires_at go together: '
            || 'give all three or none'
    WHEN os_core.is_blank(p_lease_owner_id)
        THEN 'lease_owner_id must not be blank'
    WHEN char_length(p_lease_owner_id) > 128
        THEN 'lease_owner_id must be at most 128 characters'
    WHEN os_core.is_blank(p_lease_token_hash)
        THEN 'lease_token_hash must not be blank'
    WHEN char_length(p_lease_token_hash) > 128
        THEN 'lease_token_hash must be at most 128 characters'
    WHEN p_created_at IS NULL
        THEN 'created_at is required'
    WHEN p_created_at <= 0
        THEN 'created_at must be > 0'
    WHEN p_lease_expires_at <= p_created_at
        THEN 'lease_expires_at must be after created_at'
    WHEN os_core.is_blank(p_idempotency_key)
        THEN 'idempotency_key must not be blank'
    WHEN char_length(p_idempotency_key) > 128
        THEN 'idempotency_key must be at most 128 characters'
    WHEN jsonb_typeof(p_payload) <> 'object'
        THEN 'payload must be a JSON object'
    WHEN pg_column_size(p_payload) > 65536
        THEN 'payload must be at most 64 KiB'
    -- An item at level 65 of the path is a value nested more than 64 levels deep.
    WHEN jsonb_path_exists(p_payload, 'strict $.**{65}')
        THEN 'payload must not nest values more than 64 levels deep'
END;

COMMENT ON FUNCTION os_core.work_order_event_contract_violation(
    integer, text, text, numeric, bigint, text, text, bigint, text, text, text, text, bigint,
    bigint, text, jsonb
) IS
'The first WorkOrderLedgerEventInput v1 rule the event breaks, as a sentence naming the field, or NULL when it keeps them all. Only per-event rules; the ledger table holds the same rules as domains and constraints.';

ALTER FUNCTION os_core.work_order_event_contract_violation(
    integer, text, text, numeric, bigint, text, text, bigint, text, text, text, text, bigint,
    bigint, text, jsonb
) OWNER TO selene_owner;
