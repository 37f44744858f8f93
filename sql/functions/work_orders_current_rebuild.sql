-- work_orders_current_rebuild: OS_WORK_ORDER_CURRENT_REBUILD. Makes the three
-- projections equal to what the ledger defines, for one tenant or all, while
-- appends go on: the work in work_orders_current_rebuild_local, which runs where the
-- rows are (on Citus, the tenant's worker), and the capability, which calls it once
-- or, for every tenant on Citus, once per tenant.

-- Old signatures; and the capability's, which Citus may hold as a delegated function
-- (it no longer is one: a NULL tenant in a delegated call crashes Citus 13.2).
DROP FUNCTION IF EXISTS os_core.work_orders_current_rebuild(text);
DROP FUNCTION IF EXISTS os_core.work_orders_current_rebuild(text, boolean);

CREATE OR REPLACE FUNCTION os_core.work_orders_current_rebuild_local(
    p_tenant_id text,
    p_emit_audit boolean
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
    -- whole scope is replayed at once, which is then cheaper. On Citus always one
    -- by one (NULL: no limit): a call delegated to the tenant's worker may not run an
    -- INSERT ... SELECT, which Citus cannot check stays within the tenant.
    _one_by_one_limit constant integer := CASE WHEN os_core.is_distributed() THEN NULL ELSE 1000 END;
    _drifted os_core.work_order_key[];
    _replay_all boolean;
    _key os_core.work_order_key;
    _last_key os_core.work_order_key;
    _tenant record;
    _drift refcursor;
    _tenant_id text;
    _work_order_id text;
    _current os_core.work_orders_current;
    _attempt os_core.work_order_step_attempts;
    _lease os_core.work_order_leases;
    _insert jsonb;
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
    _drift := os_core.projection_drift(p_tenant_id, FALSE);
    LOOP
        -- Its first two columns; the rest are for verify.
        FETCH _drift INTO _tenant_id, _work_order_id;
        EXIT WHEN NOT FOUND;
        _key := ROW(_tenant_id, _work_order_id);
        IF _key IS DISTINCT FROM _last_key AND NOT _key = ANY(_drifted) THEN
            _drifted := _drifted || _key;
            EXIT WHEN cardinality(_drifted) > _one_by_one_limit;
        END IF;
        _last_key := _key;
    END LOOP;
    CLOSE _drift;
    _replay_all := coalesce(cardinality(_drifted) > _one_by_one_limit, FALSE);
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
        -- Per projection: INSERT INTO it VALUES ($1, ($2).column, ...) for all its
        -- columns after tenant_id (the first), $1 the tenant and $2 the row. The form a call
        -- delegated by Citus may run: Citus must see the tenant as a value, and
        -- neither INSERT ... SELECT nor a field of a row variable is one.
        SELECT jsonb_object_agg(
            p.projection,
            format(
                'INSERT INTO %s VALUES ($1, %s)', p.projection,
                (
                    SELECT string_agg(format('($2).%I', a.attname), ', ' ORDER BY a.attnum)
                    FROM pg_catalog.pg_attribute AS a
                    WHERE a.attrelid = p.projection AND a.attnum > 1 AND NOT a.attisdropped
                )
            )
        )
        INTO _insert
        FROM unnest(ARRAY[
            'os_core.work_orders_current',
            'os_core.work_order_step_attempts',
            'os_core.work_order_leases'
        ]::regclass []) AS p (projection);
        FOREACH _key IN ARRAY _drifted LOOP
            -- As plain variables: a statement gets them as constants (a field of a
            -- composite it does not), which Citus needs to route it to the shard.
            _tenant_id := _key.tenant_id;
            _work_order_id := _key.work_order_id;
            PERFORM os_core.lock_work_order(_tenant_id, _work_order_id);
            DELETE FROM os_core.work_orders_current AS c
            WHERE c.tenant_id = _tenant_id AND c.work_order_id = _work_order_id;
            DELETE FROM os_core.work_order_step_attempts AS s
            WHERE s.tenant_id = _tenant_id AND s.work_order_id = _work_order_id;
            DELETE FROM os_core.work_order_leases AS l
            WHERE l.tenant_id = _tenant_id AND l.work_order_id = _work_order_id;
            -- Row by row (a work order has few), by the statements of _insert.
            FOR _current IN
                SELECT v.* FROM os_core.work_orders_current_from_ledger AS v
                WHERE v.tenant_id = _tenant_id AND v.work_order_id = _work_order_id
            LOOP
                EXECUTE _insert ->> 'os_core.work_orders_current' USING _tenant_id, _current;
            END LOOP;
            FOR _attempt IN
                SELECT v.* FROM os_core.work_order_step_attempts_from_ledger AS v
                WHERE v.tenant_id = _tenant_id AND v.work_order_id = _work_order_id
            LOOP
                EXECUTE _insert ->> 'os_core.work_order_step_attempts' USING _tenant_id, _attempt;
            END LOOP;
            FOR _lease IN
                SELECT v.* FROM os_core.work_order_leases_from_ledger AS v
                WHERE v.tenant_id = _tenant_id AND v.work_order_id = _work_order_id
            LOOP
                EXECUTE _insert ->> 'os_core.work_order_leases' USING _tenant_id, _lease;
            END LOOP;
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

COMMENT ON FUNCTION os_core.work_orders_current_rebuild_local(text, boolean) IS
'The work of os_core.work_orders_current_rebuild for p_tenant_id, or every tenant (NULL) on a single node, run where the rows are (on Citus, delegated to the tenant''s worker). Same checks, results and audit. Internal: call os_core.work_orders_current_rebuild.';

ALTER FUNCTION os_core.work_orders_current_rebuild_local(text, boolean) OWNER TO selene_projector;

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
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    _tenant text;
    _rebuilt record;
BEGIN
    -- Once, or on Citus for every tenant once per tenant (a call reaches one worker),
    -- all in the caller's transaction: the sums of what the calls return.
    tenant_count := 0;
    work_order_count := 0;
    event_count := 0;
    rewritten_work_order_count := 0;
    FOR _tenant IN SELECT t.tenant_id FROM os_core.scope_tenant_ids(p_tenant_id) AS t LOOP
        SELECT * INTO STRICT _rebuilt
        FROM os_core.work_orders_current_rebuild_local(_tenant, p_emit_audit);
        tenant_count := tenant_count + _rebuilt.tenant_count;
        work_order_count := work_order_count + _rebuilt.work_order_count;
        event_count := event_count + _rebuilt.event_count;
        rewritten_work_order_count := rewritten_work_order_count
            + _rebuilt.rewritten_work_order_count;
    END LOOP;
    RETURN NEXT;
END;
$$;

COMMENT ON FUNCTION os_core.work_orders_current_rebuild(text, boolean) IS
'OS_WORK_ORDER_CURRENT_REBUILD: makes work_orders_current, work_order_step_attempts and work_order_leases equal to what the ledger defines, for the declared tenant or, for selene_dba, for p_tenant_id or every tenant (NULL). The result equals what the appends produced. Online: it replays the ledger without blocking appends, then rewrites only the work orders that differ, each under its appends'' lock (held to the end of the calling transaction); past 1000 of them, under SHARE ROW EXCLUSIVE on work_orders_current. Gives up after lock_timeout 5s rather than queue behind a stuck transaction. Returns the tenants, work orders and events the projection holds, and how many work orders it rewrote. With p_emit_audit, one PH1.J audit row per tenant (outcome REBUILT).';

ALTER FUNCTION os_core.work_orders_current_rebuild(text, boolean) OWNER TO selene_owner;
