-- work_orders_current_rebuild: OS_WORK_ORDER_CURRENT_REBUILD. Makes the three
-- projections equal to what the ledger defines, for one tenant or all, while
-- appends go on.

-- The signature changed (p_emit_audit, rewritten_work_order_count): drop the old one.
DROP FUNCTION IF EXISTS os_core.work_orders_current_rebuild(text);

CREATE OR REPLACE FUNCTION os_core.work_orders_current_rebuild(
    p_tenant_id text DEFAULT NULL,
    p_emit_audit boolean DEFAULT FALSE
)
RETURNS TABLE (
    tenant_count bigint,
    work_order_count bigint,
    event_count bigint,
    rewritten_work_order_count bigint
)
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- Waits at most this long for the appends in flight on what it rewrites, then
-- fails (55P03) rather than queue forever and hold new appends behind it.
SET lock_timeout = '5s'
-- No JIT: its queries cost far above jit_optimize_above_cost and jit_inline_above_cost,
-- and compiling them (1.2 s for the drift query of a 1M-event ledger) cost more than
-- it saved: with it off the rebuild takes 15 % less CPU when there is nothing to repair.
SET jit = off
AS $$
DECLARE
    -- Up to this many drifted work orders are rewritten one by one; past it the
    -- whole scope is replayed at once, which is then cheaper.
    _one_by_one_limit constant integer := 1000;
    _drifted os_core.work_order_key[];
    _replay_all boolean;
    _key os_core.work_order_key;
    _last_key os_core.work_order_key;
    _tenant record;
