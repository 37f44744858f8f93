-- emit_append_audit: one PH1.J audit row for an append or an idempotent replay.

-- The signature before migration 0008 (no replay_created_at).
DROP FUNCTION IF EXISTS ph1j.emit_append_audit(os_core.work_order_ledger, text);

CREATE OR REPLACE FUNCTION ph1j.emit_append_audit(
    p_event os_core.work_order_ledger,
    p_outcome text,
    p_replay_created_at bigint
)
RETURNS void
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    _audit_event_id bigint;
    _paging_horizon xid8;
BEGIN
    -- As the append does for its event id (os_core.paging_horizon): the transaction
    -- id first (a replay may have none yet), then the audit id, then the horizon read
    -- after it, so that os_core.audit_read never pages past a smaller audit id still
    -- to commit. The ledger event's own horizon was read before this id was drawn,
    -- and would not do.
    PERFORM pg_current_xact_id();
    _audit_event_id := nextval('ph1j.audit_events_audit_event_id_seq');
    _paging_horizon := os_core.paging_horizon();
    INSERT INTO ph1j.audit_events (
        tenant_id, audit_event_id, capability, outcome, work_order_id, correlation_id,
        turn_id, event_type, reason_code, idempotency_key, work_order_event_id,
        replay_created_at, paging_horizon, paging_node_id
    ) OVERRIDING SYSTEM VALUE VALUES (
        p_event.tenant_id, _audit_event_id, 'OS_WORK_ORDER_LEDGER_APPEND', p_outcome,
        p_event.work_order_id, p_event.correlation_id, p_event.turn_id, p_event.event_type,
        p_event.reason_code, p_event.idempotency_key, p_event.work_order_event_id,
        p_replay_created_at, _paging_horizon, os_core.node_id()
    );

    -- NOTIFY serialises commits cluster-wide, so it is opt-in. Any value but
    -- on/true/yes/1 counts as off: a typo in a setting must not stop appends.
    IF lower(current_setting('selene.audit_notify', TRUE)) IN ('on', 'true', 'yes', '1') THEN
        -- Any session may LISTEN: the payload names no tenant and no work order,
        -- only the audit row, which a listener reads with its own privileges.
        PERFORM pg_notify('ph1j_audit', json_build_object('audit_event_id', _audit_event_id)::text);
    END IF;
END;
$$;

COMMENT ON FUNCTION ph1j.emit_append_audit(os_core.work_order_ledger, text, bigint) IS
'Writes the PH1.J audit row of an append (outcome APPENDED, p_replay_created_at NULL) or of an idempotent replay (outcome OS_WORK_ORDER_IDEMPOTENCY_REPLAY: p_event is the original event, p_replay_created_at the created_at the replay carried), and NOTIFYs channel ph1j_audit with the audit_event_id alone (any session may LISTEN) when the setting selene.audit_notify is on. Records the row''s paging horizon for os_core.audit_read. Internal.';

ALTER FUNCTION ph1j.emit_append_audit(os_core.work_order_ledger, text, bigint)
OWNER TO selene_owner;
