-- emit_append_audit: one PH1.J audit row for an idempotent replay (or an append).

-- notify_audit: the NOTIFY of the audit row this transaction wrote last, when asked for.

-- NOTIFY serialises commits cluster-wide, so it is opt-in. Any value but on/true/yes/1
-- counts as off: a typo in a setting must not stop appends. Any session may LISTEN:
-- the payload names no tenant and no work order, only the audit row, which a listener
-- reads with its own privileges. An SQL expression, which PL/pgSQL callers inline.
CREATE OR REPLACE FUNCTION ph1j.notify_audit()
RETURNS void
LANGUAGE sql
VOLATILE
PARALLEL UNSAFE
RETURN CASE
    WHEN lower(current_setting('selene.audit_notify', TRUE)) IN ('on', 'true', 'yes', '1')
        THEN pg_notify(
            'ph1j_audit',
            -- Looked up when it runs: a stored regclass would outlive the table,
            -- which os_core.partition_by_tenant replaces.
            json_build_object(
                'audit_event_id',
                currval(pg_get_serial_sequence('ph1j.audit_events', 'audit_event_id')::regclass)
            )::text
        )
END;

COMMENT ON FUNCTION ph1j.notify_audit() IS
'NOTIFYs channel ph1j_audit with the audit_event_id of the audit row this session wrote last (the identity''s currval), when the setting selene.audit_notify is on (on, true, yes or 1). Called right after writing an audit row. Internal.';

ALTER FUNCTION ph1j.notify_audit() OWNER TO selene_owner;

-- The signature before migration 0008 (no replay_created_at).
DROP FUNCTION IF EXISTS ph1j.emit_append_audit(os_core.work_order_ledger, text);

-- No SET search_path: called only by os_core.work_order_ledger_append, a SECURITY
-- DEFINER function that pins it (pg_catalog, pg_temp), whose path this one runs with.
-- SET clauses on the four helpers of the append (emit_append_audit, paging_horizon,
-- project_step_attempt, project_lease) cost 6 % of its CPU: each saves and
-- restores the setting on every call (python -m benchmarks ab).
CREATE OR REPLACE FUNCTION ph1j.emit_append_audit(
    p_event os_core.work_order_ledger,
    p_outcome text,
    p_replay_created_at bigint
)
RETURNS void
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
AS $$
DECLARE
    _drawn record;
BEGIN
    -- The id and its paging horizon, drawn in the order os_core.audit_read relies on
    -- (a replay may have no transaction id yet). The ledger event's own horizon was
    -- read before this id was drawn, and would not do.
    SELECT d.* INTO _drawn FROM ph1j.draw_audit_event_id() AS d;
    INSERT INTO ph1j.audit_events (
        tenant_id, audit_event_id, capability, outcome, work_order_id, correlation_id,
        turn_id, event_type, reason_code, idempotency_key, work_order_event_id,
        replay_created_at, paging_horizon, paging_node_id
    ) OVERRIDING SYSTEM VALUE VALUES (
        p_event.tenant_id, _drawn.audit_event_id, 'OS_WORK_ORDER_LEDGER_APPEND', p_outcome,
        p_event.work_order_id, p_event.correlation_id, p_event.turn_id, p_event.event_type,
        p_event.reason_code, p_event.idempotency_key, p_event.work_order_event_id,
        p_replay_created_at, _drawn.paging_horizon, _drawn.paging_node_id
    );

    PERFORM ph1j.notify_audit();
END;
$$;

COMMENT ON FUNCTION ph1j.emit_append_audit(os_core.work_order_ledger, text, bigint) IS
'Writes the PH1.J audit row of an append (outcome APPENDED, p_replay_created_at NULL; os_core.work_order_ledger_append writes its own in the statement of the event) or of an idempotent replay (outcome OS_WORK_ORDER_IDEMPOTENCY_REPLAY: p_event is the original event, p_replay_created_at the created_at the replay carried), and NOTIFYs channel ph1j_audit with the audit_event_id alone (any session may LISTEN) when the setting selene.audit_notify is on. Records the row''s paging horizon for os_core.audit_read. Internal.';

ALTER FUNCTION ph1j.emit_append_audit(os_core.work_order_ledger, text, bigint)
OWNER TO selene_owner;
