-- work_order_ledger_append_many: OS_WORK_ORDER_LEDGER_APPEND for a batch of one
-- tenant's events, set-based: the batch is parsed and checked against the contract
-- in one statement, its work orders locked in key order, its history looked up in a
-- few statements, the rules of the single append applied in memory event by event,
-- and then each table written once.
--
-- The rules below are os_core.work_order_ledger_append's, copied: keep the two in
-- step (tests/test_append_many.py runs random batches through both and compares
-- ledger, projections, audit rows and errors).

CREATE OR REPLACE FUNCTION os_core.work_order_ledger_append_many(
    p_tenant_id text,
    p_events jsonb
)
RETURNS TABLE (event_index integer, work_order_event_id bigint, idempotency_replay boolean)
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- On Citus the LOCK below would lock this node's table only, as in
-- os_core.lock_work_order. Elsewhere an inert placeholder.
SET "citus.enable_ddl_propagation" TO off
-- No JIT: the estimates of the statements over the batch can pass the JIT
-- thresholds, and compiling them costs more than a batch takes.
SET jit = off
AS $$
DECLARE
    _refused constant text := 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED';
    _n integer;
    _todo integer;
    _i integer;
    _w integer;
    _p integer;
    _q integer;
    _sqlstate text;
    _message text;
    _detail text;
    _hint text;
    _violation text;
    _terminal boolean;
    _id bigint;
    _last_event_id bigint;
    _paging_horizon xid8;
    _node_id bigint;
    _bound_to text;
    _inserted text [];
    _audit_ids bigint [];
    -- The batch, by event (index _i, from 1).
    _wo text [];
    _corr numeric [];
    _turn bigint [];
    _type text [];
    _status text [];
    _reason bigint [];
    _created bigint [];
    _step text [];
    _step_hash text [];
    _owner text [];
    _token text [];
    _expires bigint [];
    _key text [];
    _payload jsonb [];
    _schema integer [];
    _expected bigint [];
    _contract text [];
    _wo_no integer [];
    _pair_no integer [];
    _ids bigint [];
    _orig_id bigint [];
    _orig_no integer [];
    _differing text [];
    _fail integer;
    _refusal text [];
    _first_creator_no integer [];
    _first_creator_wo text [];
    -- The outcome, by event: the event id returned, and whether it is a replay.
    _out_id bigint [];
    _replay boolean [];
    -- The batch's work orders (index _w, in key order): their current rows as columns.
    _wos text [];
    _exists boolean [];
    _new boolean [];
    _touched boolean [];
    _has_ledger boolean [];
    _c_schema integer [];
    _c_corr numeric [];
    _c_turn bigint [];
    _c_status text [];
    _c_last_id bigint [];
    _c_reason bigint [];
    _c_updated bigint [];
    _c_step text [];
    _c_step_hash text [];
    _c_owner text [];
    _c_token text [];
    _c_expires bigint [];
    _c_count bigint [];
    -- Their leases.
    _l_exists boolean [];
    _l_touched boolean [];
    _l_owner text [];
    _l_token text [];
    _l_state text [];
    _l_expires bigint [];
    _l_acq_id bigint [];
    _l_acq_at bigint [];
    _l_last_id bigint [];
    _l_released bigint [];
    -- The (work order, step) pairs of the step events (index _p): their last attempt,
    -- and its row among the attempts to write (_a_*, index _q) once the batch touched it.
    _p_index integer [];
    _p_status text [];
    _p_hash text [];
    _p_started_id bigint [];
    _p_started_at bigint [];
    _p_row integer [];
    _a_wo text [] := '{}'::text [];
    _a_step text [] := '{}'::text [];
    _a_index integer [] := '{}'::integer [];
    _a_status text [] := '{}'::text [];
    _a_hash text [] := '{}'::text [];
    _a_started_id bigint [] := '{}'::bigint [];
    _a_started_at bigint [] := '{}'::bigint [];
    _a_finished_id bigint [] := '{}'::bigint [];
    _a_finished_at bigint [] := '{}'::bigint [];
    _a_reason bigint [] := '{}'::bigint [];
