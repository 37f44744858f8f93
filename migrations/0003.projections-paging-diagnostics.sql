-- Gap-free ledger paging, and audit rows for rebuild and verify.
--
-- work_order_ledger.paging_horizon lets a tenant-wide reader tell an event that
-- is safe to page past from one that a transaction still in flight could precede
-- (event ids are drawn before commit). ph1j.audit_events also records rebuilds and
-- verifies called with their audit flag: those rows name a tenant but no work order.
-- depends: 0002.work-orders-pending-index

ALTER TABLE os_core.work_order_ledger ADD COLUMN paging_horizon xid8;

COMMENT ON COLUMN os_core.work_order_ledger.paging_horizon IS
'One above the highest running transaction id, read just after the event id was drawn (os_core.paging_horizon). A tenant-wide ledger read returns the event once no transaction it cannot see has an xid below it: then none that could still commit a smaller event id is running. NULL (rows written before migration 0003) counts as reached.';

ALTER TABLE ph1j.audit_events
ALTER COLUMN work_order_id DROP NOT NULL,
ALTER COLUMN correlation_id DROP NOT NULL,
ALTER COLUMN turn_id DROP NOT NULL,
ALTER COLUMN event_type DROP NOT NULL,
ALTER COLUMN reason_code DROP NOT NULL,
ALTER COLUMN work_order_event_id DROP NOT NULL,
ADD COLUMN details jsonb,
DROP CONSTRAINT capability_known,
DROP CONSTRAINT outcome_known,
ADD CONSTRAINT capability_known CHECK (capability IN (
    'OS_WORK_ORDER_LEDGER_APPEND', 'OS_WORK_ORDER_CURRENT_REBUILD', 'OS_WORK_ORDER_CURRENT_VERIFY'
)),
ADD CONSTRAINT outcome_known CHECK (
    outcome IN ('APPENDED', 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY', 'REBUILT', 'VERIFIED')
),
ADD CONSTRAINT append_audit_names_its_event CHECK (
    capability <> 'OS_WORK_ORDER_LEDGER_APPEND'
    OR (
        work_order_id IS NOT NULL
        AND correlation_id IS NOT NULL
        AND turn_id IS NOT NULL
        AND event_type IS NOT NULL
        AND reason_code IS NOT NULL
        AND work_order_event_id IS NOT NULL
        AND outcome IN ('APPENDED', 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY')
    )
),
ADD CONSTRAINT diagnostic_audit_has_details CHECK (
    capability = 'OS_WORK_ORDER_LEDGER_APPEND'
    OR (details IS NOT NULL AND jsonb_typeof(details) = 'object')
);

COMMENT ON COLUMN ph1j.audit_events.details IS
'For a rebuild or verify audit row: what it found (counts of work orders, events, rows rewritten or differences).';
COMMENT ON TABLE ph1j.audit_events IS
'Append-only PH1.J audit trail: one row per ledger append (outcome APPENDED) or idempotent replay (outcome OS_WORK_ORDER_IDEMPOTENCY_REPLAY), written in the append''s transaction; and one row per tenant for a rebuild or verify called with p_emit_audit (outcome REBUILT or VERIFIED).';
