-- work_orders_current_rebuild: OS_WORK_ORDER_CURRENT_REBUILD. Recomputes
-- work_orders_current from the ledger, set-based, for one tenant or all.

CREATE OR REPLACE FUNCTION os_core.work_orders_current_rebuild(p_tenant_id text DEFAULT NULL)
RETURNS TABLE (tenant_count bigint, work_order_count bigint, event_count bigint)
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- All tenants, or a tenant not declared, only for selene_dba members.
    IF NOT pg_has_role(session_user, 'selene_dba', 'MEMBER') THEN
        IF p_tenant_id IS NULL THEN
            PERFORM os_core.raise_error(
                'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
                'rebuilding every tenant needs the selene_dba role',
                'pass the declared tenant as p_tenant_id'
            );
        END IF;
        PERFORM os_core.require_tenant_scope(p_tenant_id);
    END IF;

    -- Waits for appends in flight and holds new ones until this transaction ends,
    -- so that no append reads a projection row this rebuild is replacing.
    LOCK TABLE os_core.work_orders_current IN SHARE ROW EXCLUSIVE MODE;

    DELETE FROM os_core.work_orders_current AS c
    WHERE p_tenant_id IS NULL OR c.tenant_id = p_tenant_id;

    RETURN QUERY
    WITH per_work_order AS (
        SELECT
            l.tenant_id,
            l.work_order_id,
            count(*) AS event_count,
            max(l.work_order_event_id) AS last_event_id,
            max(l.work_order_event_id) FILTER (WHERE l.step_id IS NOT NULL) AS step_event_id,
            max(l.work_order_event_id) FILTER (
                WHERE l.lease_owner_id IS NOT NULL
            ) AS lease_event_id
        FROM os_core.work_order_ledger AS l
        WHERE p_tenant_id IS NULL OR l.tenant_id = p_tenant_id
        GROUP BY l.tenant_id, l.work_order_id
    ),

    rebuilt AS (
        INSERT INTO os_core.work_orders_current AS c (
            tenant_id, work_order_id, schema_version, correlation_id, turn_id,
            work_order_status, last_event_id, last_reason_code, last_updated_at, step_id,
            step_input_hash, lease_owner_id, lease_token_hash, lease_expires_at, event_count
        )
        SELECT
            w.tenant_id,
            w.work_order_id,
            last_event.schema_version,
            last_event.correlation_id,
            last_event.turn_id,
            last_event.work_order_status,
            last_event.work_order_event_id,
            last_event.reason_code,
            last_event.created_at,
            step_event.step_id,
            step_event.step_input_hash,
            CASE
                WHEN NOT os_core.is_terminal_status(last_event.work_order_status)
                    THEN lease_event.lease_owner_id
            END,
            CASE
                WHEN NOT os_core.is_terminal_status(last_event.work_order_status)
                    THEN lease_event.lease_token_hash
            END,
            CASE
                WHEN NOT os_core.is_terminal_status(last_event.work_order_status)
                    THEN lease_event.lease_expires_at
            END,
            w.event_count
        FROM per_work_order AS w
        INNER JOIN os_core.work_order_ledger AS last_event
            ON
                w.tenant_id = last_event.tenant_id
                AND w.last_event_id = last_event.work_order_event_id
        LEFT JOIN os_core.work_order_ledger AS step_event
            ON
                w.tenant_id = step_event.tenant_id
                AND w.step_event_id = step_event.work_order_event_id
        LEFT JOIN os_core.work_order_ledger AS lease_event
            ON
                w.tenant_id = lease_event.tenant_id
                AND w.lease_event_id = lease_event.work_order_event_id
        RETURNING c.tenant_id, c.event_count
    )

    SELECT
        count(DISTINCT r.tenant_id),
        count(*),
        coalesce(sum(r.event_count), 0)::bigint
    FROM rebuilt AS r;
END;
$$;

COMMENT ON FUNCTION os_core.work_orders_current_rebuild(text) IS
'OS_WORK_ORDER_CURRENT_REBUILD: recomputes work_orders_current from the ledger for one tenant (the declared one) or, for selene_dba, for p_tenant_id or every tenant (NULL). The result equals what the appends produced. Blocks appends until the calling transaction ends. Returns how many tenants, work orders and events it replayed.';

ALTER FUNCTION os_core.work_orders_current_rebuild(text) OWNER TO selene_projector;
