-- Undo 0002: drop the index behind os_core.work_orders_list_pending (the function
-- still works without it, by scanning the tenant's work orders).

DROP INDEX IF EXISTS os_core.work_orders_current_by_status;
