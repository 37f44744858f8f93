-- raise_batch_error: a refusal of the event at p_event_index of a batch.

CREATE OR REPLACE FUNCTION os_core.raise_batch_error(
    p_event_index bigint,
    p_sqlstate text,
    p_message text,
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
    -- The single append's HINT (if any) first, the event's index last, on its own line.
    _hint constant text := coalesce(p_hint || E'\n', '') || format(
        'event_index %s: the first event of the batch refused (counting from 0); '
        || 'nothing of the batch was written',
        p_event_index
    );
BEGIN
    -- The SQLSTATE, message and DETAIL are those of the single append's refusal.
    IF p_detail IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = p_sqlstate, MESSAGE = p_message, HINT = _hint;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = p_sqlstate, MESSAGE = p_message, DETAIL = p_detail, HINT = _hint;
END;
$$;

COMMENT ON FUNCTION os_core.raise_batch_error(bigint, text, text, text, text) IS
'Raises a refusal of the event at p_event_index (from 0) of an append_many batch: the SQLSTATE, message and DETAIL of the single append''s refusal, and a HINT whose last line is "event_index N: ...". Internal.';

ALTER FUNCTION os_core.raise_batch_error(bigint, text, text, text, text) OWNER TO selene_owner;

-- raise_batch_reason: raise_batch_error for a reason code of os_core.error_codes().

CREATE OR REPLACE FUNCTION os_core.raise_batch_reason(
    p_event_index bigint,
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
    PERFORM os_core.raise_batch_error(p_event_index, _sqlstate, p_reason_code, p_detail, p_hint);
END;
$$;

COMMENT ON FUNCTION os_core.raise_batch_reason(bigint, text, text, text) IS
'Raises the reason code for the event at p_event_index (from 0) of an append_many batch, as os_core.raise_error does, with the event''s index on the last line of the HINT. Internal.';

ALTER FUNCTION os_core.raise_batch_reason(bigint, text, text, text) OWNER TO selene_owner;
