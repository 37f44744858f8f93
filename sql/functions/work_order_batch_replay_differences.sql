-- work_order_batch_replay_differences: for the events of a batch that would be
-- replays, the fields that differ from the event they would replay.

CREATE OR REPLACE FUNCTION os_core.work_order_batch_replay_differences(
    p_tenant_id text,
    p_todo integer,
    p_orig_id bigint[],
    p_orig_no integer[],
    p_schema integer[],
    p_corr numeric[],
    p_turn bigint[],
    p_type text[],
    p_status text[],
    p_reason bigint[],
    p_step text[],
    p_step_hash text[],
    p_owner text[],
    p_token text[],
    p_expires bigint[],
    p_payload jsonb[]
)
RETURNS text[]
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    WITH content AS (
        SELECT
            e.ord,
            jsonb_build_object(
                'schema_version', e.schema_version,
                'correlation_id', e.correlation_id,
                'turn_id', e.turn_id,
                'event_type', e.event_type,
                'work_order_status', e.work_order_status,
                'reason_code', e.reason_code,
                'step_id', e.step_id,
                'step_input_hash', e.step_input_hash,
                'lease_owner_id', e.lease_owner_id,
                'lease_token_hash', e.lease_token_hash,
                'lease_expires_at', e.lease_expires_at,
                'payload', e.payload
            ) AS doc
        FROM
            unnest(
                p_schema, p_corr, p_turn, p_type, p_status, p_reason, p_step, p_step_hash,
                p_owner, p_token, p_expires, p_payload
            ) WITH ORDINALITY
                AS e (
                    schema_version, correlation_id, turn_id, event_type, work_order_status,
                    reason_code, step_id, step_input_hash, lease_owner_id, lease_token_hash,
                    lease_expires_at, payload, ord
                )
        -- The events that would be replays, and the events of the batch they replay.
        WHERE
            e.ord <= p_todo AND (p_orig_id[e.ord] IS NOT NULL OR p_orig_no[e.ord] IS NOT NULL)
            OR e.ord = ANY(p_orig_no)
    )

    SELECT array_agg(d.differing ORDER BY i.ord)
    FROM generate_series(1, p_todo) AS i (ord)
    LEFT JOIN LATERAL (
        SELECT string_agg(incoming.key, ', ' ORDER BY incoming.key) AS differing
        FROM content AS c
        CROSS JOIN LATERAL jsonb_each(c.doc) AS incoming
        WHERE
            c.ord = i.ord
            AND incoming.value IS DISTINCT FROM coalesce(
                (
                    SELECT to_jsonb(l)
                    FROM os_core.work_order_ledger AS l
                    WHERE
                        l.tenant_id = p_tenant_id
                        AND l.work_order_event_id = p_orig_id[i.ord]
                ),
                (
                    SELECT f.doc FROM content AS f
                    WHERE f.ord = p_orig_no[i.ord]
                )
            ) -> incoming.key
    ) AS d ON p_orig_id[i.ord] IS NOT NULL OR p_orig_no[i.ord] IS NOT NULL;
$$;

COMMENT ON FUNCTION os_core.work_order_batch_replay_differences(
    text, integer, bigint[], integer[], integer[], numeric[], bigint[], text[], text[],
    bigint[], text[], text[], text[], text[], bigint[], jsonb[]
) IS
'For events 1 to p_todo of an append_many batch (the batch as arrays, by event): where the event would replay a stored event (p_orig_id) or an earlier one of the batch (p_orig_no), the names of the fields it gives otherwise, as the single append lists them (NULL: a replay); NULL for the other events. Internal.';

ALTER FUNCTION os_core.work_order_batch_replay_differences(
    text, integer, bigint[], integer[], integer[], numeric[], bigint[], text[], text[],
    bigint[], text[], text[], text[], text[], bigint[], jsonb[]
) OWNER TO selene_owner;
