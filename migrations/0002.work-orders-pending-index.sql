-- The index behind os_core.work_orders_list_pending (WORKORDER_LIST_PENDING):
-- a tenant's work orders of one status, newest first, in index order.
-- IF NOT EXISTS so that on a large live table a DBA can build it beforehand with
-- CREATE INDEX CONCURRENTLY under the same name (docs/decisions.md).
-- depends: 0001.core-schema

CREATE INDEX IF NOT EXISTS work_orders_current_by_status
ON os_core.work_orders_current (
    tenant_id, work_order_status, last_updated_at DESC, work_order_id
);

COMMENT ON INDEX os_core.work_orders_current_by_status IS
'Serves os_core.work_orders_list_pending: per (tenant_id, work_order_status), work orders newest first (last_updated_at DESC, then work_order_id), so each status is one ordered scan cut at the limit.';
