-- Undo 0005: the per-work-order index without the included columns.

CREATE INDEX work_order_ledger_by_work_order_plain
ON os_core.work_order_ledger (tenant_id, work_order_id, work_order_event_id);

DROP INDEX os_core.work_order_ledger_by_work_order;

ALTER INDEX os_core.work_order_ledger_by_work_order_plain
RENAME TO work_order_ledger_by_work_order;
