-- Undo 0010: the audit trail's paging columns, and what reads and writes them (the
-- version rolled back to installs its own emitters with its post-apply, and has no
-- audit_read). The columns hold no audit history, only paging metadata.

DROP FUNCTION IF EXISTS os_core.audit_read(text, bigint, integer);
DROP FUNCTION IF EXISTS ph1j.emit_append_audit(os_core.work_order_ledger, text, bigint);
DROP FUNCTION IF EXISTS ph1j.emit_diagnostic_audit(text, text, text, jsonb);

ALTER TABLE ph1j.audit_events
DROP COLUMN paging_horizon,
DROP COLUMN paging_node_id;
