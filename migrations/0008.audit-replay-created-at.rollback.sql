-- Undo 0008. The audit trail is append-only: once a replay has recorded the
-- created_at it carried, dropping the column would lose audit history, so the
-- rollback stops with an error instead. The emit_append_audit that writes the column
-- goes with it; the version rolled back to installs its own with its post-apply.

DO $no_replay_recorded$
BEGIN
    -- On Citus: the check reads every shard, then the DDL below runs over the same
    -- connections, one per worker.
    IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        PERFORM pg_catalog.set_config('citus.multi_shard_modify_mode', 'sequential', TRUE);
    END IF;
    -- (SELECT 1, not an empty target list: Citus plans a distributed subquery with none
    -- as a function returning record, and refuses it.)
    IF EXISTS (SELECT 1 FROM ph1j.audit_events AS a WHERE a.replay_created_at IS NOT NULL) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'ph1j.audit_events.replay_created_at holds audit history: 0008 cannot be rolled back',
            DETAIL = 'Idempotent replays have recorded the created_at they carried; dropping the column would delete it from the append-only audit trail.',
            HINT = 'Keep migration 0008: the code of an earlier version writes its audit rows with the column NULL, which the table allows.';
    END IF;
END;
$no_replay_recorded$;

DROP FUNCTION IF EXISTS ph1j.emit_append_audit(os_core.work_order_ledger, text, bigint);

ALTER TABLE ph1j.audit_events
DROP CONSTRAINT replay_created_at_only_on_replays;

ALTER TABLE ph1j.audit_events
DROP COLUMN replay_created_at;
