-- work_order_events_of_batch: the events of a batch, each field cast to the type of
-- the single append's parameter.

CREATE OR REPLACE FUNCTION os_core.work_order_events_of_batch(p_events jsonb)
RETURNS TABLE (
    ord bigint,
    work_order_id text,
    correlation_id numeric,
    turn_id bigint,
    event_type text,
    work_order_status text,
    reason_code bigint,
    created_at bigint,
    step_id text,
    step_input_hash text,
    lease_owner_id text,
    lease_token_hash text,
    lease_expires_at bigint,
    idempotency_key text,
    payload jsonb,
    schema_version integer,
    expected_event_count bigint
)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    -- A field absent or JSON null is SQL NULL, except schema_version, which defaults
    -- to 1 when absent, as the single append's parameter does.
    SELECT
        e.ord,
        e.doc ->> 'work_order_id',
        (e.doc ->> 'correlation_id')::numeric,
        (e.doc ->> 'turn_id')::bigint,
        e.doc ->> 'event_type',
        e.doc ->> 'work_order_status',
        (e.doc ->> 'reason_code')::bigint,
        (e.doc ->> 'created_at')::bigint,
        e.doc ->> 'step_id',
        e.doc ->> 'step_input_hash',
        e.doc ->> 'lease_owner_id',
        e.doc ->> 'lease_token_hash',
        (e.doc ->> 'lease_expires_at')::bigint,
        e.doc ->> 'idempotency_key',
        nullif(e.doc -> 'payload', 'null'::jsonb),
        CASE WHEN e.doc ? 'schema_version' THEN (e.doc ->> 'schema_version')::integer ELSE 1 END,
        (e.doc ->> 'expected_event_count')::bigint
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS e (doc, ord)
$$;

COMMENT ON FUNCTION os_core.work_order_events_of_batch(jsonb) IS
'The events of an append_many batch (a JSON array of objects keyed by the single append''s parameter names without p_), one row each, numbered from 1 (ord), each field cast to its parameter''s type. Internal.';

ALTER FUNCTION os_core.work_order_events_of_batch(jsonb) OWNER TO selene_owner;
