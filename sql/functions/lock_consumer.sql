-- lock_consumer: makes the calling transaction the only instance of one durable
-- consumer until it ends; the consumer's committed position.

CREATE OR REPLACE FUNCTION os_core.lock_consumer(
    p_tenant_id text,
    p_consumer text,
    p_stream text
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    _position bigint;
    _tenant_id_violation text := os_core.tenant_id_violation(p_tenant_id);
BEGIN
    -- The table's CHECKs hold the same rules; checked first to name the argument. The
    -- tenant is the declared one already (the callers check the scope first), but a raw
    -- SET can declare a malformed one, which set_tenant would have refused.
    IF _tenant_id_violation IS NOT NULL THEN
        PERFORM os_core.raise_error('OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', _tenant_id_violation);
    END IF;
    IF p_consumer IS NULL OR p_consumer !~ '^[A-Za-z0-9_.:-]{1,128}$' THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            'consumer must be 1 to 128 characters of A-Z, a-z, 0-9, _ . : -'
        );
    END IF;
    IF p_stream IS NULL OR p_stream NOT IN ('ledger', 'audit') THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            format(
                'stream must be ''ledger'' or ''audit'', not %s',
                coalesce(quote_literal(p_stream), 'NULL')
            )
        );
    END IF;
    -- The position is read after the lock, with the statement's own snapshot: that
    -- shows what the previous holder committed only in READ COMMITTED. A REPEATABLE
    -- READ snapshot taken before the wait would give a stale position, and the
    -- instance would process again what the other one just did.
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            format(
                'durable consumers run in READ COMMITTED transactions, not %s',
                upper(pg_catalog.current_setting('transaction_isolation'))
            ),
            'run the consumer''s transactions at the default isolation level'
        );
    END IF;
    -- The claim: one instance of the consumer at a time, until the end of the
    -- transaction; a second one waits here (or its lock_timeout passes: 55P03). A
    -- transaction-level advisory lock, not the row's lock: it takes no transaction id,
    -- so a consumer busy with a page (an HTTP call to PH1.J, say) holds back no reader's
    -- paging horizon until it commits its position. The key starts with 'consumer ',
    -- which no tenant-and-work-order key of lock_work_order can (a tenant id has no
    -- space); the stream is part of it (docs/decisions.md, "Durable consumers").
    PERFORM pg_advisory_xact_lock(
        hashtextextended(
            'consumer ' || p_stream || '/' || p_tenant_id || '/' || p_consumer, 0
        )
    );
    SELECT p.committed_position INTO _position
    FROM os_core.consumer_positions AS p
    WHERE p.tenant_id = p_tenant_id AND p.stream = p_stream AND p.consumer = p_consumer;
    RETURN coalesce(_position, 0);
END;
$$;

COMMENT ON FUNCTION os_core.lock_consumer(text, text, text) IS
'Locks consumer p_consumer of stream p_stream (ledger or audit) of tenant p_tenant_id until the caller''s transaction ends (a transaction-level advisory lock: a second instance waits), then returns its committed position (0 when it has none). SE004 for a malformed tenant id or consumer name, an unknown stream, or a transaction that is not READ COMMITTED. Internal, for consumer_position and consumer_commit, which check the tenant scope first.';

ALTER FUNCTION os_core.lock_consumer(text, text, text) OWNER TO selene_owner;
