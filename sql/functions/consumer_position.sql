-- consumer_position: where a durable consumer is, claimed for this transaction.

CREATE OR REPLACE FUNCTION os_core.consumer_position(
    p_tenant_id text,
    p_consumer text,
    p_stream text DEFAULT 'ledger'
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- The usual case in one comparison; require_tenant_scope raises exactly its error.
    IF p_tenant_id IS NULL OR p_tenant_id IS DISTINCT FROM os_core.current_tenant_id() THEN
        PERFORM os_core.require_tenant_scope(p_tenant_id);
    END IF;
    RETURN os_core.lock_consumer(p_tenant_id, p_consumer, p_stream);
END;
$$;

COMMENT ON FUNCTION os_core.consumer_position(text, text, text) IS
'Durable consumers: the committed position of consumer p_consumer of the declared tenant (0 for a new one) on stream p_stream, ledger (work_order_event_id values, the default) or audit (audit_event_id values). Locks the consumer until the transaction ends (a transaction-level advisory lock, which takes no transaction id): a second instance of it waits here (bounded by lock_timeout, 55P03) and then gets the position the first committed. Writes nothing. Call it first in the READ COMMITTED transaction that reads after the position, processes and calls os_core.consumer_commit. Errors: SE003 tenant scope, SE004 a malformed consumer name, an unknown stream, or a transaction that is not READ COMMITTED.';

ALTER FUNCTION os_core.consumer_position(text, text, text) OWNER TO selene_owner;
