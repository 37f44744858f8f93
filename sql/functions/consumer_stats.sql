-- consumer_stats: each durable consumer of a tenant, its position and its lag.

CREATE OR REPLACE FUNCTION os_core.consumer_stats(p_tenant_id text)
RETURNS TABLE (
    tenant_id text,
    stream text,
    consumer text,
    committed_position bigint,
    last_event_id bigint,
    pending_events bigint,
    updated_at timestamptz
)
LANGUAGE plpgsql
STABLE
PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- The usual case in one comparison; require_tenant_scope raises exactly its error.
    IF p_tenant_id IS NULL OR p_tenant_id IS DISTINCT FROM os_core.current_tenant_id() THEN
        PERFORM os_core.require_tenant_scope(p_tenant_id);
    END IF;
    -- Every subquery names the tenant, so that Citus routes it to the tenant's worker
    -- with the rest. The lag counts the events after the position (ids are not dense:
    -- on Citus each worker draws from its own range, and a rolled-back append leaves a
    -- gap), one index range scan of the stream per consumer.
    RETURN QUERY
    SELECT
        c.tenant_id,
        c.stream,
        c.consumer,
        c.committed_position,
        CASE c.stream
            WHEN 'ledger' THEN (
                SELECT max(l.work_order_event_id) FROM os_core.work_order_ledger AS l
                WHERE l.tenant_id = p_tenant_id
            )
            ELSE (
                SELECT max(a.audit_event_id) FROM ph1j.audit_events AS a
                WHERE a.tenant_id = p_tenant_id
            )
        END,
        CASE c.stream
            WHEN 'ledger' THEN (
                SELECT count(*) FROM os_core.work_order_ledger AS l
                WHERE l.tenant_id = p_tenant_id AND l.work_order_event_id > c.committed_position
            )
            ELSE (
                SELECT count(*) FROM ph1j.audit_events AS a
                WHERE a.tenant_id = p_tenant_id AND a.audit_event_id > c.committed_position
            )
        END,
        c.updated_at
    FROM os_core.consumer_positions AS c
    WHERE c.tenant_id = p_tenant_id
    ORDER BY c.stream, c.consumer;
END;
$$;

COMMENT ON FUNCTION os_core.consumer_stats(text) IS
'Monitoring: each durable consumer of the declared tenant (stream, name), its committed position, the stream''s last event id and pending_events, the number of the tenant''s events after the position (its lag), and when the position last moved. Reads one row per consumer and counts its lag with an index range scan; writes and locks nothing. Errors: SE003 tenant scope.';

ALTER FUNCTION os_core.consumer_stats(text) OWNER TO selene_owner;
