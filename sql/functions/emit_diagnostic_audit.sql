-- emit_diagnostic_audit: one PH1.J audit row for a rebuild or verify of a tenant.

CREATE OR REPLACE FUNCTION ph1j.emit_diagnostic_audit(
    p_tenant_id text,
    p_capability text,
    p_outcome text,
    p_details jsonb
)
RETURNS void
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    _drawn record;
BEGIN
    -- The id and its paging horizon, drawn in the order os_core.audit_read relies on.
    SELECT d.* INTO _drawn FROM ph1j.draw_audit_event_id() AS d;
    INSERT INTO ph1j.audit_events (
        tenant_id, audit_event_id, capability, outcome, details, paging_horizon, paging_node_id
    ) OVERRIDING SYSTEM VALUE VALUES (
        p_tenant_id, _drawn.audit_event_id, p_capability, p_outcome, p_details,
        _drawn.paging_horizon, _drawn.paging_node_id
    );
END;
$$;

COMMENT ON FUNCTION ph1j.emit_diagnostic_audit(text, text, text, jsonb) IS
'Writes the PH1.J audit row of a rebuild (outcome REBUILT) or verify (outcome VERIFIED) of one tenant, with what it found in details, and its paging horizon for os_core.audit_read. Runs with the caller''s rights: the rebuild and verify, which run as selene_projector. Internal.';

ALTER FUNCTION ph1j.emit_diagnostic_audit(text, text, text, jsonb) OWNER TO selene_owner;
