-- Gap-free paging of the PH1.J audit trail, as migrations 0003 and 0006 gave the
-- ledger (docs/decisions.md, "Following the audit trail").
--
-- audit_event_id values are drawn before commit, so a smaller one may still commit
-- after a larger one, as with event ids. An audit row now records, as a ledger event
-- does, the paging horizon read just after its id was drawn (os_core.paging_horizon)
-- and the node whose transaction ids that horizon counts in; os_core.audit_read pages
-- past a row only once its horizon is reached. Both columns are written by every
-- writer of audit rows (the append and the batch append themselves,
-- ph1j.emit_append_audit, ph1j.emit_diagnostic_audit), installed by post-apply.
-- Rows written before this migration have neither and count as reached: they were
-- committed long ago. No default and no rewrite: the columns are NULL on
-- existing rows, on one node, partitioned or on Citus alike.
-- depends: 0009.consumer-positions

ALTER TABLE ph1j.audit_events
ADD COLUMN paging_horizon xid8,
ADD COLUMN paging_node_id bigint;

COMMENT ON COLUMN ph1j.audit_events.paging_horizon IS
'One above the highest running transaction id, read just after the audit_event_id was drawn (os_core.paging_horizon). os_core.audit_read returns the row once no transaction it cannot see has an xid below it. NULL (rows written before migration 0010) counts as reached.';
COMMENT ON COLUMN ph1j.audit_events.paging_node_id IS
'System identifier of the node that wrote the row, whose transaction ids paging_horizon counts in. A read on another node (after a shard move or a restore) passes the row without its horizon. NULL before migration 0010.';
