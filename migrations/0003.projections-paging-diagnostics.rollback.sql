-- Undo 0003. The audit trail is append-only: if a rebuild or verify was audited,
-- its rows cannot be removed and the NOT NULL constraints cannot come back, so
-- the rollback stops with an error instead of losing audit history.

ALTER TABLE ph1j.audit_events
DROP CONSTRAINT diagnostic_audit_has_details,
DROP CONSTRAINT append_audit_names_its_event,
DROP CONSTRAINT outcome_known,
DROP CONSTRAINT capability_known,
DROP COLUMN details,
ALTER COLUMN work_order_id SET NOT NULL,
ALTER COLUMN correlation_id SET NOT NULL,
ALTER COLUMN turn_id SET NOT NULL,
ALTER COLUMN event_type SET NOT NULL,
ALTER COLUMN reason_code SET NOT NULL,
ALTER COLUMN work_order_event_id SET NOT NULL,
ADD CONSTRAINT capability_known CHECK (capability IN ('OS_WORK_ORDER_LEDGER_APPEND')),
ADD CONSTRAINT outcome_known CHECK (outcome IN ('APPENDED', 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY'));

COMMENT ON TABLE ph1j.audit_events IS
'Append-only PH1.J audit trail: one row per ledger append (outcome APPENDED) or idempotent replay (outcome OS_WORK_ORDER_IDEMPOTENCY_REPLAY), written in the append''s transaction.';

ALTER TABLE os_core.work_order_ledger DROP COLUMN paging_horizon;
