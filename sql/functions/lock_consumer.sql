-- lock_consumer: a consumer's row, created at position 0 when new, locked until the
-- end of the caller's transaction; its committed position.

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
BEGIN
    -- The table's CHECKs hold the same rules; checked first to name the argument. The
    -- tenant is the declared one already (the callers check the scope first), but a raw
    -- SET can declare a malformed one, which set_tenant would have refused.
    IF p_tenant_id !~ '^[A-Za-z0-9_.:-]{1,64}$' THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            'tenant_id must be 1 to 64 characters of A-Z, a-z, 0-9, _ . : -'
        );
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
    -- The row lock is the claim: a second instance of the consumer waits here until
    -- the transaction holding it ends (or its lock_timeout passes: 55P03), then reads
    -- the position that transaction committed (READ COMMITTED takes the row's latest
    -- version; docs/decisions.md, "Durable consumers").
    SELECT p.committed_position INTO _position
    FROM os_core.consumer_positions AS p
    WHERE p.tenant_id = p_tenant_id AND p.stream = p_stream AND p.consumer = p_consumer
    FOR UPDATE;
    IF FOUND THEN
        RETURN _position;
    END IF;
    -- A new consumer. Of two first instances the second waits in the INSERT for the
    -- first one's transaction, then finds its row (or, if it rolled back, inserts).
    INSERT INTO os_core.consumer_positions AS p (tenant_id, stream, consumer)
    VALUES (p_tenant_id, p_stream, p_consumer)
    ON CONFLICT ON CONSTRAINT consumer_positions_pkey DO NOTHING;
    SELECT p.committed_position INTO STRICT _position
    FROM os_core.consumer_positions AS p
    WHERE p.tenant_id = p_tenant_id AND p.stream = p_stream AND p.consumer = p_consumer
    FOR UPDATE;
    RETURN _position;
END;
$$;

COMMENT ON FUNCTION os_core.lock_consumer(text, text, text) IS
'The committed position of consumer p_consumer of stream p_stream (ledger or audit) of tenant p_tenant_id, its row created at 0 when new and locked (FOR UPDATE) until the caller''s transaction ends: a second instance waits. SE004 for a malformed tenant id or consumer name, or an unknown stream. Internal, for consumer_position and consumer_commit, which check the tenant scope first.';

ALTER FUNCTION os_core.lock_consumer(text, text, text) OWNER TO selene_owner;
