-- work_order_ledger_append_many_one_by_one: the batch through the single append.

CREATE OR REPLACE FUNCTION os_core.work_order_ledger_append_many_one_by_one(
    p_tenant_id text,
    p_events jsonb
)
RETURNS TABLE (event_index integer, work_order_event_id bigint, idempotency_replay boolean)
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    _n integer := jsonb_array_length(p_events);
    _i integer := 0;
    _e record;
    _ids bigint [] := '{}'::bigint [];
    _replays boolean [] := '{}'::boolean [];
    _id bigint;
    _replay boolean;
    _sqlstate text;
    _message text;
    _detail text;
    _hint text;
BEGIN
    BEGIN
        FOR _index IN 1.._n LOOP
            _i := _index;
            SELECT * INTO STRICT _e
            FROM os_core.work_order_events_of_batch(jsonb_build_array(p_events -> (_index - 1)));
            SELECT a.work_order_event_id, a.idempotency_replay
            INTO STRICT _id, _replay
            FROM os_core.work_order_ledger_append(
                p_tenant_id => p_tenant_id,
                p_work_order_id => _e.work_order_id,
                p_correlation_id => _e.correlation_id,
                p_turn_id => _e.turn_id,
                p_event_type => _e.event_type,
                p_work_order_status => _e.work_order_status,
                p_reason_code => _e.reason_code,
                p_created_at => _e.created_at,
                p_step_id => _e.step_id,
                p_step_input_hash => _e.step_input_hash,
                p_lease_owner_id => _e.lease_owner_id,
                p_lease_token_hash => _e.lease_token_hash,
                p_lease_expires_at => _e.lease_expires_at,
                p_idempotency_key => _e.idempotency_key,
                p_payload => _e.payload,
                p_schema_version => _e.schema_version,
                p_expected_event_count => _e.expected_event_count
            ) AS a;
            _ids := _ids || _id;
            _replays := _replays || _replay;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS
            _sqlstate = RETURNED_SQLSTATE, _message = MESSAGE_TEXT,
            _detail = PG_EXCEPTION_DETAIL, _hint = PG_EXCEPTION_HINT;
        PERFORM os_core.raise_batch_error(
            _i - 1, _sqlstate, _message, nullif(_detail, ''), nullif(_hint, '')
        );
    END;
    RETURN QUERY
    SELECT (r.ord - 1)::integer, r.id, r.replay
    FROM unnest(_ids, _replays) WITH ORDINALITY AS r (id, replay, ord)
    ORDER BY r.ord;
END;
$$;

COMMENT ON FUNCTION os_core.work_order_ledger_append_many_one_by_one(text, jsonb) IS
'The work of os_core.work_order_ledger_append_many where it cannot be set-based (on Citus, whose delegated calls may run no INSERT ... SELECT): os_core.work_order_ledger_append for each event in order, in one subtransaction, a refusal re-raised with the event''s index. Internal.';

ALTER FUNCTION os_core.work_order_ledger_append_many_one_by_one(text, jsonb) OWNER TO selene_owner;
