-- project_lease: what one appended event does to its work order's lease.

-- No SET search_path: called only by os_core.work_order_ledger_append, a SECURITY
-- DEFINER function that pins it (pg_catalog, pg_temp), whose path this one runs with.
-- SET clauses on the four helpers of the append (emit_append_audit, paging_horizon,
-- project_step_attempt, project_lease) cost 6 % of its CPU: each saves and
-- restores the setting on every call (python -m benchmarks ab).
CREATE OR REPLACE FUNCTION os_core.project_lease(p_event os_core.work_order_ledger)
RETURNS void
LANGUAGE plpgsql
VOLATILE
PARALLEL UNSAFE
AS $$
BEGIN
    -- A lease event acquires the lease, or renews it when it is the holder's own
    -- and not expired at the event's created_at. (Another owner's unexpired lease
    -- was refused by the append before the event was written.)
    IF p_event.lease_owner_id IS NOT NULL THEN
        INSERT INTO os_core.work_order_leases AS l (
            tenant_id, work_order_id, lease_owner_id, lease_token_hash, lease_state,
            lease_expires_at, acquired_event_id, acquired_at, last_event_id
        ) VALUES (
            p_event.tenant_id, p_event.work_order_id, p_event.lease_owner_id,
            p_event.lease_token_hash, 'ACTIVE', p_event.lease_expires_at,
            p_event.work_order_event_id, p_event.created_at, p_event.work_order_event_id
        )
        ON CONFLICT (tenant_id, work_order_id) DO UPDATE SET
            lease_owner_id = excluded.lease_owner_id,
            lease_token_hash = excluded.lease_token_hash,
            lease_expires_at = excluded.lease_expires_at,
            acquired_event_id = CASE
                WHEN
                    l.lease_owner_id = excluded.lease_owner_id
                    AND l.lease_expires_at > excluded.acquired_at
                    THEN l.acquired_event_id
                ELSE excluded.acquired_event_id
            END,
            acquired_at = CASE
                WHEN
                    l.lease_owner_id = excluded.lease_owner_id
                    AND l.lease_expires_at > excluded.acquired_at
                    THEN l.acquired_at
                ELSE excluded.acquired_at
            END,
            last_event_id = excluded.last_event_id;
    END IF;

    IF os_core.is_terminal_status(p_event.work_order_status) THEN
        UPDATE os_core.work_order_leases AS l SET
            lease_state = 'RELEASED',
            released_at = p_event.created_at,
            last_event_id = p_event.work_order_event_id
        WHERE l.tenant_id = p_event.tenant_id AND l.work_order_id = p_event.work_order_id;
    END IF;
END;
$$;

COMMENT ON FUNCTION os_core.project_lease(os_core.work_order_ledger) IS
'Applies one appended event to work_order_leases: an event with lease fields acquires the lease or renews its holder''s unexpired lease; a terminal status releases it. Internal, called by the append.';

ALTER FUNCTION os_core.project_lease(os_core.work_order_ledger) OWNER TO selene_owner;
