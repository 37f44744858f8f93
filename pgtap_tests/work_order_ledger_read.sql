-- work_order_ledger_read: OS_WORK_ORDER_LEDGER_READ. Proves that
-- os_core.work_order_ledger_read returns the declared tenant's events in event-id
-- order, every column as stored, optionally narrowed to one work order; that
-- keyset paging with p_after_event_id and p_limit returns every event exactly once
-- across pages; and that bad paging arguments are SE004.
BEGIN;
\ir support/helpers.sql

SELECT plan(24);

CREATE TABLE tap.ids (n serial PRIMARY KEY, work_order_id text, work_order_event_id bigint);
CREATE TABLE tap.pages (page integer, work_order_event_id bigint);
GRANT ALL ON tap.ids, tap.pages, tap.ids_n_seq TO PUBLIC;

-- Acting as selene_os (tenant acme): 12 events over three work orders, interleaved
SELECT tap.act_as('selene_os', 'acme');
DO $$
DECLARE
    _wo text;
BEGIN
    FOR _round IN 1..4 LOOP
        FOREACH _wo IN ARRAY ARRAY['wo-1', 'wo-2', 'wo-3'] LOOP
            INSERT INTO tap.ids (work_order_id, work_order_event_id)
            SELECT _wo, a.work_order_event_id
            FROM tap.append(
                p_work_order_id => _wo,
                p_event_type => CASE _round WHEN 1 THEN 'WORK_ORDER_CREATED' ELSE 'FIELD_SET' END,
                p_created_at => 100 * _round, p_turn_id => _round,
                p_payload => jsonb_build_object('round', _round)
            ) AS a;
        END LOOP;
    END LOOP;
END
$$;
RESET ROLE;

-- Acting as selene_os (tenant globex): events interleaved with acme's
SELECT tap.act_as('selene_os', 'globex');
DO $$
BEGIN
    PERFORM tap.append(p_work_order_id => 'wo-1');
    PERFORM tap.append(p_work_order_id => 'wo-1', p_event_type => 'FIELD_SET');
END
$$;
RESET ROLE;

-- Acting as selene_os (tenant acme)
SELECT tap.act_as('selene_os', 'acme');
INSERT INTO tap.ids (work_order_id, work_order_event_id)
SELECT 'wo-2', work_order_event_id FROM tap.append(p_work_order_id => 'wo-2', p_event_type => 'FIELD_SET', p_created_at => 500);

SELECT results_eq(
    $$SELECT work_order_event_id FROM os_core.work_order_ledger_read('acme')$$,
    $$SELECT work_order_event_id FROM tap.ids ORDER BY work_order_event_id$$,
    'The tenant''s ledger returns all 13 of its events, in event-id order.'
);
SELECT is(
    (SELECT count(*) FROM os_core.work_order_ledger_read('acme') WHERE tenant_id <> 'acme'),
    0::bigint,
    'No event of another tenant is returned.'
);
SELECT results_eq(
    $$SELECT work_order_event_id FROM os_core.work_order_ledger_read('acme', 'wo-2')$$,
    $$SELECT work_order_event_id FROM tap.ids WHERE work_order_id = 'wo-2' ORDER BY work_order_event_id$$,
    'Narrowed to wo-2, it returns wo-2''s five events in order.'
);
SELECT results_eq(
    $$SELECT event_type::text, (payload ->> 'round')::integer FROM os_core.work_order_ledger_read('acme', 'wo-3')$$,
    $$VALUES ('WORK_ORDER_CREATED', 1), ('FIELD_SET', 2), ('FIELD_SET', 3), ('FIELD_SET', 4)$$,
    'wo-3''s events come back with their event types and payloads.'
);
SELECT is_empty(
    $$SELECT * FROM os_core.work_order_ledger_read('acme', 'wo-unknown')$$,
    'An unknown work order has no events.'
);
SELECT is_empty(
    $$SELECT * FROM os_core.work_order_ledger_read('acme', NULL, (SELECT max(work_order_event_id) FROM tap.ids))$$,
    'Reading after the last event id returns nothing.'
);
SELECT results_eq(
    $$SELECT work_order_event_id FROM os_core.work_order_ledger_read('acme', NULL, 0, 1)$$,
    $$SELECT min(work_order_event_id) FROM tap.ids$$,
    'A limit of 1 returns the first event only.'
);
SELECT results_eq(
    $$SELECT work_order_event_id FROM os_core.work_order_ledger_read('acme', p_after_event_id => (SELECT work_order_event_id FROM tap.ids WHERE n = 4))$$,
    $$SELECT work_order_event_id FROM tap.ids WHERE n > 4 ORDER BY work_order_event_id$$,
    'p_after_event_id skips exactly the events up to and including it.'
);
SELECT is(
    (SELECT count(*) FROM os_core.work_order_ledger_read('acme', NULL, 0, 10000)),
    13::bigint,
    'The largest limit, 10000, is accepted.'
);

-- Paging: pages of 5 until an empty page.
DO $$
DECLARE
    _after bigint := 0;
    _page integer := 0;
    _last bigint;
