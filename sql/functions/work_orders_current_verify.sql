-- work_orders_current_verify: every drift between the projections and the ledger.

CREATE OR REPLACE FUNCTION os_core.work_orders_current_verify(
    p_tenant_id text DEFAULT NULL,
    p_emit_audit boolean DEFAULT FALSE
)
RETURNS TABLE (
    tenant_id text,
    work_order_id text,
    projection text,
    row_key text,
    difference text,
    expected text,
    actual text
)
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- No JIT: its queries cost far above jit_optimize_above_cost and jit_inline_above_cost,
-- and compiling them (1.2 s for the drift query of a 1M-event ledger) cost more than
-- it saved: with it off the rebuild takes 15 % less CPU when there is nothing to repair.
SET jit = off
AS $$
DECLARE
    _difference record;
    _per_tenant jsonb := '{}'::jsonb;
BEGIN
    PERFORM os_core.require_dba_or_tenant_scope(p_tenant_id);
    IF NOT coalesce(p_emit_audit, FALSE) THEN
        RETURN QUERY
        SELECT d.* FROM os_core.projection_drift(p_tenant_id) AS d
        ORDER BY d.tenant_id, d.work_order_id, d.projection, d.row_key, d.difference;
        RETURN;
    END IF;

    -- With the audit: count the differences per tenant as they are returned.
    FOR _difference IN
        SELECT d.* FROM os_core.projection_drift(p_tenant_id) AS d
        ORDER BY d.tenant_id, d.work_order_id, d.projection, d.row_key, d.difference
    LOOP
        tenant_id := _difference.tenant_id;
        work_order_id := _difference.work_order_id;
        projection := _difference.projection;
        row_key := _difference.row_key;
        difference := _difference.difference;
        expected := _difference.expected;
        actual := _difference.actual;
        RETURN NEXT;
        _per_tenant := jsonb_set(
            _per_tenant, ARRAY[_difference.tenant_id],
            to_jsonb(coalesce((_per_tenant ->> _difference.tenant_id)::bigint, 0) + 1)
        );
    END LOOP;

    PERFORM ph1j.emit_diagnostic_audit(
        t.tenant_id, 'OS_WORK_ORDER_CURRENT_VERIFY', 'VERIFIED',
        jsonb_build_object(
            'differences', coalesce((_per_tenant ->> t.tenant_id)::bigint, 0)
        )
    )
    FROM (
        SELECT DISTINCT l.tenant_id FROM os_core.work_order_ledger AS l
        WHERE p_tenant_id IS NULL OR l.tenant_id = p_tenant_id
        UNION
        SELECT k.key FROM jsonb_object_keys(_per_tenant) AS k (key)
        UNION
        SELECT p_tenant_id WHERE p_tenant_id IS NOT NULL
    ) AS t
    ORDER BY t.tenant_id;
END;
$$;

COMMENT ON FUNCTION os_core.work_orders_current_verify(text, boolean) IS
'Compares work_orders_current, work_order_step_attempts and work_order_leases with what the ledger defines, for the declared tenant or, for selene_dba, for p_tenant_id or every tenant (NULL). One row per difference (missing row, unexpected row, or a column with its expected and actual value); no row when all agree. Writes nothing, except with p_emit_audit one PH1.J audit row per tenant (outcome VERIFIED). Safe while appends continue: it reads one snapshot.';

ALTER FUNCTION os_core.work_orders_current_verify(text, boolean) OWNER TO selene_projector;
