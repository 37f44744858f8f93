-- The ledger's per-work-order index also carries step_id and lease_owner_id, so
-- that the *_from_ledger views find each work order's last event, last step event
-- and last lease event from the index alone (no heap fetch per event): the rebuild
-- of the current projection takes a third less time on 1M events (benchmarks/README.md).
-- Same key, same name, same uses (the append's and the reads' probes).
--
-- The new index is built under a temporary name and takes the old one's place. On a
-- large live (unpartitioned) ledger a DBA builds it beforehand without blocking
-- appends, then applies this migration, which skips the build (docs/decisions.md):
--   CREATE INDEX CONCURRENTLY work_order_ledger_by_work_order_covering
--   ON os_core.work_order_ledger (tenant_id, work_order_id, work_order_event_id)
--   INCLUDE (step_id, lease_owner_id);
-- depends: 0004.private-advisory-locks-payload-depth

CREATE INDEX IF NOT EXISTS work_order_ledger_by_work_order_covering
ON os_core.work_order_ledger (tenant_id, work_order_id, work_order_event_id)
INCLUDE (step_id, lease_owner_id);

DROP INDEX os_core.work_order_ledger_by_work_order;

ALTER INDEX os_core.work_order_ledger_by_work_order_covering
RENAME TO work_order_ledger_by_work_order;

COMMENT ON INDEX os_core.work_order_ledger_by_work_order IS
'A work order''s events in id order, carrying step_id and lease_owner_id: the append''s and the reads'' probes, and the *_from_ledger views'' per-work-order aggregates from the index alone.';
