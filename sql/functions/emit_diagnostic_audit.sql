-- emit_diagnostic_audit: one PH1.J audit row for a rebuild or verify of a tenant.

CREATE OR REPLACE FUNCTION ph1j.emit_diagnostic_audit(
    p_tenant_id text,
    p_capability text,
    p_outcome text,
    p_details jsonb
)
RETURNS void
LANGUAGE sql
VOLATILE
PARALLEL UNSAFE
AS $$
    INSERT INTO ph1j.audit_events (tenant_id, capability, outcome, details)
    VALUES (p_tenant_id, p_capability, p_outcome, p_details);
$$;

COMMENT ON FUNCTION ph1j.emit_diagnostic_audit(text, text, text, jsonb) IS
'Writes the PH1.J audit row of a rebuild (outcome REBUILT) or verify (outcome VERIFIED) of one tenant, with what it found in details. Runs with the caller''s rights: the rebuild and verify, which run as selene_projector. Internal.';

ALTER FUNCTION ph1j.emit_diagnostic_audit(text, text, text, jsonb) OWNER TO selene_owner;
