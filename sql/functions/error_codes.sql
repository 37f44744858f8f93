-- error_codes: the project's SQLSTATEs, one per reason code (class SE, never reused).

CREATE OR REPLACE FUNCTION os_core.error_codes()
RETURNS TABLE (sqlstate text, reason_code text, exception_name text, description text)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
BEGIN ATOMIC
    SELECT
        v.sqlstate,
        v.reason_code,
        v.exception_name,
        v.description
    FROM (
        VALUES
        (
            'SE001', 'OS_WORK_ORDER_APPEND_ONLY_VIOLATION', 'AppendOnlyViolation',
            'UPDATE, DELETE or TRUNCATE of an append-only table.'
        ),
        (
            'SE002', 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY', 'IdempotencyReplay',
            'The idempotency key was already appended with the same content. An outcome, '
            || 'not raised by the database; the client raises it only when asked to.'
        ),
        (
            'SE003', 'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION', 'TenantScopeViolation',
            'No tenant declared in the transaction, or a tenant_id other than the declared one.'
        ),
        (
            'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'ContractValidationFailed',
            'The event breaks the WorkOrderLedgerEventInput v1 contract; DETAIL names the rule.'
        ),
        (
            'SE005', 'OS_WORK_ORDER_CANCEL_INVALID_STATE', 'CancelInvalidState',
            'A cancel of a work order already in a terminal status (DONE, REFUSED, FAILED, '
            || 'CANCELED); DETAIL names the status. A replayed cancel is not refused.'
        )
    ) AS v (sqlstate, reason_code, exception_name, description)
    ORDER BY v.sqlstate;
END;

COMMENT ON FUNCTION os_core.error_codes() IS
'The error catalogue: SQLSTATE, reason code, client exception class and meaning for each project error.';

ALTER FUNCTION os_core.error_codes() OWNER TO selene_owner;

-- raise_error: raises a reason code with its SQLSTATE, the reason code as message.

CREATE OR REPLACE FUNCTION os_core.raise_error(
    p_reason_code text,
    p_detail text,
    p_hint text DEFAULT NULL
)
RETURNS void
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    _sqlstate text;
BEGIN
    SELECT e.sqlstate INTO STRICT _sqlstate
    FROM os_core.error_codes() AS e
    WHERE e.reason_code = p_reason_code;

    IF p_hint IS NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = _sqlstate,
            MESSAGE = p_reason_code,
            DETAIL = p_detail;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = _sqlstate,
        MESSAGE = p_reason_code,
        DETAIL = p_detail,
        HINT = p_hint;
END;
$$;

COMMENT ON FUNCTION os_core.raise_error(text, text, text) IS
'Raises the reason code as the message, with its SQLSTATE from os_core.error_codes(), and the given DETAIL and HINT. Internal.';

ALTER FUNCTION os_core.raise_error(text, text, text) OWNER TO selene_owner;
