-- EXPERIMENT, NOT A PROPOSAL: it drops every guarantee. The floor of the append: a
-- PL/pgSQL function with the append's signature that only INSERTs the ledger row,
-- UPDATEs the current row and INSERTs the audit row (SECURITY DEFINER, row-level
-- security on), called in the same four-statement transaction as append.sql.
-- Measured (8 clients, medians of 4 x 8 s): 2647 tps and 415 us of server CPU per
-- append, against 6137 tps / 139 us for the bare INSERT: 0.43x. No append that writes
-- these three rows in this envelope can reach 0.8x the bare INSERT on this machine.
-- python -m benchmarks ab benchmarks/proposals/experiments/floor-minimal-append.sql

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
    _event_id bigint;
BEGIN
    -- EXPERIMENT ONLY: the floor. Ledger INSERT + projection UPDATE + audit INSERT,
    -- no validation, no lock, no idempotency lookup, no horizon.
    INSERT INTO os_core.work_order_ledger (
        tenant_id, work_order_event_id, schema_version, work_order_id, correlation_id,
        turn_id, event_type, work_order_status, reason_code, step_id, step_input_hash,
        lease_owner_id, lease_token_hash, lease_expires_at, created_at, idempotency_key,
        payload
    ) VALUES (
        p_tenant_id, DEFAULT, p_schema_version, p_work_order_id, p_correlation_id,
        p_turn_id, p_event_type, p_work_order_status, p_reason_code, p_step_id,
        p_step_input_hash, p_lease_owner_id, p_lease_token_hash, p_lease_expires_at,
        p_created_at, p_idempotency_key, p_payload
    ) RETURNING work_order_ledger.work_order_event_id INTO _event_id;
    UPDATE os_core.work_orders_current AS c SET
        turn_id = p_turn_id, work_order_status = p_work_order_status,
        last_event_id = _event_id, last_reason_code = p_reason_code,
        last_updated_at = p_created_at, event_count = c.event_count + 1
    WHERE c.tenant_id = p_tenant_id AND c.work_order_id = p_work_order_id;
    INSERT INTO ph1j.audit_events (
        tenant_id, capability, outcome, work_order_id, correlation_id, turn_id,
        event_type, reason_code, idempotency_key, work_order_event_id
    ) VALUES (
        p_tenant_id, 'OS_WORK_ORDER_LEDGER_APPEND', 'APPENDED', p_work_order_id,
        p_correlation_id, p_turn_id, p_event_type, p_reason_code, p_idempotency_key, _event_id
    );
    RETURN QUERY SELECT _event_id, FALSE;
END;
$$;
