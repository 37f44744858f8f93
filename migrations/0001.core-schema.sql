-- Roles, schemas, contract domains and the five tables of SELENE_OS_CORE_TABLES v1.
--
-- Tables and the domains their rows depend on live here, because changing them
-- changes what stored rows mean. Functions, triggers, policies, grants and
-- comments on functions live in sql/ and are (re)installed by post-apply.py.
-- Must be applied by a superuser: it creates a BYPASSRLS role.
-- depends:

-- Roles are cluster-wide: create each one only where it does not exist yet.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'selene_owner') THEN
        CREATE ROLE selene_owner NOLOGIN NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'selene_projector') THEN
        CREATE ROLE selene_projector NOLOGIN BYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'selene_os') THEN
        CREATE ROLE selene_os NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'selene_dba') THEN
        CREATE ROLE selene_dba NOLOGIN;
    END IF;
END
$roles$;

COMMENT ON ROLE selene_owner IS
'Owns the os_core and ph1j objects. Not a login role; row-level security is forced on it.';
COMMENT ON ROLE selene_projector IS
'Owns the projection rebuild, the one routine that reads every tenant (BYPASSRLS). Not a login role.';
COMMENT ON ROLE selene_os IS
'Selene OS services: EXECUTE on the capability functions and nothing else. Grant it to a login role.';
COMMENT ON ROLE selene_dba IS
'Database administrators: the capability functions, plus rebuild across all tenants.';

CREATE SCHEMA os_core AUTHORIZATION selene_owner;
COMMENT ON SCHEMA os_core IS
'SELENE_OS_CORE_TABLES: the work-order ledger, its projections and the capability functions.';

CREATE SCHEMA ph1j AUTHORIZATION selene_owner;
COMMENT ON SCHEMA ph1j IS 'PH1.J audit events emitted by the os_core capabilities.';

REVOKE ALL ON SCHEMA os_core FROM PUBLIC;
REVOKE ALL ON SCHEMA ph1j FROM PUBLIC;

