-- work_orders_list_pending: WORKORDER_LIST_PENDING (design §7). The declared
-- tenant's newest work orders in a set of statuses, from the projection.

CREATE OR REPLACE FUNCTION os_core.work_orders_list_pending(
    p_tenant_id text,
    p_statuses text[] DEFAULT ARRAY['DRAFT', 'CLARIFY', 'CONFIRM'],
    p_updated_after bigint DEFAULT NULL,
    p_limit integer DEFAULT 50
)
RETURNS SETOF os_core.work_orders_current
LANGUAGE plpgsql
STABLE
PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    _unknown text;
    -- last_updated_at is > 0, so 0 means no lower bound. A plain variable, not
    -- coalesce() in the query, so that a cached generic plan keeps the bound as
    -- an index condition (where the scan stops) rather than a filter.
    _updated_after bigint := coalesce(p_updated_after, 0);
BEGIN
    PERFORM os_core.require_tenant_scope(p_tenant_id);
    IF p_statuses IS NULL OR cardinality(p_statuses) = 0 THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            'statuses must name at least one work_order_status',
            'omit statuses for the pending ones: DRAFT, CLARIFY, CONFIRM'
        );
    END IF;
    SELECT string_agg(coalesce(quote_literal(s.status), 'NULL'), ', ' ORDER BY s.n) INTO _unknown
    FROM unnest(p_statuses) WITH ORDINALITY AS s (status, n)
    WHERE
        s.status IS NULL
        OR s.status NOT IN (
            'DRAFT', 'CLARIFY', 'CONFIRM', 'EXECUTING', 'DONE', 'REFUSED', 'FAILED', 'CANCELED'
        );
    IF _unknown IS NOT NULL THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            format(
                'statuses holds %s: each must be one of DRAFT, CLARIFY, CONFIRM, EXECUTING, '
                || 'DONE, REFUSED, FAILED, CANCELED',
                _unknown
            )
        );
    END IF;
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 1000 THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            'limit must be between 1 and 1000'
        );
    END IF;

    -- One ordered scan of the index work_orders_current_by_status per status,
    -- each cut at p_limit rows, then the newest p_limit of those: at most
    -- statuses x p_limit rows are read, however many work orders match.
    RETURN QUERY
    SELECT newest.*
    FROM (SELECT DISTINCT s.status FROM unnest(p_statuses) AS s (status)) AS wanted
    CROSS JOIN LATERAL (
        SELECT c.*
        FROM os_core.work_orders_current AS c
        WHERE
            c.tenant_id = p_tenant_id
            AND c.work_order_status = wanted.status
            AND c.last_updated_at > _updated_after
        ORDER BY c.last_updated_at DESC, c.work_order_id ASC
        LIMIT p_limit
    ) AS newest
    ORDER BY newest.last_updated_at DESC, newest.work_order_id ASC
    LIMIT p_limit;
END;
$$;

COMMENT ON FUNCTION os_core.work_orders_list_pending(text, text[], bigint, integer) IS
'WORKORDER_LIST_PENDING: the declared tenant''s work orders (rows of work_orders_current) whose status is in p_statuses (default the pending DRAFT, CLARIFY, CONFIRM) and, when p_updated_after is given, whose last_updated_at is after it; newest first (last_updated_at DESC, then work_order_id), at most p_limit (1-1000). Served by the index work_orders_current_by_status. Errors: OS_WORK_ORDER_TENANT_SCOPE_VIOLATION (SE003); OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED (SE004) for an empty or NULL status set, an unknown status, or a limit out of range.';

ALTER FUNCTION os_core.work_orders_list_pending(text, text[], bigint, integer)
OWNER TO selene_owner;
