-- draw_audit_event_id: the id of a new PH1.J audit row, with its paging horizon.

CREATE OR REPLACE FUNCTION ph1j.draw_audit_event_id(
    OUT audit_event_id bigint,
    OUT paging_horizon xid8,
    OUT paging_node_id bigint
)
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
-- Definer: the rebuild's and verify's role (selene_projector) may neither draw from the
-- identity's sequence nor read the horizon itself (and on Citus a sequence's grant does
-- not reach the workers). It returns values only; the caller inserts the row with its
-- own rights, under the table's policy.
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- The order os_core.work_order_ledger_append keeps for event ids, which
    -- os_core.audit_read relies on: the transaction id first (a replay or a verify may
    -- have written nothing yet), then the audit id, then the horizon read after it. A
    -- transaction with an xid at or above the horizon got it after this id was drawn,
    -- so it draws only larger audit ids.
    PERFORM pg_current_xact_id();
    audit_event_id := nextval('ph1j.audit_events_audit_event_id_seq');
    paging_horizon := os_core.paging_horizon();
    paging_node_id := os_core.node_id();
END;
$$;

COMMENT ON FUNCTION ph1j.draw_audit_event_id() IS
'Draws the audit_event_id of a new PH1.J audit row (after taking the transaction''s id) and returns it with the paging horizon read after it and this node''s id, for the row''s paging_horizon and paging_node_id (os_core.audit_read). Writes nothing. Internal, for ph1j.emit_append_audit and ph1j.emit_diagnostic_audit.';

ALTER FUNCTION ph1j.draw_audit_event_id() OWNER TO selene_owner;