-- Whitespace of any kind: Unicode White_Space plus the zero-width characters
-- U+180E, U+200B, U+2060 and U+FEFF, which also render as nothing.
CREATE FUNCTION os_core.is_blank(p_value text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
RETURN p_value ~ (
    '^[\u0009-\u000d\u0020\u0085\u00a0\u1680\u180e\u2000-\u200b'
    || '\u2028\u2029\u202f\u205f\u2060\u3000\ufeff]*$'
);
COMMENT ON FUNCTION os_core.is_blank(text) IS
'True when the text is empty or made only of whitespace of any kind (Unicode White_Space and zero-width characters).';

ALTER FUNCTION os_core.is_blank(text) OWNER TO selene_owner;

-- One domain per contract field (design §2). The capability functions check the
-- same rules first, to name the failing field; these are the backstop for any
-- direct write.
CREATE DOMAIN os_core.tenant_id AS text
CONSTRAINT tenant_id_format CHECK (VALUE ~ '^[A-Za-z0-9_.:-]{1,64}$');

CREATE DOMAIN os_core.work_order_id AS text
CONSTRAINT work_order_id_length CHECK (char_length(VALUE) <= 128)
CONSTRAINT work_order_id_not_blank CHECK (NOT os_core.is_blank(VALUE));

CREATE DOMAIN os_core.correlation_id AS numeric
CONSTRAINT correlation_id_u128 CHECK (
    scale(VALUE) = 0
    AND VALUE >= 1
    AND VALUE < 340282366920938463463374607431768211456
);

CREATE DOMAIN os_core.turn_id AS bigint
CONSTRAINT turn_id_positive CHECK (VALUE > 0);

CREATE DOMAIN os_core.event_type AS text
CONSTRAINT event_type_known CHECK (VALUE IN (
    'WORK_ORDER_CREATED', 'FIELD_SET', 'FIELD_CONFLICT_RESOLVED', 'STATUS_CHANGED',
    'STEP_STARTED', 'STEP_FINISHED', 'STEP_FAILED', 'WORK_ORDER_CANCELED'
));

CREATE DOMAIN os_core.work_order_status AS text
CONSTRAINT work_order_status_known CHECK (VALUE IN (
    'DRAFT', 'CLARIFY', 'CONFIRM', 'EXECUTING', 'DONE', 'REFUSED', 'FAILED', 'CANCELED'
));

CREATE DOMAIN os_core.reason_code AS bigint
CONSTRAINT reason_code_u32 CHECK (VALUE BETWEEN 1 AND 4294967295);

CREATE DOMAIN os_core.step_id AS text
CONSTRAINT step_id_length CHECK (char_length(VALUE) <= 96)
CONSTRAINT step_id_not_blank CHECK (NOT os_core.is_blank(VALUE));

CREATE DOMAIN os_core.token_text AS text
CONSTRAINT token_text_length CHECK (char_length(VALUE) <= 128)
CONSTRAINT token_text_not_blank CHECK (NOT os_core.is_blank(VALUE));

CREATE DOMAIN os_core.monotonic_ns AS bigint
CONSTRAINT monotonic_ns_positive CHECK (VALUE > 0);

ALTER DOMAIN os_core.tenant_id OWNER TO selene_owner;
ALTER DOMAIN os_core.work_order_id OWNER TO selene_owner;
ALTER DOMAIN os_core.correlation_id OWNER TO selene_owner;
ALTER DOMAIN os_core.turn_id OWNER TO selene_owner;
ALTER DOMAIN os_core.event_type OWNER TO selene_owner;
ALTER DOMAIN os_core.work_order_status OWNER TO selene_owner;
ALTER DOMAIN os_core.reason_code OWNER TO selene_owner;
ALTER DOMAIN os_core.step_id OWNER TO selene_owner;
ALTER DOMAIN os_core.token_text OWNER TO selene_owner;
ALTER DOMAIN os_core.monotonic_ns OWNER TO selene_owner;

COMMENT ON DOMAIN os_core.tenant_id IS '1-64 characters of A-Z a-z 0-9 _ . : -';
COMMENT ON DOMAIN os_core.work_order_id IS 'Non-blank, at most 128 characters.';
COMMENT ON DOMAIN os_core.correlation_id IS
'A u128: an integer with 1 <= id < 2^128, stored with scale 0 (42, never 42.000).';
COMMENT ON DOMAIN os_core.turn_id IS 'A positive bigint.';
COMMENT ON DOMAIN os_core.event_type IS 'The eight PH1.WORK event types.';
COMMENT ON DOMAIN os_core.work_order_status IS
'Work-order status; DONE, REFUSED, FAILED and CANCELED are terminal.';
COMMENT ON DOMAIN os_core.reason_code IS 'A u32 reason code: 1 <= code <= 2^32-1.';
COMMENT ON DOMAIN os_core.step_id IS 'Non-blank, at most 96 characters.';
COMMENT ON DOMAIN os_core.token_text IS
'Non-blank, at most 128 characters: step input hashes, lease owners and token hashes, idempotency keys.';
COMMENT ON DOMAIN os_core.monotonic_ns IS 'A positive monotonic timestamp in nanoseconds.';

-- The ledger: append-only source of truth.
CREATE TABLE os_core.work_order_ledger (
    tenant_id os_core.tenant_id NOT NULL,
    work_order_event_id bigint GENERATED ALWAYS AS IDENTITY,
    schema_version integer NOT NULL DEFAULT 1,
    work_order_id os_core.work_order_id NOT NULL,
    correlation_id os_core.correlation_id NOT NULL,
    turn_id os_core.turn_id NOT NULL,
    event_type os_core.event_type NOT NULL,
    work_order_status os_core.work_order_status NOT NULL,
    reason_code os_core.reason_code NOT NULL,
    step_id os_core.step_id,
    step_input_hash os_core.token_text,
    lease_owner_id os_core.token_text,
    lease_token_hash os_core.token_text,
    lease_expires_at os_core.monotonic_ns,
    created_at os_core.monotonic_ns NOT NULL,
    idempotency_key os_core.token_text,
    payload jsonb,
    recorded_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    CONSTRAINT work_order_ledger_pkey PRIMARY KEY (tenant_id, work_order_event_id),
    CONSTRAINT work_order_ledger_idempotency_key UNIQUE (
        tenant_id, work_order_id, idempotency_key
    ),
    CONSTRAINT schema_version_v1 CHECK (schema_version = 1),
    CONSTRAINT step_event_has_step_id CHECK (
        event_type NOT IN ('STEP_STARTED', 'STEP_FINISHED', 'STEP_FAILED')
        OR step_id IS NOT NULL
    ),
    CONSTRAINT step_input_hash_has_step_id CHECK (
        step_input_hash IS NULL OR step_id IS NOT NULL
    ),
    CONSTRAINT lease_fields_together CHECK (
        (lease_owner_id IS NULL) = (lease_token_hash IS NULL)
        AND (lease_owner_id IS NULL) = (lease_expires_at IS NULL)
    ),
    CONSTRAINT lease_expires_after_created CHECK (
        lease_expires_at IS NULL OR lease_expires_at > created_at
    ),
    CONSTRAINT canceled_event_has_canceled_status CHECK (
        (event_type = 'WORK_ORDER_CANCELED') = (work_order_status = 'CANCELED')
    ),
    CONSTRAINT payload_is_bounded_object CHECK (
        payload IS NULL
        OR (jsonb_typeof(payload) = 'object' AND pg_column_size(payload) <= 65536)
    )
);
ALTER TABLE os_core.work_order_ledger ENABLE ROW LEVEL SECURITY;
ALTER TABLE os_core.work_order_ledger FORCE ROW LEVEL SECURITY;
ALTER TABLE os_core.work_order_ledger OWNER TO selene_owner;

CREATE INDEX work_order_ledger_by_work_order
ON os_core.work_order_ledger (tenant_id, work_order_id, work_order_event_id);

COMMENT ON TABLE os_core.work_order_ledger IS
'Append-only ledger of work-order events, the single source of truth. Written only by os_core.work_order_ledger_append; UPDATE, DELETE and TRUNCATE are refused.';
COMMENT ON COLUMN os_core.work_order_ledger.work_order_event_id IS
'Event id, unique across tenants; within a work order it grows in commit order.';
COMMENT ON COLUMN os_core.work_order_ledger.created_at IS
'The event''s monotonic timestamp in nanoseconds, given by the caller; never goes backwards within a work order.';
COMMENT ON COLUMN os_core.work_order_ledger.idempotency_key IS
'Optional; unique per (tenant_id, work_order_id). Appending the same key and content again returns the original event.';
COMMENT ON COLUMN os_core.work_order_ledger.payload IS
'Optional JSON object (fields set, conflict resolutions), at most 64 KiB.';
COMMENT ON COLUMN os_core.work_order_ledger.recorded_at IS
'Wall-clock time of the append, for operators. No projection reads it, so rebuilds stay deterministic.';

-- The current state of each work order: a pure function of the ledger.
CREATE TABLE os_core.work_orders_current (
    tenant_id os_core.tenant_id NOT NULL,
    work_order_id os_core.work_order_id NOT NULL,
    schema_version integer NOT NULL,
    correlation_id os_core.correlation_id NOT NULL,
    turn_id os_core.turn_id NOT NULL,
    work_order_status os_core.work_order_status NOT NULL,
    last_event_id bigint NOT NULL,
    last_reason_code os_core.reason_code NOT NULL,
    last_updated_at os_core.monotonic_ns NOT NULL,
    step_id os_core.step_id,
    step_input_hash os_core.token_text,
    lease_owner_id os_core.token_text,
    lease_token_hash os_core.token_text,
    lease_expires_at os_core.monotonic_ns,
    event_count bigint NOT NULL,
    CONSTRAINT work_orders_current_pkey PRIMARY KEY (tenant_id, work_order_id),
    CONSTRAINT work_orders_current_correlation_id UNIQUE (tenant_id, correlation_id),
    CONSTRAINT event_count_positive CHECK (event_count > 0)
);
ALTER TABLE os_core.work_orders_current ENABLE ROW LEVEL SECURITY;
ALTER TABLE os_core.work_orders_current FORCE ROW LEVEL SECURITY;
ALTER TABLE os_core.work_orders_current OWNER TO selene_owner;

COMMENT ON TABLE os_core.work_orders_current IS
'Projection: one row per (tenant_id, work_order_id), updated by every append and recomputable from the ledger by os_core.work_orders_current_rebuild.';
COMMENT ON COLUMN os_core.work_orders_current.last_event_id IS
'work_order_event_id of the work order''s latest event.';
COMMENT ON COLUMN os_core.work_orders_current.last_updated_at IS
'created_at of the work order''s latest event.';
COMMENT ON COLUMN os_core.work_orders_current.step_id IS
'step_id of the latest event that named a step (with its step_input_hash).';
COMMENT ON COLUMN os_core.work_orders_current.lease_owner_id IS
'Lease of the latest event that carried one; cleared when the work order reaches a terminal status.';
COMMENT ON COLUMN os_core.work_orders_current.event_count IS
'Number of ledger events of the work order (what an optimistic-concurrency append expects).';

-- Attempt history per (work order, step).
CREATE TABLE os_core.work_order_step_attempts (
    tenant_id os_core.tenant_id NOT NULL,
    work_order_id os_core.work_order_id NOT NULL,
    step_id os_core.step_id NOT NULL,
    attempt_index integer NOT NULL,
    attempt_status text NOT NULL,
    step_input_hash os_core.token_text,
    started_event_id bigint NOT NULL,
    started_at os_core.monotonic_ns NOT NULL,
    finished_event_id bigint,
    finished_at os_core.monotonic_ns,
    reason_code os_core.reason_code,
    CONSTRAINT work_order_step_attempts_pkey PRIMARY KEY (
        tenant_id, work_order_id, step_id, attempt_index
    ),
    CONSTRAINT attempt_index_positive CHECK (attempt_index > 0),
    CONSTRAINT attempt_status_known CHECK (
        attempt_status IN ('STARTED', 'FINISHED', 'FAILED')
    ),
    CONSTRAINT attempt_finish_fields_together CHECK (
        (attempt_status = 'STARTED') = (finished_event_id IS NULL)
        AND (finished_event_id IS NULL) = (finished_at IS NULL)
    )
);
ALTER TABLE os_core.work_order_step_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE os_core.work_order_step_attempts FORCE ROW LEVEL SECURITY;
ALTER TABLE os_core.work_order_step_attempts OWNER TO selene_owner;

COMMENT ON TABLE os_core.work_order_step_attempts IS
'Projection: one row per attempt of a step of a work order (STEP_STARTED opens one, STEP_FINISHED or STEP_FAILED closes it).';

-- Lease state per work order.
CREATE TABLE os_core.work_order_leases (
    tenant_id os_core.tenant_id NOT NULL,
    work_order_id os_core.work_order_id NOT NULL,
    lease_owner_id os_core.token_text NOT NULL,
    lease_token_hash os_core.token_text NOT NULL,
    lease_state text NOT NULL,
    lease_expires_at os_core.monotonic_ns NOT NULL,
    acquired_event_id bigint NOT NULL,
    acquired_at os_core.monotonic_ns NOT NULL,
    last_event_id bigint NOT NULL,
    released_at os_core.monotonic_ns,
    CONSTRAINT work_order_leases_pkey PRIMARY KEY (tenant_id, work_order_id),
    CONSTRAINT lease_state_known CHECK (lease_state IN ('ACTIVE', 'RELEASED')),
    CONSTRAINT lease_released_at_when_released CHECK (
        (lease_state = 'RELEASED') = (released_at IS NOT NULL)
    )
);
ALTER TABLE os_core.work_order_leases ENABLE ROW LEVEL SECURITY;
ALTER TABLE os_core.work_order_leases FORCE ROW LEVEL SECURITY;
ALTER TABLE os_core.work_order_leases OWNER TO selene_owner;

COMMENT ON TABLE os_core.work_order_leases IS
'Projection: the lease of each work order (owner, token hash, expiry); only token hashes are stored.';

-- PH1.J audit events: one per append or idempotent replay, same transaction.
CREATE TABLE ph1j.audit_events (
    tenant_id os_core.tenant_id NOT NULL,
    audit_event_id bigint GENERATED ALWAYS AS IDENTITY,
    capability text NOT NULL,
    outcome text NOT NULL,
    work_order_id os_core.work_order_id NOT NULL,
    correlation_id os_core.correlation_id NOT NULL,
    turn_id os_core.turn_id NOT NULL,
    event_type os_core.event_type NOT NULL,
    reason_code os_core.reason_code NOT NULL,
    idempotency_key os_core.token_text,
    work_order_event_id bigint NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    CONSTRAINT audit_events_pkey PRIMARY KEY (tenant_id, audit_event_id),
    CONSTRAINT capability_known CHECK (capability IN ('OS_WORK_ORDER_LEDGER_APPEND')),
    CONSTRAINT outcome_known CHECK (
        outcome IN ('APPENDED', 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY')
    )
);
ALTER TABLE ph1j.audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE ph1j.audit_events FORCE ROW LEVEL SECURITY;
ALTER TABLE ph1j.audit_events OWNER TO selene_owner;

CREATE INDEX audit_events_by_work_order
ON ph1j.audit_events (tenant_id, work_order_id, audit_event_id);

COMMENT ON TABLE ph1j.audit_events IS
'Append-only PH1.J audit trail: one row per ledger append (outcome APPENDED) or idempotent replay (outcome OS_WORK_ORDER_IDEMPOTENCY_REPLAY), written in the append''s transaction.';
COMMENT ON COLUMN ph1j.audit_events.work_order_event_id IS
'The ledger event appended, or for a replay the original event returned.';
COMMENT ON COLUMN ph1j.audit_events.reason_code IS
'The reason_code of the work-order event the audit row is about.';
