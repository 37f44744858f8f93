-- work_order_key: (tenant_id, work_order_id), the key of a work order.

DO $type$
BEGIN
    IF to_regtype('os_core.work_order_key') IS NULL THEN
        CREATE TYPE os_core.work_order_key AS (tenant_id text, work_order_id text);
    END IF;
END
$type$;

COMMENT ON TYPE os_core.work_order_key IS
'The key of a work order, (tenant_id, work_order_id). Internal: the rebuild lists the work orders it rewrites in an array of it.';

ALTER TYPE os_core.work_order_key OWNER TO selene_owner;
