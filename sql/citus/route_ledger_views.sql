-- On Citus (the tables distributed by migration 0007): the three *_from_ledger views
-- without the fences that keep the single-node planner from joining the whole
-- ledger. Citus runs rebuild and verify one tenant at a time on the tenant's worker,
-- where every statement must route to that tenant's shard by its constant, and a
-- fenced subquery (OFFSET 0, or ORDER BY ... LIMIT 1) hides the tenant from Citus:
-- the view would read every shard, which a call delegated to one worker may not.
-- Unfenced they mean the same: a LATERAL probe by primary key returns at most one row,
-- and a work order has at most one terminal event (the append refuses any event after
-- it), which the probe of its last event keeps only when terminal. Without Citus, or
-- before 0007, nothing.

DO $route$
DECLARE
    _view regclass;
    _definition text;
BEGIN
    IF NOT os_core.is_distributed() THEN
        RETURN;
    END IF;
    FOREACH _view IN ARRAY ARRAY[
        'os_core.work_orders_current_from_ledger',
        'os_core.work_order_step_attempts_from_ledger',
        'os_core.work_order_leases_from_ledger'
    ]::regclass [] LOOP
        _definition := pg_catalog.regexp_replace(
            pg_catalog.regexp_replace(
                pg_catalog.pg_get_viewdef(_view), '\s+OFFSET 0\M', '', 'g'
            ),
            '\s+ORDER BY e\.work_order_event_id DESC\s+LIMIT 1\M', '', 'g'
        );
        -- A fence this does not know (a view changed since) fails the migration
        -- here, rather than every rebuild on Citus later.
        IF _definition ~ '\m(OFFSET|LIMIT)\M' THEN
            RAISE EXCEPTION 'route_ledger_views: % has a fence it cannot remove', _view;
        END IF;
        EXECUTE pg_catalog.format(
            'CREATE OR REPLACE VIEW %s WITH (security_invoker = TRUE) AS %s', _view, _definition
        );
    END LOOP;
END;
$route$;
