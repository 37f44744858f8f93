-- work_order_ledger_read: OS_WORK_ORDER_LEDGER_READ, one keyset page at a time.

CREATE OR REPLACE FUNCTION os_core.work_order_ledger_read(
    p_tenant_id text,
    p_work_order_id text DEFAULT NULL,
    p_after_event_id bigint DEFAULT 0,
    p_limit integer DEFAULT 1000
)
RETURNS SETOF os_core.work_order_ledger
LANGUAGE plpgsql
STABLE
PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM os_core.require_tenant_scope(p_tenant_id);
    IF p_after_event_id IS NULL OR p_after_event_id < 0 THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            'after_event_id must be >= 0 (0 reads from the start)'
        );
    END IF;
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 10000 THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            'limit must be between 1 and 10000'
        );
    END IF;

    IF p_work_order_id IS NULL THEN
        RETURN QUERY
        SELECT l.*
        FROM os_core.work_order_ledger AS l
        WHERE l.tenant_id = p_tenant_id AND l.work_order_event_id > p_after_event_id
        ORDER BY l.work_order_event_id
        LIMIT p_limit;
    ELSE
        RETURN QUERY
        SELECT l.*
        FROM os_core.work_order_ledger AS l
        WHERE
            l.tenant_id = p_tenant_id
            AND l.work_order_id = p_work_order_id
            AND l.work_order_event_id > p_after_event_id
        ORDER BY l.work_order_event_id
        LIMIT p_limit;
    END IF;
END;
$$;

COMMENT ON FUNCTION os_core.work_order_ledger_read(text, text, bigint, integer) IS
'OS_WORK_ORDER_LEDGER_READ: the declared tenant''s events (or one work order''s, with p_work_order_id) with work_order_event_id > p_after_event_id, in event-id order, at most p_limit (1-10000). Pass the last id of a page as p_after_event_id to read the next. Errors: SE003 tenant scope, SE004 bad paging arguments.';

ALTER FUNCTION os_core.work_order_ledger_read(text, text, bigint, integer) OWNER TO selene_owner;
