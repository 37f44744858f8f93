-- work_order_step_attempts_read: the attempt history of one work order.

CREATE OR REPLACE FUNCTION os_core.work_order_step_attempts_read(
    p_tenant_id text,
    p_work_order_id text
)
RETURNS SETOF os_core.work_order_step_attempts
LANGUAGE plpgsql
STABLE
PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM os_core.require_tenant_scope(p_tenant_id);
    RETURN QUERY
    SELECT a.*
    FROM os_core.work_order_step_attempts AS a
    WHERE a.tenant_id = p_tenant_id AND a.work_order_id = p_work_order_id
    ORDER BY a.started_event_id;
END;
$$;

COMMENT ON FUNCTION os_core.work_order_step_attempts_read(text, text) IS
'One row per attempt of each step of a work order of the declared tenant, in the order they started: attempt_index, STARTED / FINISHED / FAILED, the events and times that opened and closed it. No row for an unknown work order. Error: OS_WORK_ORDER_TENANT_SCOPE_VIOLATION (SE003).';

ALTER FUNCTION os_core.work_order_step_attempts_read(text, text) OWNER TO selene_owner;