BEGIN
    PERFORM os_core.require_dba_or_tenant_scope(p_tenant_id);

    -- 1. Find the work orders whose projection rows differ from the ledger: the
    -- whole replay, on one snapshot, without blocking appends (they keep every
    -- projection right as they go, in the same transaction as their event).
    -- Read as a stream and stopped at the first key past the limit: then the
    -- whole scope is replayed anyway, and the rest of the drift (the other views,
    -- when the projections are empty or far off) need not be computed at all.
    -- (A DISTINCT ... LIMIT over it hashed every difference first.) A pair's rows
    -- come together, so a key is looked up in the array once per pair, not per row.
    _drifted := '{}';
    FOR _key IN
        SELECT p.tenant_id, p.work_order_id
        FROM os_core.projection_drift(p_tenant_id) AS p
    LOOP
        IF _key IS DISTINCT FROM _last_key AND NOT _key = ANY(_drifted) THEN
            _drifted := _drifted || _key;
            EXIT WHEN cardinality(_drifted) > _one_by_one_limit;
        END IF;
        _last_key := _key;
    END LOOP;
    _replay_all := cardinality(_drifted) > _one_by_one_limit;
    -- In key order: the locks below are taken in it.
    SELECT coalesce(array_agg(k ORDER BY k.tenant_id, k.work_order_id), '{}')
    INTO _drifted
    FROM unnest(_drifted) AS k;

    -- 2. Rewrite them from the ledger as it is now, each under the lock its
    -- appends take (os_core.lock_work_order, in key order): that waits for an
    -- append in flight on it and holds new ones until this transaction ends, so
    -- every rewritten row has all its events; other work orders go on. Past the
    -- limit, SHARE ROW EXCLUSIVE on the projection does the same for all at once.
    IF _replay_all THEN
        LOCK TABLE os_core.work_orders_current IN SHARE ROW EXCLUSIVE MODE;
        DELETE FROM os_core.work_orders_current AS c
        WHERE p_tenant_id IS NULL OR c.tenant_id = p_tenant_id;
        DELETE FROM os_core.work_order_step_attempts AS s
        WHERE p_tenant_id IS NULL OR s.tenant_id = p_tenant_id;
        DELETE FROM os_core.work_order_leases AS l
        WHERE p_tenant_id IS NULL OR l.tenant_id = p_tenant_id;
        INSERT INTO os_core.work_orders_current
        SELECT v.* FROM os_core.work_orders_current_from_ledger AS v
        WHERE p_tenant_id IS NULL OR v.tenant_id = p_tenant_id;
        INSERT INTO os_core.work_order_step_attempts
        SELECT v.* FROM os_core.work_order_step_attempts_from_ledger AS v
        WHERE p_tenant_id IS NULL OR v.tenant_id = p_tenant_id;
        INSERT INTO os_core.work_order_leases
        SELECT v.* FROM os_core.work_order_leases_from_ledger AS v
        WHERE p_tenant_id IS NULL OR v.tenant_id = p_tenant_id;
    ELSE
        FOREACH _key IN ARRAY _drifted LOOP
            PERFORM os_core.lock_work_order(_key.tenant_id, _key.work_order_id);
            DELETE FROM os_core.work_orders_current AS c
            WHERE c.tenant_id = _key.tenant_id AND c.work_order_id = _key.work_order_id;
            DELETE FROM os_core.work_order_step_attempts AS s
            WHERE s.tenant_id = _key.tenant_id AND s.work_order_id = _key.work_order_id;
            DELETE FROM os_core.work_order_leases AS l
            WHERE l.tenant_id = _key.tenant_id AND l.work_order_id = _key.work_order_id;
            INSERT INTO os_core.work_orders_current
            SELECT v.* FROM os_core.work_orders_current_from_ledger AS v
            WHERE v.tenant_id = _key.tenant_id AND v.work_order_id = _key.work_order_id;
            INSERT INTO os_core.work_order_step_attempts
            SELECT v.* FROM os_core.work_order_step_attempts_from_ledger AS v
            WHERE v.tenant_id = _key.tenant_id AND v.work_order_id = _key.work_order_id;
            INSERT INTO os_core.work_order_leases
            SELECT v.* FROM os_core.work_order_leases_from_ledger AS v
            WHERE v.tenant_id = _key.tenant_id AND v.work_order_id = _key.work_order_id;
        END LOOP;
    END IF;

    -- 3. Count what the projection now holds, per tenant of the scope.
    tenant_count := 0;
    work_order_count := 0;
    event_count := 0;
    rewritten_work_order_count := 0;
    FOR _tenant IN
        SELECT
            t.tenant_id,
            coalesce(n.work_orders, 0) AS work_orders,
            coalesce(n.events, 0) AS events,
            CASE
                WHEN _replay_all THEN coalesce(n.work_orders, 0)
                ELSE (SELECT count(*) FROM unnest(_drifted) AS k WHERE k.tenant_id = t.tenant_id)
            END AS rewritten
        FROM (
            SELECT c.tenant_id FROM os_core.work_orders_current AS c
            WHERE p_tenant_id IS NULL OR c.tenant_id = p_tenant_id
            UNION
            SELECT k.tenant_id FROM unnest(_drifted) AS k
            UNION
            SELECT p_tenant_id WHERE p_tenant_id IS NOT NULL
        ) AS t
        LEFT JOIN (
            SELECT c.tenant_id, count(*) AS work_orders, sum(c.event_count) AS events
            FROM os_core.work_orders_current AS c
            WHERE p_tenant_id IS NULL OR c.tenant_id = p_tenant_id
            GROUP BY c.tenant_id
        ) AS n ON t.tenant_id = n.tenant_id
        ORDER BY t.tenant_id
    LOOP
        IF _tenant.work_orders > 0 THEN
            tenant_count := tenant_count + 1;
        END IF;
        work_order_count := work_order_count + _tenant.work_orders;
        event_count := event_count + _tenant.events;
        rewritten_work_order_count := rewritten_work_order_count + _tenant.rewritten;
        IF coalesce(p_emit_audit, FALSE) THEN
            PERFORM ph1j.emit_diagnostic_audit(
                _tenant.tenant_id, 'OS_WORK_ORDER_CURRENT_REBUILD', 'REBUILT',
                jsonb_build_object(
                    'work_orders', _tenant.work_orders,
                    'events', _tenant.events,
                    'work_orders_rewritten', _tenant.rewritten
                )
            );
        END IF;
    END LOOP;
    RETURN NEXT;
END;
$$;

COMMENT ON FUNCTION os_core.work_orders_current_rebuild(text, boolean) IS
'OS_WORK_ORDER_CURRENT_REBUILD: makes work_orders_current, work_order_step_attempts and work_order_leases equal to what the ledger defines, for the declared tenant or, for selene_dba, for p_tenant_id or every tenant (NULL). The result equals what the appends produced. Online: it replays the ledger without blocking appends, then rewrites only the work orders that differ, each under its appends'' lock (held to the end of the calling transaction); past 1000 of them, under SHARE ROW EXCLUSIVE on work_orders_current. Gives up after lock_timeout 5s rather than queue behind a stuck transaction. Returns the tenants, work orders and events the projection holds, and how many work orders it rewrote. With p_emit_audit, one PH1.J audit row per tenant (outcome REBUILT).';

ALTER FUNCTION os_core.work_orders_current_rebuild(text, boolean) OWNER TO selene_projector;