BEGIN
    LOOP
        _page := _page + 1;
        INSERT INTO tap.pages (page, work_order_event_id)
        SELECT _page, l.work_order_event_id FROM os_core.work_order_ledger_read('acme', NULL, _after, 5) AS l;
        SELECT max(p.work_order_event_id) INTO _last FROM tap.pages AS p WHERE p.page = _page;
        EXIT WHEN _last IS NULL OR _page > 10;
        _after := _last;
    END LOOP;
END
$$;
SELECT results_eq(
    $$SELECT page, count(*) FROM tap.pages GROUP BY page ORDER BY page$$,
    $$VALUES (1, 5::bigint), (2, 5::bigint), (3, 3::bigint)$$,
    'Paging by 5 gives pages of 5, 5 and 3 events, then an empty page.'
);
SELECT results_eq(
    $$SELECT work_order_event_id FROM tap.pages ORDER BY page, work_order_event_id$$,
    $$SELECT work_order_event_id FROM tap.ids ORDER BY work_order_event_id$$,
    'Across the pages every event appears exactly once, in order.'
);

-- Paging one work order by 2.
DELETE FROM tap.pages;
DO $$
DECLARE
    _after bigint := 0;
    _page integer := 0;
    _last bigint;
BEGIN
    LOOP
        _page := _page + 1;
        INSERT INTO tap.pages (page, work_order_event_id)
        SELECT _page, l.work_order_event_id FROM os_core.work_order_ledger_read('acme', 'wo-2', _after, 2) AS l;
        SELECT max(p.work_order_event_id) INTO _last FROM tap.pages AS p WHERE p.page = _page;
        EXIT WHEN _last IS NULL OR _page > 10;
        _after := _last;
    END LOOP;
END
$$;
SELECT results_eq(
    $$SELECT work_order_event_id FROM tap.pages ORDER BY page, work_order_event_id$$,
    $$SELECT work_order_event_id FROM tap.ids WHERE work_order_id = 'wo-2' ORDER BY work_order_event_id$$,
    'Paging wo-2 by 2 returns each of its events exactly once, in order.'
);
SELECT is((SELECT max(page) FROM tap.pages), 3, 'wo-2''s five events fill pages of 2, 2 and 1.');

-- Bad paging arguments.
SELECT throws_ok($$SELECT * FROM os_core.work_order_ledger_read('acme', NULL, 0, 0)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A limit of 0 is refused.');
SELECT throws_ok($$SELECT * FROM os_core.work_order_ledger_read('acme', NULL, 0, -1)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A negative limit is refused.');
SELECT throws_ok($$SELECT * FROM os_core.work_order_ledger_read('acme', NULL, 0, 10001)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A limit of 10001 is refused.');
SELECT throws_ok($$SELECT * FROM os_core.work_order_ledger_read('acme', NULL, 0, NULL)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A NULL limit is refused.');
SELECT throws_ok($$SELECT * FROM os_core.work_order_ledger_read('acme', NULL, -1)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A negative p_after_event_id is refused.');
SELECT throws_ok($$SELECT * FROM os_core.work_order_ledger_read('acme', NULL, NULL)$$,
    'SE004', 'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', 'A NULL p_after_event_id is refused.');
RESET ROLE;

-- Acting as selene_os (tenant globex)
SELECT tap.act_as('selene_os', 'globex');
SELECT is(
    (SELECT count(*) FROM os_core.work_order_ledger_read('globex')),
    2::bigint,
    'globex reads only its own two events.'
);
SELECT results_eq(
    $$SELECT work_order_event_id FROM os_core.work_order_ledger_read('globex', 'wo-1', 0, 1)$$,
    $$SELECT min(work_order_event_id) FROM os_core.work_order_ledger_read('globex', 'wo-1')$$,
    'globex''s wo-1, paged by 1, starts with its own first event, not acme''s.'
);
RESET ROLE;

-- Acting as selene_dba (tenant acme)
SELECT tap.act_as('selene_dba', 'acme');
SELECT is(
    (SELECT count(*) FROM os_core.work_order_ledger_read('acme')),
    13::bigint,
    'selene_dba reads the declared tenant''s ledger too.'
);
RESET ROLE;

-- Acting as postgres (superuser, tenant acme declared)
SELECT tap.act_as('none', 'acme');
SELECT results_eq(
    $$SELECT * FROM os_core.work_order_ledger_read('acme')$$,
    $$SELECT * FROM os_core.work_order_ledger WHERE tenant_id = 'acme' ORDER BY work_order_event_id$$,
    'The events come back exactly as stored, every column.'
);
SELECT results_eq(
    $$SELECT * FROM os_core.work_order_ledger_read('acme', 'wo-1', 0, 10000)$$,
    $$SELECT * FROM os_core.work_order_ledger WHERE tenant_id = 'acme' AND work_order_id = 'wo-1' ORDER BY work_order_event_id$$,
    'One work order''s events come back exactly as stored, every column.'
);

SELECT * FROM finish();
ROLLBACK;