BEGIN
    -- Tenant scope as the single append checks it; its refusal is the first event's.
    IF p_tenant_id IS NULL OR p_tenant_id IS DISTINCT FROM os_core.current_tenant_id() THEN
        BEGIN
            PERFORM os_core.require_tenant_scope(p_tenant_id);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS
                _sqlstate = RETURNED_SQLSTATE, _message = MESSAGE_TEXT,
                _detail = PG_EXCEPTION_DETAIL, _hint = PG_EXCEPTION_HINT;
            PERFORM os_core.raise_batch_error(
                0, _sqlstate, _message, nullif(_detail, ''), nullif(_hint, '')
            );
        END;
    END IF;
    IF p_events IS NULL OR jsonb_typeof(p_events) <> 'array' THEN
        PERFORM os_core.raise_error(
            _refused, 'p_events must be a JSON array of event objects'
        );
    END IF;
    _n := jsonb_array_length(p_events);
    IF _n = 0 THEN
        RETURN;
    END IF;

    -- On Citus a call delegated to the tenant's worker may run no INSERT ... SELECT
    -- (Citus cannot check that it stays within the tenant): there the batch goes
    -- through the single append, event by event, still in this one call.
    IF os_core.is_distributed() THEN
        RETURN QUERY
        SELECT * FROM os_core.work_order_ledger_append_many_one_by_one(p_tenant_id, p_events);
        RETURN;
    END IF;

    -- 1. Parse the batch and check each event against the contract, in one
    -- statement. A value that cannot even be cast to its parameter's type fails the
    -- statement: the events are then parsed one by one to name it (the batch is
    -- refused anyway, so that costs nothing when it is not).
    BEGIN
        SELECT
            array_agg(e.work_order_id ORDER BY e.ord),
            array_agg(e.correlation_id ORDER BY e.ord),
            array_agg(e.turn_id ORDER BY e.ord),
            array_agg(e.event_type ORDER BY e.ord),
            array_agg(e.work_order_status ORDER BY e.ord),
            array_agg(e.reason_code ORDER BY e.ord),
            array_agg(e.created_at ORDER BY e.ord),
            array_agg(e.step_id ORDER BY e.ord),
            array_agg(e.step_input_hash ORDER BY e.ord),
            array_agg(e.lease_owner_id ORDER BY e.ord),
            array_agg(e.lease_token_hash ORDER BY e.ord),
            array_agg(e.lease_expires_at ORDER BY e.ord),
            array_agg(e.idempotency_key ORDER BY e.ord),
            array_agg(e.payload ORDER BY e.ord),
            array_agg(e.schema_version ORDER BY e.ord),
            array_agg(e.expected_event_count ORDER BY e.ord),
            array_agg(
                os_core.work_order_event_contract_violation(
                    e.schema_version, p_tenant_id, e.work_order_id, e.correlation_id,
                    e.turn_id, e.event_type, e.work_order_status, e.reason_code, e.step_id,
                    e.step_input_hash, e.lease_owner_id, e.lease_token_hash,
                    e.lease_expires_at, e.created_at, e.idempotency_key, e.payload
                )
                ORDER BY e.ord
            )
        INTO
            _wo, _corr, _turn, _type, _status, _reason, _created, _step, _step_hash,
            _owner, _token, _expires, _key, _payload, _schema, _expected, _contract
        FROM os_core.work_order_events_of_batch(p_events) AS e;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS
            _sqlstate = RETURNED_SQLSTATE, _message = MESSAGE_TEXT,
            _detail = PG_EXCEPTION_DETAIL, _hint = PG_EXCEPTION_HINT;
        _i := 1;
        WHILE _i < _n LOOP
            BEGIN
                PERFORM os_core.work_order_event_contract_violation(
                    e.schema_version, p_tenant_id, e.work_order_id, e.correlation_id,
                    e.turn_id, e.event_type, e.work_order_status, e.reason_code, e.step_id,
                    e.step_input_hash, e.lease_owner_id, e.lease_token_hash,
                    e.lease_expires_at, e.created_at, e.idempotency_key, e.payload
                )
                FROM os_core.work_order_events_of_batch(
                    jsonb_build_array(p_events -> (_i - 1))
                ) AS e;
            EXCEPTION WHEN OTHERS THEN
                EXIT;
            END;
            _i := _i + 1;
        END LOOP;
        PERFORM os_core.raise_batch_error(
            _i - 1, _sqlstate, _message, nullif(_detail, ''), nullif(_hint, '')
        );
    END;

    -- Only the events before the first one the contract refuses can be appended:
    -- the batch is refused at that one, unless an earlier event is refused first.
    SELECT coalesce(min(c.ord), _n + 1)::integer - 1 INTO _todo
    FROM unnest(_contract) WITH ORDINALITY AS c (violation, ord)
    WHERE c.violation IS NOT NULL;
    IF _todo = 0 THEN
        PERFORM os_core.raise_batch_reason(0, _refused, _contract[1]);
    END IF;
    -- An integral value may arrive as 42.000: stored as 42, as the single append does.
    SELECT array_agg(trunc(c.v) ORDER BY c.ord) INTO _corr
    FROM unnest(_corr) WITH ORDINALITY AS c (v, ord);

    -- 2. Lock the work orders, as os_core.lock_work_order does, once for the batch:
    -- wait for a running rebuild, then take each work order's lock, in key order.
    LOCK TABLE os_core.work_orders_current IN ROW EXCLUSIVE MODE;
    SELECT array_agg(w.work_order_id ORDER BY w.work_order_id COLLATE "C") INTO _wos
    FROM (SELECT DISTINCT b.work_order_id FROM unnest(_wo[1:_todo]) AS b (work_order_id)) AS w;
    PERFORM pg_advisory_xact_lock(k.lock_key)
    FROM (
        SELECT DISTINCT hashtextextended(p_tenant_id || '/' || w.work_order_id, 0) AS lock_key
        FROM unnest(_wos) AS w (work_order_id)
        ORDER BY 1
    ) AS k;

    -- 3. What the projections hold for them now that they are ours: each work
    -- order's current row, whether it has events (for the drift check), its lease.
    SELECT
        array_agg(c.tenant_id IS NOT NULL ORDER BY w.no),
        array_agg(
            c.tenant_id IS NULL AND EXISTS (
                SELECT FROM os_core.work_order_ledger AS l
                WHERE l.tenant_id = p_tenant_id AND l.work_order_id = w.work_order_id
            )
            ORDER BY w.no
        ),
        array_agg(c.schema_version ORDER BY w.no),
        array_agg(c.correlation_id ORDER BY w.no),
        array_agg(c.turn_id ORDER BY w.no),
        array_agg(c.work_order_status ORDER BY w.no),
        array_agg(c.last_event_id ORDER BY w.no),
        array_agg(c.last_reason_code ORDER BY w.no),
        array_agg(c.last_updated_at ORDER BY w.no),
        array_agg(c.step_id ORDER BY w.no),
        array_agg(c.step_input_hash ORDER BY w.no),
        array_agg(c.lease_owner_id ORDER BY w.no),
        array_agg(c.lease_token_hash ORDER BY w.no),
        array_agg(c.lease_expires_at ORDER BY w.no),
        array_agg(c.event_count ORDER BY w.no),
        array_agg(l.tenant_id IS NOT NULL ORDER BY w.no),
        array_agg(l.lease_owner_id ORDER BY w.no),
        array_agg(l.lease_token_hash ORDER BY w.no),
        array_agg(l.lease_state ORDER BY w.no),
        array_agg(l.lease_expires_at ORDER BY w.no),
        array_agg(l.acquired_event_id ORDER BY w.no),
        array_agg(l.acquired_at ORDER BY w.no),
        array_agg(l.last_event_id ORDER BY w.no),
        array_agg(l.released_at ORDER BY w.no)
    INTO
        _exists, _has_ledger, _c_schema, _c_corr, _c_turn, _c_status, _c_last_id, _c_reason,
        _c_updated, _c_step, _c_step_hash, _c_owner, _c_token, _c_expires, _c_count,
        _l_exists, _l_owner, _l_token, _l_state, _l_expires, _l_acq_id, _l_acq_at, _l_last_id,
        _l_released
    -- Probes of the primary keys, one per work order (LATERAL ... LIMIT 1: never a
    -- join that reads every row of the tenant).
    FROM unnest(_wos) WITH ORDINALITY AS w (work_order_id, no)
    LEFT JOIN LATERAL (
        SELECT c.*
        FROM os_core.work_orders_current AS c
        WHERE c.tenant_id = p_tenant_id AND c.work_order_id = w.work_order_id
        LIMIT 1
    ) AS c ON TRUE
    LEFT JOIN LATERAL (
        SELECT l.*
        FROM os_core.work_order_leases AS l
        WHERE l.tenant_id = p_tenant_id AND l.work_order_id = w.work_order_id
        LIMIT 1
    ) AS l ON TRUE;
    _new := array_fill(FALSE, ARRAY[cardinality(_wos)]);
    _touched := _new;
    _l_touched := _new;

    -- Per event: its work order's number; for a step event, its (work order, step)
    -- pair's; for a keyed event, the event it would replay: a stored one (found by a
    -- probe of the key's unique index: LATERAL ... LIMIT 1, never a join that reads
    -- every row of the tenant), or the batch's first with its key; for a creation,
    -- the first creation in the batch with its correlation_id.
    -- (Sorted by bytes, COLLATE "C": the same groups, without the cost of the
    -- database's collation.)
    WITH batch AS (
        SELECT
            e.ord, e.work_order_id, e.idempotency_key, e.event_type, e.correlation_id,
            e.step_id
        FROM unnest(_wo, _corr, _key, _type, _step) WITH ORDINALITY AS e (
            work_order_id, correlation_id, idempotency_key, event_type, step_id, ord
        )
        WHERE e.ord <= _todo
    ),
    numbered AS (
        SELECT
            b.*,
            CASE WHEN b.idempotency_key IS NOT NULL THEN
                min(b.ord) OVER (
                    PARTITION BY b.work_order_id COLLATE "C", b.idempotency_key COLLATE "C"
                )
            END AS first_keyed,
            CASE WHEN b.event_type IN ('STEP_STARTED', 'STEP_FINISHED', 'STEP_FAILED') THEN
                dense_rank() OVER (
                    PARTITION BY b.event_type IN ('STEP_STARTED', 'STEP_FINISHED', 'STEP_FAILED')
                    ORDER BY b.work_order_id COLLATE "C", b.step_id COLLATE "C"
                )
            END AS pair_no,
            first_value(b.ord) OVER (
                PARTITION BY b.event_type = 'WORK_ORDER_CREATED', b.correlation_id
                ORDER BY b.ord
            ) AS first_creator,
            first_value(b.work_order_id) OVER (
                PARTITION BY b.event_type = 'WORK_ORDER_CREATED', b.correlation_id
                ORDER BY b.ord
            ) AS first_creator_wo
        FROM batch AS b
    )
    SELECT
        array_agg(w.no::integer ORDER BY b.ord),
        array_agg(b.pair_no::integer ORDER BY b.ord),
        array_agg(o.work_order_event_id ORDER BY b.ord),
        array_agg(CASE WHEN b.first_keyed < b.ord THEN b.first_keyed::integer END ORDER BY b.ord),
        array_agg(b.first_creator::integer ORDER BY b.ord),
        array_agg(b.first_creator_wo ORDER BY b.ord)
    INTO
        _wo_no, _pair_no, _orig_id, _orig_no, _first_creator_no,
        _first_creator_wo
    FROM numbered AS b
    INNER JOIN unnest(_wos) WITH ORDINALITY AS w (work_order_id, no)
        ON w.work_order_id = b.work_order_id
    LEFT JOIN LATERAL (
        SELECT l.work_order_event_id
        FROM os_core.work_order_ledger AS l
        WHERE
            b.idempotency_key IS NOT NULL
            AND l.tenant_id = p_tenant_id
            AND l.work_order_id = b.work_order_id
            AND l.idempotency_key = b.idempotency_key
        LIMIT 1
    ) AS o ON TRUE;

    -- For the events that would be replays, the fields that differ from the
    -- original (the single append's comparison): only when there are any.
    IF EXISTS (
        SELECT FROM generate_series(1, _todo) AS i
        WHERE _orig_id[i] IS NOT NULL OR _orig_no[i] IS NOT NULL
    ) THEN
        _differing := os_core.work_order_batch_replay_differences(
            p_tenant_id, _todo, _orig_id, _orig_no, _schema, _corr, _turn, _type, _status,
            _reason, _step, _step_hash, _owner, _token, _expires, _payload
        );
    END IF;

    -- The last attempt of each (work order, step) pair of the step events.
    SELECT
        array_agg(a.attempt_index ORDER BY p.pair_no),
        array_agg(a.attempt_status ORDER BY p.pair_no),
        array_agg(a.step_input_hash ORDER BY p.pair_no),
        array_agg(a.started_event_id ORDER BY p.pair_no),
        array_agg(a.started_at ORDER BY p.pair_no)
    INTO _p_index, _p_status, _p_hash, _p_started_id, _p_started_at
    FROM (
        SELECT DISTINCT s.pair_no, _wo[s.ord] AS work_order_id, _step[s.ord] AS step_id
        FROM unnest(_pair_no) WITH ORDINALITY AS s (pair_no, ord)
        WHERE s.pair_no IS NOT NULL
    ) AS p
    LEFT JOIN LATERAL (
        SELECT
            t.attempt_index, t.attempt_status, t.step_input_hash, t.started_event_id,
            t.started_at
        FROM os_core.work_order_step_attempts AS t
        WHERE
            t.tenant_id = p_tenant_id
            AND t.work_order_id = p.work_order_id
            AND t.step_id = p.step_id
        ORDER BY t.attempt_index DESC
        LIMIT 1
    ) AS a ON TRUE;
    _p_row := '{}';

    -- 4. The event ids, as the single append draws them: the transaction's xid
    -- first, then one id per event, in the batch's order (a replay's is left
    -- unused); an id not above an id the tenant got on another node is drawn again
    -- past its last one; the paging horizon read after the last id was drawn (a
    -- later horizon than each event's own is a safe one: it only holds readers longer).
    PERFORM pg_current_xact_id();
    SELECT array_agg(d.id ORDER BY d.id) INTO _ids
    FROM (
        SELECT nextval('os_core.work_order_ledger_work_order_event_id_seq') AS id
        FROM generate_series(1, _todo)
    ) AS d;
    SELECT l.work_order_event_id INTO _last_event_id
    FROM os_core.work_order_ledger AS l
    WHERE l.tenant_id = p_tenant_id
    ORDER BY l.work_order_event_id DESC
    LIMIT 1;
    _node_id := os_core.node_id();
    IF _ids[1] <= _last_event_id AND EXISTS (
        SELECT FROM os_core.work_order_ledger AS l
        WHERE
            l.tenant_id = p_tenant_id
            AND l.work_order_event_id > _ids[1]
            AND l.paging_node_id <> _node_id
    ) THEN
        _ids := ARRAY[os_core.next_event_id_after(_last_event_id)];
        SELECT _ids || coalesce(array_agg(d.id ORDER BY d.id), '{}') INTO _ids
        FROM (
            SELECT nextval('os_core.work_order_ledger_work_order_event_id_seq') AS id
            FROM generate_series(2, _todo)
        ) AS d;
    END IF;
    -- The audit rows' ids too, one per event in the batch's order, before the horizon,
    -- which then holds for them as well (os_core.audit_read pages by it).
    SELECT array_agg(d.id ORDER BY d.id) INTO _audit_ids
    FROM (
        SELECT nextval('ph1j.audit_events_audit_event_id_seq') AS id
        FROM generate_series(1, _todo)
    ) AS d;
    _paging_horizon := os_core.paging_horizon();

    -- 5. The rules of the single append, event by event, in memory, up to the first
    -- event they refuse (_fail, with its DETAIL and HINT in _refusal).
    FOR _i IN 1.._todo LOOP
        _w := _wo_no[_i];

        -- Same key, same content (created_at aside): a replay of a stored event or
        -- of an earlier one of the batch.
        IF _orig_id[_i] IS NOT NULL OR _orig_no[_i] IS NOT NULL THEN
            _id := coalesce(_orig_id[_i], _ids[_orig_no[_i]]);
            IF _differing[_i] IS NOT NULL THEN
                _refusal := ARRAY[format(
                        'idempotency_key %L already names event %s of this work order, '
                        || 'with a different %s',
                        _key[_i], _id, _differing[_i]
                    ),
                    'use a new idempotency_key for a different event'];
                _fail := _i;
                EXIT;
            END IF;
            _out_id[_i] := _id;
            _replay[_i] := TRUE;
            CONTINUE;
        END IF;

        IF NOT _exists[_w] AND _has_ledger[_w] THEN
            _refusal := ARRAY[format(
                    'work order %L has ledger events but no current row: '
                    || 'the projection has drifted',
                    _wo[_i]
                ),
                'run os_core.work_orders_current_rebuild for the tenant, then append again'];
            _fail := _i;
            EXIT;
        END IF;

        _violation := NULL;
        IF NOT _exists[_w] AND _type[_i] <> 'WORK_ORDER_CREATED' THEN
            _violation := format(
                'work order %L does not exist: its first event must be WORK_ORDER_CREATED',
                _wo[_i]
            );
        ELSIF _exists[_w] AND _type[_i] = 'WORK_ORDER_CREATED' THEN
            _violation := format('work order %L was already created', _wo[_i]);
        ELSIF _exists[_w] AND _corr[_i] <> _c_corr[_w] THEN
            _violation := format(
                'correlation_id must stay %s for work order %L', _c_corr[_w], _wo[_i]
            );
        ELSIF _exists[_w] AND os_core.is_terminal_status(_c_status[_w]) THEN
            _violation := format(
                'work order %L is %s, a terminal status: only an idempotent replay may follow',
                _wo[_i], _c_status[_w]
            );
        ELSIF _exists[_w] AND _created[_i] < _c_updated[_w] THEN
            _violation := format(
                'created_at %s is before the work order''s latest event (%s): '
                || 'created_at must not go backwards',
                _created[_i], _c_updated[_w]
            );
        ELSIF
            _exists[_w]
            AND _owner[_i] IS DISTINCT FROM _c_owner[_w]
            AND _owner[_i] IS NOT NULL
            AND _c_owner[_w] IS NOT NULL
            AND _c_expires[_w] > _created[_i]
            THEN
            _violation := format(
                'work order %L is leased to %L until %s: lease_owner_id %L cannot take it over '
                || 'before it expires',
                _wo[_i], _c_owner[_w], _c_expires[_w], _owner[_i]
            );
        ELSIF coalesce(_c_count[_w], 0) <> _expected[_i] THEN
            _violation := format(
                'expected_event_count is %s but work order %L has %s events: '
                || 'another writer appended first',
                _expected[_i], _wo[_i], coalesce(_c_count[_w], 0)
            );
        END IF;
        IF _violation IS NOT NULL THEN
            _refusal := ARRAY[_violation];
            _fail := _i;
            EXIT;
        END IF;

        -- A creation whose correlation_id a work order created earlier in the batch
        -- holds. (One a stored work order holds is found by the insert, in 6.)
        IF _type[_i] = 'WORK_ORDER_CREATED' THEN
            _bound_to := CASE
                WHEN _first_creator_no[_i] < _i AND _first_creator_wo[_i] <> _wo[_i]
                    THEN _first_creator_wo[_i]
            END;
            IF _bound_to IS NOT NULL THEN
                _refusal := ARRAY[format(
                        'correlation_id %s is already bound to work order %L of this tenant',
                        _corr[_i], _bound_to
                    )];
                _fail := _i;
                EXIT;
            END IF;
        END IF;

        -- The step attempts (os_core.project_step_attempt's rules).
        _id := _ids[_i];
        _p := _pair_no[_i];
        IF _type[_i] = 'STEP_STARTED' THEN
            IF _p_status[_p] = 'STARTED' THEN
                _refusal := ARRAY[format(
                        'step %L of work order %L already has attempt %s open '
                        || '(started by event %s)',
                        _step[_i], _wo[_i], _p_index[_p], _p_started_id[_p]
                    ),
                    'append STEP_FINISHED or STEP_FAILED for it before starting the step again'];
                _fail := _i;
                EXIT;
            END IF;
            _q := cardinality(_a_wo) + 1;
            _a_wo[_q] := _wo[_i];
            _a_step[_q] := _step[_i];
            _a_index[_q] := coalesce(_p_index[_p], 0) + 1;
            _a_status[_q] := 'STARTED';
            _a_hash[_q] := _step_hash[_i];
            _a_started_id[_q] := _id;
            _a_started_at[_q] := _created[_i];
            _a_finished_id[_q] := NULL;
            _a_finished_at[_q] := NULL;
            _a_reason[_q] := NULL;
            _p_index[_p] := _a_index[_q];
            _p_status[_p] := 'STARTED';
            _p_started_id[_p] := _id;
            _p_row[_p] := _q;
        ELSIF _type[_i] IN ('STEP_FINISHED', 'STEP_FAILED') THEN
            IF _p_status[_p] IS DISTINCT FROM 'STARTED' THEN
                _refusal := ARRAY[format(
                        '%s for step %L of work order %L, which has no open attempt',
                        _type[_i], _step[_i], _wo[_i]
                    ),
                    'append STEP_STARTED for the step first'];
                _fail := _i;
                EXIT;
            END IF;
            _q := _p_row[_p];
            IF _q IS NULL THEN
                -- The stored open attempt, rewritten below as closed.
                _q := cardinality(_a_wo) + 1;
                _a_wo[_q] := _wo[_i];
                _a_step[_q] := _step[_i];
                _a_index[_q] := _p_index[_p];
                _a_hash[_q] := _p_hash[_p];
                _a_started_id[_q] := _p_started_id[_p];
                _a_started_at[_q] := _p_started_at[_p];
                _p_row[_p] := _q;
            END IF;
            _a_status[_q] := CASE _type[_i] WHEN 'STEP_FINISHED' THEN 'FINISHED' ELSE 'FAILED' END;
            _a_finished_id[_q] := _id;
            _a_finished_at[_q] := _created[_i];
            _a_reason[_q] := _reason[_i];
            _p_status[_p] := _a_status[_q];
        END IF;

        -- Appended: the current row (the single append's INSERT or UPDATE).
        _out_id[_i] := _id;
        _replay[_i] := FALSE;
        _terminal := os_core.is_terminal_status(_status[_i]);
        IF NOT _exists[_w] THEN
            _exists[_w] := TRUE;
            _new[_w] := TRUE;
            _c_corr[_w] := _corr[_i];
            _c_step[_w] := _step[_i];
            _c_step_hash[_w] := _step_hash[_i];
            IF _terminal THEN
                _c_owner[_w] := NULL;
                _c_token[_w] := NULL;
                _c_expires[_w] := NULL;
            ELSE
                _c_owner[_w] := _owner[_i];
                _c_token[_w] := _token[_i];
                _c_expires[_w] := _expires[_i];
            END IF;
            _c_count[_w] := 1;
        ELSE
            IF _step[_i] IS NOT NULL THEN
                _c_step[_w] := _step[_i];
                _c_step_hash[_w] := _step_hash[_i];
            END IF;
            IF _terminal THEN
                _c_owner[_w] := NULL;
                _c_token[_w] := NULL;
                _c_expires[_w] := NULL;
            ELSIF _owner[_i] IS NOT NULL THEN
                _c_owner[_w] := _owner[_i];
                _c_token[_w] := _token[_i];
                _c_expires[_w] := _expires[_i];
            END IF;
            _c_count[_w] := _c_count[_w] + 1;
        END IF;
        _c_schema[_w] := _schema[_i];
        _c_turn[_w] := _turn[_i];
        _c_status[_w] := _status[_i];
        _c_last_id[_w] := _id;
        _c_reason[_w] := _reason[_i];
        _c_updated[_w] := _created[_i];
        _touched[_w] := TRUE;

        -- The lease (os_core.project_lease's rules): a lease event acquires it, or
        -- renews the holder's own unexpired one; a terminal status releases it.
        IF _owner[_i] IS NOT NULL THEN
            IF NOT _l_exists[_w] THEN
                _l_exists[_w] := TRUE;
                _l_state[_w] := 'ACTIVE';
                _l_released[_w] := NULL;
                _l_acq_id[_w] := _id;
                _l_acq_at[_w] := _created[_i];
            ELSIF (_l_owner[_w] = _owner[_i] AND _l_expires[_w] > _created[_i]) IS NOT TRUE THEN
                _l_acq_id[_w] := _id;
                _l_acq_at[_w] := _created[_i];
            END IF;
            _l_owner[_w] := _owner[_i];
            _l_token[_w] := _token[_i];
            _l_expires[_w] := _expires[_i];
            _l_last_id[_w] := _id;
            _l_touched[_w] := TRUE;
        END IF;
        IF _terminal AND _l_exists[_w] THEN
            _l_state[_w] := 'RELEASED';
            _l_released[_w] := _created[_i];
            _l_last_id[_w] := _id;
            _l_touched[_w] := TRUE;
        END IF;
    END LOOP;

    IF _fail IS NULL AND _todo < _n THEN
        _fail := _todo + 1;
        _refusal := ARRAY[_contract[_fail]];
    END IF;

    -- 6. The new work orders' rows first. A correlation_id a stored work order holds
    -- (or one that another transaction created meanwhile) is found as the single
    -- append finds it, by the insert's unique key; not by a lookup, which row-level
    -- security keeps from the index (numeric equality is not leakproof) and which
    -- would read every row of the tenant. The first creation so refused is the
    -- batch's first refused event when it comes before the one found in memory.
    WITH inserted AS (
        INSERT INTO os_core.work_orders_current (
            tenant_id, work_order_id, schema_version, correlation_id, turn_id,
            work_order_status, last_event_id, last_reason_code, last_updated_at, step_id,
            step_input_hash, lease_owner_id, lease_token_hash, lease_expires_at, event_count
        )
        SELECT
            p_tenant_id, c.work_order_id, c.schema_version, c.correlation_id, c.turn_id,
            c.work_order_status, c.last_event_id, c.last_reason_code, c.last_updated_at,
            c.step_id, c.step_input_hash, c.lease_owner_id, c.lease_token_hash,
            c.lease_expires_at, c.event_count
        FROM unnest(
            _wos, _new, _c_schema, _c_corr, _c_turn, _c_status, _c_last_id, _c_reason,
            _c_updated, _c_step, _c_step_hash, _c_owner, _c_token, _c_expires, _c_count
        ) AS c (
            work_order_id, new, schema_version, correlation_id, turn_id, work_order_status,
            last_event_id, last_reason_code, last_updated_at, step_id, step_input_hash,
            lease_owner_id, lease_token_hash, lease_expires_at, event_count
        )
        WHERE c.new
        ON CONFLICT DO NOTHING
        RETURNING work_orders_current.work_order_id
    )
    SELECT array_agg(i.work_order_id) INTO _inserted FROM inserted AS i;
    IF coalesce(cardinality(_inserted), 0) < (SELECT count(*) FROM unnest(_new) AS n WHERE n) THEN
        SELECT min(b.ord)::integer INTO _i
        FROM unnest(_wo, _type) WITH ORDINALITY AS b (work_order_id, event_type, ord)
        WHERE
            b.ord < coalesce(_fail, _todo + 1)
            AND b.event_type = 'WORK_ORDER_CREATED'
            AND NOT _replay[b.ord]
            AND NOT b.work_order_id = ANY(coalesce(_inserted, '{}'));
        SELECT c.work_order_id INTO _bound_to
        FROM os_core.work_orders_current AS c
        WHERE c.tenant_id = p_tenant_id AND c.correlation_id = _corr[_i];
        PERFORM os_core.raise_batch_reason(
            _i - 1, _refused,
            format(
                'correlation_id %s is already bound to work order %L of this tenant',
                _corr[_i], _bound_to
            )
        );
    END IF;

    IF _fail IS NOT NULL THEN
        PERFORM os_core.raise_batch_reason(_fail - 1, _refused, _refusal[1], _refusal[2]);
    END IF;

    -- 7. The rest, each table once.
    INSERT INTO os_core.work_order_ledger (
        tenant_id, work_order_event_id, schema_version, work_order_id, correlation_id,
        turn_id, event_type, work_order_status, reason_code, step_id, step_input_hash,
        lease_owner_id, lease_token_hash, lease_expires_at, created_at, idempotency_key,
        payload, paging_horizon, paging_node_id
    ) OVERRIDING SYSTEM VALUE
    SELECT
        p_tenant_id, e.id, e.schema_version, e.work_order_id, e.correlation_id,
        e.turn_id, e.event_type, e.work_order_status, e.reason_code, e.step_id,
        e.step_input_hash, e.lease_owner_id, e.lease_token_hash, e.lease_expires_at,
        e.created_at, e.idempotency_key, e.payload, _paging_horizon, _node_id
    FROM unnest(
        _out_id, _replay, _schema, _wo, _corr, _turn, _type, _status, _reason, _step,
        _step_hash, _owner, _token, _expires, _created, _key, _payload
    ) AS e (
        id, replay, schema_version, work_order_id, correlation_id, turn_id, event_type,
        work_order_status, reason_code, step_id, step_input_hash, lease_owner_id,
        lease_token_hash, lease_expires_at, created_at, idempotency_key, payload
    )
    WHERE NOT e.replay
    ORDER BY e.id;

    -- The work orders that had a row: rewritten as an upsert on the primary key,
    -- which finds each row by a probe of its index (an UPDATE ... FROM the batch may
    -- join every row of the tenant). The row exists, so the insert never happens.
    INSERT INTO os_core.work_orders_current AS c (
        tenant_id, work_order_id, schema_version, correlation_id, turn_id,
        work_order_status, last_event_id, last_reason_code, last_updated_at, step_id,
        step_input_hash, lease_owner_id, lease_token_hash, lease_expires_at, event_count
    )
    SELECT
        p_tenant_id, u.work_order_id, u.schema_version, u.correlation_id, u.turn_id,
        u.work_order_status, u.last_event_id, u.last_reason_code, u.last_updated_at,
        u.step_id, u.step_input_hash, u.lease_owner_id, u.lease_token_hash,
        u.lease_expires_at, u.event_count
    FROM unnest(
        _wos, _new, _touched, _c_schema, _c_corr, _c_turn, _c_status, _c_last_id, _c_reason,
        _c_updated, _c_step, _c_step_hash, _c_owner, _c_token, _c_expires, _c_count
    ) AS u (
        work_order_id, new, touched, schema_version, correlation_id, turn_id,
        work_order_status, last_event_id, last_reason_code, last_updated_at, step_id,
        step_input_hash, lease_owner_id, lease_token_hash, lease_expires_at, event_count
    )
    WHERE u.touched AND NOT u.new
    ON CONFLICT (tenant_id, work_order_id) DO UPDATE SET
        schema_version = excluded.schema_version,
        turn_id = excluded.turn_id,
        work_order_status = excluded.work_order_status,
        last_event_id = excluded.last_event_id,
        last_reason_code = excluded.last_reason_code,
        last_updated_at = excluded.last_updated_at,
        step_id = excluded.step_id,
        step_input_hash = excluded.step_input_hash,
        lease_owner_id = excluded.lease_owner_id,
        lease_token_hash = excluded.lease_token_hash,
        lease_expires_at = excluded.lease_expires_at,
        event_count = excluded.event_count;

    IF cardinality(_a_wo) > 0 THEN
        INSERT INTO os_core.work_order_step_attempts AS t (
            tenant_id, work_order_id, step_id, attempt_index, attempt_status, step_input_hash,
            started_event_id, started_at, finished_event_id, finished_at, reason_code
        )
        SELECT
            p_tenant_id, a.work_order_id, a.step_id, a.attempt_index, a.attempt_status,
            a.step_input_hash, a.started_event_id, a.started_at, a.finished_event_id,
            a.finished_at, a.reason_code
        FROM unnest(
            _a_wo, _a_step, _a_index, _a_status, _a_hash, _a_started_id, _a_started_at,
            _a_finished_id, _a_finished_at, _a_reason
        ) AS a (
            work_order_id, step_id, attempt_index, attempt_status, step_input_hash,
            started_event_id, started_at, finished_event_id, finished_at, reason_code
        )
        ON CONFLICT (tenant_id, work_order_id, step_id, attempt_index) DO UPDATE SET
            attempt_status = excluded.attempt_status,
            finished_event_id = excluded.finished_event_id,
            finished_at = excluded.finished_at,
            reason_code = excluded.reason_code;
    END IF;

    IF TRUE = ANY(_l_touched) THEN
        INSERT INTO os_core.work_order_leases AS t (
            tenant_id, work_order_id, lease_owner_id, lease_token_hash, lease_state,
            lease_expires_at, acquired_event_id, acquired_at, last_event_id, released_at
        )
        SELECT
            p_tenant_id, l.work_order_id, l.lease_owner_id, l.lease_token_hash, l.lease_state,
            l.lease_expires_at, l.acquired_event_id, l.acquired_at, l.last_event_id,
            l.released_at
        FROM unnest(
            _wos, _l_touched, _l_owner, _l_token, _l_state, _l_expires, _l_acq_id, _l_acq_at,
            _l_last_id, _l_released
        ) AS l (
            work_order_id, touched, lease_owner_id, lease_token_hash, lease_state,
            lease_expires_at, acquired_event_id, acquired_at, last_event_id, released_at
        )
        WHERE l.touched
        ON CONFLICT (tenant_id, work_order_id) DO UPDATE SET
            lease_owner_id = excluded.lease_owner_id,
            lease_token_hash = excluded.lease_token_hash,
            lease_state = excluded.lease_state,
            lease_expires_at = excluded.lease_expires_at,
            acquired_event_id = excluded.acquired_event_id,
            acquired_at = excluded.acquired_at,
            last_event_id = excluded.last_event_id,
            released_at = excluded.released_at;
    END IF;

    -- The audit rows, in the batch's order (ph1j.emit_append_audit's, one per event).
    -- A replay's fields are its original's: the same content, created_at aside.
    INSERT INTO ph1j.audit_events (
        tenant_id, audit_event_id, capability, outcome, work_order_id, correlation_id,
        turn_id, event_type, reason_code, idempotency_key, work_order_event_id,
        replay_created_at, paging_horizon, paging_node_id
    ) OVERRIDING SYSTEM VALUE
    SELECT
        p_tenant_id, _audit_ids[e.ord], 'OS_WORK_ORDER_LEDGER_APPEND',
        CASE WHEN e.replay THEN 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY' ELSE 'APPENDED' END,
        e.work_order_id, e.correlation_id, e.turn_id, e.event_type, e.reason_code,
        e.idempotency_key, e.id, CASE WHEN e.replay THEN e.created_at END,
        _paging_horizon, _node_id
    FROM unnest(
        _out_id, _replay, _wo, _corr, _turn, _type, _reason, _key, _created
    ) WITH ORDINALITY AS e (
        id, replay, work_order_id, correlation_id, turn_id, event_type, reason_code,
        idempotency_key, created_at, ord
    )
    ORDER BY e.ord;
    IF lower(current_setting('selene.audit_notify', TRUE)) IN ('on', 'true', 'yes', '1') THEN
        PERFORM pg_notify('ph1j_audit', json_build_object('audit_event_id', a.id)::text)
        FROM unnest(_audit_ids) WITH ORDINALITY AS a (id, ord)
        ORDER BY a.ord;
    END IF;

    RETURN QUERY
    SELECT (r.ord - 1)::integer, r.id, r.replay
    FROM unnest(_out_id, _replay) WITH ORDINALITY AS r (id, replay, ord)
    ORDER BY r.ord;
END;
$$;

COMMENT ON FUNCTION os_core.work_order_ledger_append_many(text, jsonb) IS
'OS_WORK_ORDER_LEDGER_APPEND for a batch of the declared tenant''s events, p_events a JSON array of objects keyed by the single append''s parameter names without p_ (tenant_id aside: p_tenant_id is every event''s). Returns one row per event, in order: event_index (from 0), work_order_event_id and idempotency_replay, each exactly what os_core.work_order_ledger_append would return for the events appended one after another in one transaction, with the same ledger rows, projections and audit rows. Set-based (Citus aside): a few statements per batch, not a call per event. Atomic: when an event is refused, nothing of the batch is written, and the error is the single append''s (SQLSTATE, reason code, DETAIL) for the first refused event, with a HINT whose last line reads "event_index N: ...".';

ALTER FUNCTION os_core.work_order_ledger_append_many(text, jsonb) OWNER TO selene_owner;
