-- consumer_commit: a durable consumer's new position, in the caller's transaction.

CREATE OR REPLACE FUNCTION os_core.consumer_commit(
    p_tenant_id text,
    p_consumer text,
    p_event_id bigint,
    p_stream text DEFAULT 'ledger'
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    _current bigint;
    _last bigint;
    -- A value, not a call in the DO UPDATE below: Citus refuses a function there unless
    -- it is IMMUTABLE.
    _now timestamptz := statement_timestamp();
BEGIN
    -- The usual case in one comparison; require_tenant_scope raises exactly its error.
    IF p_tenant_id IS NULL OR p_tenant_id IS DISTINCT FROM os_core.current_tenant_id() THEN
        PERFORM os_core.require_tenant_scope(p_tenant_id);
    END IF;
    IF p_event_id IS NULL OR p_event_id < 0 THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            format(
                'event_id must be an event id of the stream, or 0, not %s',
                coalesce(p_event_id::text, 'NULL')
            )
        );
    END IF;
    -- Under the consumer's lock (taken already if consumer_position ran first in this
    -- transaction), so the check and the write see the latest committed position.
    _current := os_core.lock_consumer(p_tenant_id, p_consumer, p_stream);
    IF p_event_id < _current THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            format(
                'consumer %s of the %s stream is at position %s: position %s would move it backwards',
                quote_literal(p_consumer), p_stream, _current, p_event_id
            ),
            'a position never moves backwards: read it with os_core.consumer_position and go on from there'
        );
    END IF;
    IF p_event_id = _current AND (
        _current > 0 OR EXISTS (
            SELECT FROM os_core.consumer_positions AS p
            WHERE p.tenant_id = p_tenant_id AND p.stream = p_stream AND p.consumer = p_consumer
        )
    ) THEN
        RETURN _current;  -- the same position again: nothing to write
    END IF;
    -- A position past the stream's last event would skip events still to come.
    IF p_stream = 'ledger' THEN
        SELECT max(l.work_order_event_id) INTO _last
        FROM os_core.work_order_ledger AS l
        WHERE l.tenant_id = p_tenant_id;
    ELSE
        SELECT max(a.audit_event_id) INTO _last
        FROM ph1j.audit_events AS a
        WHERE a.tenant_id = p_tenant_id;
    END IF;
    IF p_event_id > coalesce(_last, 0) THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            format(
                'event_id %s is past the last event of the tenant''s %s stream (%s)',
                p_event_id, p_stream, coalesce(_last::text, 'none yet')
            ),
            'commit the id of the last event the consumer processed, as a read returned it'
        );
    END IF;
    -- A new consumer's first commit (0 included) creates its row. Every writer holds
    -- the consumer's lock, so nothing else writes the row meanwhile.
    INSERT INTO os_core.consumer_positions AS p (
        tenant_id, stream, consumer, committed_position
    )
    VALUES (p_tenant_id, p_stream, p_consumer, p_event_id)
    ON CONFLICT ON CONSTRAINT consumer_positions_pkey DO UPDATE
        SET committed_position = excluded.committed_position, updated_at = _now;
    RETURN p_event_id;
END;
$$;

COMMENT ON FUNCTION os_core.consumer_commit(text, text, bigint, text) IS
'Durable consumers: sets the position of consumer p_consumer of the declared tenant on stream p_stream (ledger, the default, or audit) to p_event_id, the id of the last event it processed, in the caller''s transaction (it commits or rolls back with the consumer''s own effects); returns it. Committing the same position again writes nothing; a new consumer''s first commit, 0 included, creates its row (then consumer_stats shows it). Takes the consumer''s lock, as os_core.consumer_position does. Errors: SE003 tenant scope; SE004 a malformed consumer name, an unknown stream, a negative or NULL id, an id past the stream''s last event of the tenant, a position behind the committed one (DETAIL names both), or a transaction that is not READ COMMITTED.';

ALTER FUNCTION os_core.consumer_commit(text, text, bigint, text) OWNER TO selene_owner;
