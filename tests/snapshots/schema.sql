--
-- PostgreSQL database dump
--



SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: os_core; Type: SCHEMA; Schema: -; Owner: selene_owner
--

CREATE SCHEMA os_core;


ALTER SCHEMA os_core OWNER TO selene_owner;

--
-- Name: SCHEMA os_core; Type: COMMENT; Schema: -; Owner: selene_owner
--

COMMENT ON SCHEMA os_core IS 'SELENE_OS_CORE_TABLES: the work-order ledger, its projections and the capability functions.';


--
-- Name: ph1j; Type: SCHEMA; Schema: -; Owner: selene_owner
--

CREATE SCHEMA ph1j;


ALTER SCHEMA ph1j OWNER TO selene_owner;

--
-- Name: SCHEMA ph1j; Type: COMMENT; Schema: -; Owner: selene_owner
--

COMMENT ON SCHEMA ph1j IS 'PH1.J audit events emitted by the os_core capabilities.';


--
-- Name: correlation_id; Type: DOMAIN; Schema: os_core; Owner: selene_owner
--

CREATE DOMAIN os_core.correlation_id AS numeric
	CONSTRAINT correlation_id_u128 CHECK (((scale(VALUE) = 0) AND (VALUE >= (1)::numeric) AND (VALUE < '340282366920938463463374607431768211456'::numeric)));


ALTER DOMAIN os_core.correlation_id OWNER TO selene_owner;

--
-- Name: DOMAIN correlation_id; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON DOMAIN os_core.correlation_id IS 'A u128: an integer with 1 <= id < 2^128, stored with scale 0 (42, never 42.000).';


--
-- Name: event_type; Type: DOMAIN; Schema: os_core; Owner: selene_owner
--

CREATE DOMAIN os_core.event_type AS text
	CONSTRAINT event_type_known CHECK ((VALUE = ANY (ARRAY['WORK_ORDER_CREATED'::text, 'FIELD_SET'::text, 'FIELD_CONFLICT_RESOLVED'::text, 'STATUS_CHANGED'::text, 'STEP_STARTED'::text, 'STEP_FINISHED'::text, 'STEP_FAILED'::text, 'WORK_ORDER_CANCELED'::text])));


ALTER DOMAIN os_core.event_type OWNER TO selene_owner;

--
-- Name: DOMAIN event_type; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON DOMAIN os_core.event_type IS 'The eight PH1.WORK event types.';


--
-- Name: monotonic_ns; Type: DOMAIN; Schema: os_core; Owner: selene_owner
--

CREATE DOMAIN os_core.monotonic_ns AS bigint
	CONSTRAINT monotonic_ns_positive CHECK ((VALUE > 0));


ALTER DOMAIN os_core.monotonic_ns OWNER TO selene_owner;

--
-- Name: DOMAIN monotonic_ns; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON DOMAIN os_core.monotonic_ns IS 'A positive monotonic timestamp in nanoseconds.';


--
-- Name: reason_code; Type: DOMAIN; Schema: os_core; Owner: selene_owner
--

CREATE DOMAIN os_core.reason_code AS bigint
	CONSTRAINT reason_code_u32 CHECK (((VALUE >= 1) AND (VALUE <= '4294967295'::bigint)));


ALTER DOMAIN os_core.reason_code OWNER TO selene_owner;

--
-- Name: DOMAIN reason_code; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON DOMAIN os_core.reason_code IS 'A u32 reason code: 1 <= code <= 2^32-1.';


--
-- Name: is_blank(text); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.is_blank(p_value text) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (p_value ~ ('^[\u0009-\u000d\u0020\u0085\u00a0\u1680\u180e\u2000-\u200b'::text || '\u2028\u2029\u202f\u205f\u2060\u3000\ufeff]*$'::text));


ALTER FUNCTION os_core.is_blank(p_value text) OWNER TO selene_owner;

--
-- Name: FUNCTION is_blank(p_value text); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.is_blank(p_value text) IS 'True when the text is empty or made only of whitespace of any kind (Unicode White_Space and zero-width characters).';


--
-- Name: step_id; Type: DOMAIN; Schema: os_core; Owner: selene_owner
--

CREATE DOMAIN os_core.step_id AS text
	CONSTRAINT step_id_length CHECK ((char_length(VALUE) <= 96))
	CONSTRAINT step_id_not_blank CHECK ((NOT os_core.is_blank(VALUE)));


ALTER DOMAIN os_core.step_id OWNER TO selene_owner;

--
-- Name: DOMAIN step_id; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON DOMAIN os_core.step_id IS 'Non-blank, at most 96 characters.';


--
-- Name: tenant_id; Type: DOMAIN; Schema: os_core; Owner: selene_owner
--

CREATE DOMAIN os_core.tenant_id AS text
	CONSTRAINT tenant_id_format CHECK (((VALUE ~ '^[A-Za-z0-9_.:-]+$'::text) AND (char_length(VALUE) <= 64)));


ALTER DOMAIN os_core.tenant_id OWNER TO selene_owner;

--
-- Name: DOMAIN tenant_id; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON DOMAIN os_core.tenant_id IS '1-64 characters of A-Z a-z 0-9 _ . : -, the rule of os_core.tenant_id_violation (tests check they agree).';


--
-- Name: token_text; Type: DOMAIN; Schema: os_core; Owner: selene_owner
--

CREATE DOMAIN os_core.token_text AS text
	CONSTRAINT token_text_length CHECK ((char_length(VALUE) <= 128))
	CONSTRAINT token_text_not_blank CHECK ((NOT os_core.is_blank(VALUE)));


ALTER DOMAIN os_core.token_text OWNER TO selene_owner;

--
-- Name: DOMAIN token_text; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON DOMAIN os_core.token_text IS 'Non-blank, at most 128 characters: step input hashes, lease owners and token hashes, idempotency keys.';


--
-- Name: turn_id; Type: DOMAIN; Schema: os_core; Owner: selene_owner
--

CREATE DOMAIN os_core.turn_id AS bigint
	CONSTRAINT turn_id_positive CHECK ((VALUE > 0));


ALTER DOMAIN os_core.turn_id OWNER TO selene_owner;

--
-- Name: DOMAIN turn_id; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON DOMAIN os_core.turn_id IS 'A positive bigint.';


--
-- Name: work_order_id; Type: DOMAIN; Schema: os_core; Owner: selene_owner
--

CREATE DOMAIN os_core.work_order_id AS text
	CONSTRAINT work_order_id_length CHECK ((char_length(VALUE) <= 128))
	CONSTRAINT work_order_id_not_blank CHECK ((NOT os_core.is_blank(VALUE)));


ALTER DOMAIN os_core.work_order_id OWNER TO selene_owner;

--
-- Name: DOMAIN work_order_id; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON DOMAIN os_core.work_order_id IS 'Non-blank, at most 128 characters.';


--
-- Name: work_order_key; Type: TYPE; Schema: os_core; Owner: selene_owner
--

CREATE TYPE os_core.work_order_key AS (
	tenant_id text,
	work_order_id text
);


ALTER TYPE os_core.work_order_key OWNER TO selene_owner;

--
-- Name: TYPE work_order_key; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON TYPE os_core.work_order_key IS 'The key of a work order, (tenant_id, work_order_id). Internal: the rebuild lists the work orders it rewrites in an array of it.';


--
-- Name: work_order_status; Type: DOMAIN; Schema: os_core; Owner: selene_owner
--

CREATE DOMAIN os_core.work_order_status AS text
	CONSTRAINT work_order_status_known CHECK ((VALUE = ANY (ARRAY['DRAFT'::text, 'CLARIFY'::text, 'CONFIRM'::text, 'EXECUTING'::text, 'DONE'::text, 'REFUSED'::text, 'FAILED'::text, 'CANCELED'::text])));


ALTER DOMAIN os_core.work_order_status OWNER TO selene_owner;

--
-- Name: DOMAIN work_order_status; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON DOMAIN os_core.work_order_status IS 'Work-order status; DONE, REFUSED, FAILED and CANCELED are terminal.';


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: audit_events; Type: TABLE; Schema: ph1j; Owner: selene_owner
--

CREATE TABLE ph1j.audit_events (
    tenant_id text NOT NULL,
    audit_event_id bigint NOT NULL,
    capability text NOT NULL,
    outcome text NOT NULL,
    work_order_id os_core.work_order_id,
    correlation_id os_core.correlation_id,
    turn_id os_core.turn_id,
    event_type os_core.event_type,
    reason_code os_core.reason_code,
    idempotency_key os_core.token_text,
    work_order_event_id bigint,
    recorded_at timestamp with time zone DEFAULT statement_timestamp() NOT NULL,
    details jsonb,
    replay_created_at os_core.monotonic_ns,
    paging_horizon xid8,
    paging_node_id bigint,
    CONSTRAINT append_audit_names_its_event CHECK (((capability <> 'OS_WORK_ORDER_LEDGER_APPEND'::text) OR ((work_order_id IS NOT NULL) AND (correlation_id IS NOT NULL) AND (turn_id IS NOT NULL) AND (event_type IS NOT NULL) AND (reason_code IS NOT NULL) AND (work_order_event_id IS NOT NULL) AND (outcome = ANY (ARRAY['APPENDED'::text, 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY'::text]))))),
    CONSTRAINT capability_known CHECK ((capability = ANY (ARRAY['OS_WORK_ORDER_LEDGER_APPEND'::text, 'OS_WORK_ORDER_CURRENT_REBUILD'::text, 'OS_WORK_ORDER_CURRENT_VERIFY'::text]))),
    CONSTRAINT diagnostic_audit_has_details CHECK (((capability = 'OS_WORK_ORDER_LEDGER_APPEND'::text) OR ((details IS NOT NULL) AND (jsonb_typeof(details) = 'object'::text)))),
    CONSTRAINT outcome_known CHECK ((outcome = ANY (ARRAY['APPENDED'::text, 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY'::text, 'REBUILT'::text, 'VERIFIED'::text]))),
    CONSTRAINT replay_created_at_only_on_replays CHECK (((replay_created_at IS NULL) OR (outcome = 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY'::text))),
    CONSTRAINT tenant_id_format CHECK (((tenant_id)::os_core.tenant_id IS NOT NULL))
);

ALTER TABLE ONLY ph1j.audit_events FORCE ROW LEVEL SECURITY;


ALTER TABLE ph1j.audit_events OWNER TO selene_owner;

--
-- Name: TABLE audit_events; Type: COMMENT; Schema: ph1j; Owner: selene_owner
--

COMMENT ON TABLE ph1j.audit_events IS 'Append-only PH1.J audit trail: one row per ledger append (outcome APPENDED) or idempotent replay (outcome OS_WORK_ORDER_IDEMPOTENCY_REPLAY), written in the append''s transaction; and one row per tenant for a rebuild or verify called with p_emit_audit (outcome REBUILT or VERIFIED).';


--
-- Name: COLUMN audit_events.reason_code; Type: COMMENT; Schema: ph1j; Owner: selene_owner
--

COMMENT ON COLUMN ph1j.audit_events.reason_code IS 'The reason_code of the work-order event the audit row is about.';


--
-- Name: COLUMN audit_events.work_order_event_id; Type: COMMENT; Schema: ph1j; Owner: selene_owner
--

COMMENT ON COLUMN ph1j.audit_events.work_order_event_id IS 'The ledger event appended, or for a replay the original event returned.';


--
-- Name: COLUMN audit_events.details; Type: COMMENT; Schema: ph1j; Owner: selene_owner
--

COMMENT ON COLUMN ph1j.audit_events.details IS 'For a rebuild or verify audit row: what it found (counts of work orders, events, rows rewritten or differences).';


--
-- Name: COLUMN audit_events.replay_created_at; Type: COMMENT; Schema: ph1j; Owner: selene_owner
--

COMMENT ON COLUMN ph1j.audit_events.replay_created_at IS 'For an idempotent replay (outcome OS_WORK_ORDER_IDEMPOTENCY_REPLAY): the created_at the replay carried, which a retry may have re-stamped; the ledger and the projections keep the original event''s. NULL on every other row, and on replay rows written before migration 0008.';


--
-- Name: COLUMN audit_events.paging_horizon; Type: COMMENT; Schema: ph1j; Owner: selene_owner
--

COMMENT ON COLUMN ph1j.audit_events.paging_horizon IS 'One above the highest running transaction id, read just after the audit_event_id was drawn (os_core.paging_horizon). os_core.audit_read returns the row once no transaction it cannot see has an xid below it. NULL (rows written before migration 0010) counts as reached.';


--
-- Name: COLUMN audit_events.paging_node_id; Type: COMMENT; Schema: ph1j; Owner: selene_owner
--

COMMENT ON COLUMN ph1j.audit_events.paging_node_id IS 'System identifier of the node that wrote the row, whose transaction ids paging_horizon counts in. A read on another node (after a shard move or a restore) passes the row without its horizon. NULL before migration 0010.';


--
-- Name: audit_read(text, bigint, integer); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.audit_read(p_tenant_id text, p_after_audit_event_id bigint DEFAULT 0, p_limit integer DEFAULT 1000) RETURNS SETOF ph1j.audit_events
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    _snapshot pg_snapshot := pg_current_snapshot();
    _own xid8 := pg_current_xact_id_if_assigned();
    _horizon xid8;
    _node bigint := os_core.node_id();
BEGIN
    -- The usual case in one comparison; require_tenant_scope raises exactly its error.
    IF p_tenant_id IS NULL OR p_tenant_id IS DISTINCT FROM os_core.current_tenant_id() THEN
        PERFORM os_core.require_tenant_scope(p_tenant_id);
    END IF;
    IF p_after_audit_event_id IS NULL OR p_after_audit_event_id < 0 THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            'after_audit_event_id must be >= 0 (0 reads from the start)'
        );
    END IF;
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 10000 THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            'limit must be between 1 and 10000'
        );
    END IF;

    -- Audit ids, like event ids, are drawn before commit: a smaller one may commit
    -- after a larger one. Every audit row (an append's, a replay's, a rebuild's or a
    -- verify's) stores the paging horizon read just after its id was drawn, by a
    -- transaction that had its xid before drawing it (ph1j.emit_append_audit,
    -- ph1j.emit_diagnostic_audit). The rule is the ledger read's
    -- (os_core.work_order_ledger_read), with the same horizon: a row is returned only
    -- when its horizon is at or below the lowest xid of any other transaction this
    -- snapshot cannot see, so every transaction that could still commit a smaller
    -- audit id has ended. The page stops at the first row not reached. A row's own
    -- ledger event being safe would not do: replays and diagnostics write audit rows
    -- with no new event, and audit ids are drawn after event ids.
    IF _own IS NULL THEN
        _horizon := pg_snapshot_xmin(_snapshot);
    ELSE
        _horizon := least(
            (SELECT min(x.xid) FROM pg_snapshot_xip(_snapshot) AS x (xid)),
            CASE
                WHEN pg_snapshot_xmax(_snapshot) = _own
                    THEN (_own::text::bigint + 1)::text::xid8
                ELSE pg_snapshot_xmax(_snapshot)
            END
        );
    END IF;
    -- A row written on another node (a shard move, a restore) or before migration 0010
    -- (no node) was committed before its rows came here: it is passed.
    RETURN QUERY
    SELECT
        p.tenant_id, p.audit_event_id, p.capability, p.outcome, p.work_order_id,
        p.correlation_id, p.turn_id, p.event_type, p.reason_code, p.idempotency_key,
        p.work_order_event_id, p.recorded_at, p.details, p.replay_created_at,
        p.paging_horizon, p.paging_node_id
    FROM (
        SELECT
            a.*,
            bool_and(
                a.paging_node_id IS DISTINCT FROM _node
                OR coalesce(a.paging_horizon, '0'::xid8) <= _horizon
                -- A horizon stored before a crash or a failover, above every xid this
                -- node has given out since (asked only of a horizon above the xmax).
                OR (
                    a.paging_horizon > pg_snapshot_xmax(_snapshot)
                    AND coalesce(
                        a.paging_horizon > os_core.first_unassigned_xid(_snapshot, _own), FALSE
                    )
                )
            ) OVER (ORDER BY a.audit_event_id ROWS UNBOUNDED PRECEDING) AS reached
        FROM ph1j.audit_events AS a
        WHERE a.tenant_id = p_tenant_id AND a.audit_event_id > p_after_audit_event_id
        ORDER BY a.audit_event_id
        LIMIT p_limit
    ) AS p
    WHERE p.reached;
END;
$$;


ALTER FUNCTION os_core.audit_read(p_tenant_id text, p_after_audit_event_id bigint, p_limit integer) OWNER TO selene_owner;

--
-- Name: FUNCTION audit_read(p_tenant_id text, p_after_audit_event_id bigint, p_limit integer); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.audit_read(p_tenant_id text, p_after_audit_event_id bigint, p_limit integer) IS 'PH1.J audit trail read: the declared tenant''s audit rows (appends, idempotent replays, rebuilds and verifies) with audit_event_id > p_after_audit_event_id, in id order, at most p_limit (1-10000). Pass the last id of a page as p_after_audit_event_id to read the next. Never passes over a row still to commit: like the tenant-wide ledger read, it returns only rows below every running transaction''s horizon, so a page may end early while writers are active (read on from its last id). Errors: SE003 tenant scope, SE004 bad paging arguments.';


--
-- Name: capabilities(); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.capabilities() RETURNS TABLE(sql_function text, kind text, client_methods text[], cli_commands text[], granted_to text[], delegated_on_citus boolean, description text)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    BEGIN ATOMIC
 SELECT v.sql_function,
     v.kind,
     v.client_methods,
     v.cli_commands,
     v.granted_to,
     v.delegated_on_citus,
     v.description
    FROM ( VALUES (1,('os_core.work_order_ledger_append(text,text,numeric,bigint,text,text,bigint,bigint,'::text || 'text,text,text,text,bigint,text,jsonb,integer,bigint)'::text),'capability'::text,'{append}'::text[],'{append}'::text[],'{selene_os,selene_dba}'::text[],true,('Append one event to a work order''s ledger: validated, idempotent, projected, '::text || 'audited.'::text)), (2,'os_core.work_order_ledger_append_many(text,jsonb)'::text,'capability'::text,'{append_many}'::text[],'{"append --file","append --jsonl"}'::text[],'{selene_os,selene_dba}'::text[],true,'Append a batch of one tenant''s events in one transaction, all or nothing.'::text), (3,'os_core.work_order_current_read(text,text)'::text,'capability'::text,'{current}'::text[],'{current}'::text[],'{selene_os,selene_dba}'::text[],true,'The current record of a work order, or no row.'::text), (4,'os_core.work_order_ledger_read(text,text,bigint,integer)'::text,'capability'::text,'{ledger,ledger_page,follow}'::text[],'{ledger,follow}'::text[],'{selene_os,selene_dba}'::text[],true,'A keyset page of the tenant''s (or one work order''s) ledger events, by id.'::text), (5,'os_core.audit_read(text,bigint,integer)'::text,'capability'::text,'{audit_page,follow_audit}'::text[],'{"follow --audit"}'::text[],'{selene_os,selene_dba}'::text[],true,'A keyset page of the tenant''s PH1.J audit rows, by id.'::text), (6,'os_core.work_order_cancel(text,text,bigint,text,bigint,bigint)'::text,'capability'::text,'{cancel}'::text[],'{cancel}'::text[],'{selene_os,selene_dba}'::text[],true,'Cancel a work order: a WORK_ORDER_CANCELED event through the append.'::text), (7,'os_core.work_orders_list_pending(text,text[],bigint,integer)'::text,'capability'::text,'{list_pending}'::text[],'{list-pending}'::text[],'{selene_os,selene_dba}'::text[],true,'The tenant''s work orders in the given statuses, newest first.'::text), (8,'os_core.work_order_step_attempts_read(text,text)'::text,'capability'::text,'{step_attempts}'::text[],'{step-attempts}'::text[],'{selene_os,selene_dba}'::text[],true,'The attempts of each step of a work order, in start order.'::text), (9,'os_core.work_order_lease_read(text,text)'::text,'capability'::text,'{lease}'::text[],'{lease}'::text[],'{selene_os,selene_dba}'::text[],true,'The lease of a work order, or no row.'::text), (10,'os_core.work_orders_current_rebuild(text,boolean)'::text,'capability'::text,'{rebuild}'::text[],'{rebuild}'::text[],'{selene_os,selene_dba}'::text[],false,'Make the projections equal to the ledger, one tenant or all (selene_dba), online.'::text), (11,'os_core.work_orders_current_verify(text,boolean)'::text,'capability'::text,'{verify}'::text[],'{verify}'::text[],'{selene_os,selene_dba}'::text[],false,'Compare the projections with the ledger: one row per difference.'::text), (12,'os_core.tenant_stats(text)'::text,'capability'::text,'{stats}'::text[],'{stats}'::text[],'{selene_os,selene_dba}'::text[],false,'Per tenant: events, work orders by status, leases, whether the projection agrees.'::text), (13,'os_core.consumer_position(text,text,text)'::text,'capability'::text,'{consumer}'::text[],'{"follow --consumer"}'::text[],'{selene_os,selene_dba}'::text[],true,'Claim a durable consumer and read its committed position.'::text), (14,'os_core.consumer_commit(text,text,bigint,text)'::text,'capability'::text,'{consumer}'::text[],'{"follow --consumer"}'::text[],'{selene_os,selene_dba}'::text[],true,'Move a durable consumer''s position forwards, in the consumer''s transaction.'::text), (15,'os_core.consumer_stats(text)'::text,'capability'::text,'{consumer_stats}'::text[],'{consumer-stats}'::text[],'{selene_os,selene_dba}'::text[],true,'Each durable consumer of the tenant: its position and its lag.'::text), (16,'os_core.set_tenant(text)'::text,'support'::text,'{}'::text[],'{}'::text[],'{selene_os,selene_dba}'::text[],false,'Declare the transaction''s tenant; every client call makes it first.'::text), (17,'os_core.error_codes()'::text,'support'::text,'{}'::text[],'{}'::text[],'{selene_os,selene_dba,selene_projector}'::text[],false,'The error catalogue: SQLSTATE, reason code, exception class, meaning.'::text), (18,'os_core.capabilities()'::text,'support'::text,'{}'::text[],'{}'::text[],'{selene_os,selene_dba}'::text[],false,'This catalogue.'::text), (19,'os_core.work_orders_current_rebuild_local(text,boolean)'::text,'internal'::text,'{}'::text[],'{}'::text[],'{selene_os,selene_dba}'::text[],true,'The rebuild of one tenant where its rows are, called by rebuild as the caller.'::text), (20,'os_core.work_orders_current_verify_local(text,boolean)'::text,'internal'::text,'{}'::text[],'{}'::text[],'{selene_os,selene_dba}'::text[],true,'The verify of one tenant where its rows are, called by verify as the caller.'::text), (21,'os_core.tenant_stats_local(text)'::text,'internal'::text,'{}'::text[],'{}'::text[],'{selene_os,selene_dba}'::text[],true,'The stats of one tenant where its rows are, called by tenant_stats as the caller.'::text), (22,'os_core.scope_tenant_ids(text)'::text,'internal'::text,'{}'::text[],'{}'::text[],'{selene_os,selene_dba}'::text[],false,'The tenants a rebuild, verify or tenant_stats call covers.'::text), (23,'os_core.is_distributed()'::text,'internal'::text,'{}'::text[],'{}'::text[],'{selene_os,selene_dba,selene_projector}'::text[],false,'Whether the tables are distributed by Citus.'::text), (24,'os_core.require_dba_or_tenant_scope(text)'::text,'internal'::text,'{}'::text[],'{}'::text[],'{selene_os,selene_dba,selene_projector}'::text[],false,'The scope check of rebuild, verify and tenant_stats; reveals nothing.'::text), (25,'os_core.is_blank(text)'::text,'internal'::text,'{}'::text[],'{}'::text[],'{selene_os,selene_dba,selene_projector}'::text[],false,'The blank rule of the domains, checked again where rows arrive as text on Citus.'::text)) v(ord, sql_function, kind, client_methods, cli_commands, granted_to, delegated_on_citus, description)
   ORDER BY v.ord;
END;


ALTER FUNCTION os_core.capabilities() OWNER TO selene_owner;

--
-- Name: FUNCTION capabilities(); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.capabilities() IS 'The capability catalogue: per SQL function selene_os or selene_dba may execute, its signature (as regprocedure prints it), kind (capability: a public capability; support: set_tenant, error_codes; internal: executable only because capabilities call it as the caller), client methods, CLI commands, the roles granted EXECUTE, whether Citus delegates it to the tenant''s worker, and what it does. Grants, README and tests are checked against it.';


--
-- Name: consumer_commit(text, text, bigint, text); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.consumer_commit(p_tenant_id text, p_consumer text, p_event_id bigint, p_stream text DEFAULT 'ledger'::text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    _current bigint;
    _last bigint;
    -- A value, not a call in the DO UPDATE below: Citus refuses a function there unless
    -- it is IMMUTABLE.
    _now timestamptz := statement_timestamp();
BEGIN
    -- The usual case in one comparison; require_tenant_scope raises exactly its error.
    IF p_tenant_id IS NULL OR p_tenant_id IS DISTINCT FROM os_core.current_tenant_id() THEN
        PERFORM os_core.require_tenant_scope(p_tenant_id);
    END IF;
    IF p_event_id IS NULL OR p_event_id < 0 THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            format(
                'event_id must be an event id of the stream, or 0, not %s',
                coalesce(p_event_id::text, 'NULL')
            )
        );
    END IF;
    -- Under the consumer's lock (taken already if consumer_position ran first in this
    -- transaction), so the check and the write see the latest committed position.
    _current := os_core.lock_consumer(p_tenant_id, p_consumer, p_stream);
    IF p_event_id < _current THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            format(
                'consumer %s of the %s stream is at position %s: position %s would move it backwards',
                quote_literal(p_consumer), p_stream, _current, p_event_id
            ),
            'a position never moves backwards: read it with os_core.consumer_position and go on from there'
        );
    END IF;
    IF p_event_id = _current AND (
        _current > 0 OR EXISTS (
            SELECT FROM os_core.consumer_positions AS p
            WHERE p.tenant_id = p_tenant_id AND p.stream = p_stream AND p.consumer = p_consumer
        )
    ) THEN
        RETURN _current;  -- the same position again: nothing to write
    END IF;
    -- A position past the stream's last event would skip events still to come.
    IF p_stream = 'ledger' THEN
        SELECT max(l.work_order_event_id) INTO _last
        FROM os_core.work_order_ledger AS l
        WHERE l.tenant_id = p_tenant_id;
    ELSE
        SELECT max(a.audit_event_id) INTO _last
        FROM ph1j.audit_events AS a
        WHERE a.tenant_id = p_tenant_id;
    END IF;
    IF p_event_id > coalesce(_last, 0) THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            format(
                'event_id %s is past the last event of the tenant''s %s stream (%s)',
                p_event_id, p_stream, coalesce(_last::text, 'none yet')
            ),
            'commit the id of the last event the consumer processed, as a read returned it'
        );
    END IF;
    -- A new consumer's first commit (0 included) creates its row. Every writer holds
    -- the consumer's lock, so nothing else writes the row meanwhile.
    INSERT INTO os_core.consumer_positions AS p (
        tenant_id, stream, consumer, committed_position
    )
    VALUES (p_tenant_id, p_stream, p_consumer, p_event_id)
    ON CONFLICT ON CONSTRAINT consumer_positions_pkey DO UPDATE
        SET committed_position = excluded.committed_position, updated_at = _now;
    RETURN p_event_id;
END;
$$;


ALTER FUNCTION os_core.consumer_commit(p_tenant_id text, p_consumer text, p_event_id bigint, p_stream text) OWNER TO selene_owner;

--
-- Name: FUNCTION consumer_commit(p_tenant_id text, p_consumer text, p_event_id bigint, p_stream text); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.consumer_commit(p_tenant_id text, p_consumer text, p_event_id bigint, p_stream text) IS 'Durable consumers: sets the position of consumer p_consumer of the declared tenant on stream p_stream (ledger, the default, or audit) to p_event_id, the id of the last event it processed, in the caller''s transaction (it commits or rolls back with the consumer''s own effects); returns it. Committing the same position again writes nothing; a new consumer''s first commit, 0 included, creates its row (then consumer_stats shows it). Takes the consumer''s lock, as os_core.consumer_position does. Errors: SE003 tenant scope; SE004 a malformed consumer name, an unknown stream, a negative or NULL id, an id past the stream''s last event of the tenant, a position behind the committed one (DETAIL names both), or a transaction that is not READ COMMITTED.';


--
-- Name: consumer_position(text, text, text); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.consumer_position(p_tenant_id text, p_consumer text, p_stream text DEFAULT 'ledger'::text) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    -- The usual case in one comparison; require_tenant_scope raises exactly its error.
    IF p_tenant_id IS NULL OR p_tenant_id IS DISTINCT FROM os_core.current_tenant_id() THEN
        PERFORM os_core.require_tenant_scope(p_tenant_id);
    END IF;
    RETURN os_core.lock_consumer(p_tenant_id, p_consumer, p_stream);
END;
$$;


ALTER FUNCTION os_core.consumer_position(p_tenant_id text, p_consumer text, p_stream text) OWNER TO selene_owner;

--
-- Name: FUNCTION consumer_position(p_tenant_id text, p_consumer text, p_stream text); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.consumer_position(p_tenant_id text, p_consumer text, p_stream text) IS 'Durable consumers: the committed position of consumer p_consumer of the declared tenant (0 for a new one) on stream p_stream, ledger (work_order_event_id values, the default) or audit (audit_event_id values). Locks the consumer until the transaction ends (a transaction-level advisory lock, which takes no transaction id): a second instance of it waits here (bounded by lock_timeout, 55P03) and then gets the position the first committed. Writes nothing. Call it first in the READ COMMITTED transaction that reads after the position, processes and calls os_core.consumer_commit. Errors: SE003 tenant scope, SE004 a malformed consumer name, an unknown stream, or a transaction that is not READ COMMITTED.';


--
-- Name: consumer_stats(text); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.consumer_stats(p_tenant_id text) RETURNS TABLE(tenant_id text, stream text, consumer text, committed_position bigint, last_event_id bigint, pending_events bigint, updated_at timestamp with time zone)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    -- The usual case in one comparison; require_tenant_scope raises exactly its error.
    IF p_tenant_id IS NULL OR p_tenant_id IS DISTINCT FROM os_core.current_tenant_id() THEN
        PERFORM os_core.require_tenant_scope(p_tenant_id);
    END IF;
    -- Every subquery names the tenant, so that Citus routes it to the tenant's worker
    -- with the rest. The lag counts the events after the position (ids are not dense:
    -- on Citus each worker draws from its own range, and a rolled-back append leaves a
    -- gap), one index range scan of the stream per consumer.
    RETURN QUERY
    SELECT
        c.tenant_id,
        c.stream,
        c.consumer,
        c.committed_position,
        CASE c.stream
            WHEN 'ledger' THEN (
                SELECT max(l.work_order_event_id) FROM os_core.work_order_ledger AS l
                WHERE l.tenant_id = p_tenant_id
            )
            ELSE (
                SELECT max(a.audit_event_id) FROM ph1j.audit_events AS a
                WHERE a.tenant_id = p_tenant_id
            )
        END,
        CASE c.stream
            WHEN 'ledger' THEN (
                SELECT count(*) FROM os_core.work_order_ledger AS l
                WHERE l.tenant_id = p_tenant_id AND l.work_order_event_id > c.committed_position
            )
            ELSE (
                SELECT count(*) FROM ph1j.audit_events AS a
                WHERE a.tenant_id = p_tenant_id AND a.audit_event_id > c.committed_position
            )
        END,
        c.updated_at
    FROM os_core.consumer_positions AS c
    WHERE c.tenant_id = p_tenant_id
    ORDER BY c.stream, c.consumer;
END;
$$;


ALTER FUNCTION os_core.consumer_stats(p_tenant_id text) OWNER TO selene_owner;

--
-- Name: FUNCTION consumer_stats(p_tenant_id text); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.consumer_stats(p_tenant_id text) IS 'Monitoring: each durable consumer of the declared tenant (stream, name), its committed position, the stream''s last event id and pending_events, the number of the tenant''s events after the position (its lag), and when the position last moved. Reads one row per consumer and counts its lag with an index range scan; writes and locks nothing. Errors: SE003 tenant scope.';


--
-- Name: current_tenant_id(); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.current_tenant_id() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN NULLIF(current_setting('selene.tenant_id'::text, true), ''::text);


ALTER FUNCTION os_core.current_tenant_id() OWNER TO selene_owner;

--
-- Name: FUNCTION current_tenant_id(); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.current_tenant_id() IS 'The tenant declared for this transaction (setting selene.tenant_id), or NULL when none is. Every row-level security policy compares tenant_id with it.';


--
-- Name: error_codes(); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.error_codes() RETURNS TABLE(sqlstate text, reason_code text, exception_name text, description text)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    BEGIN ATOMIC
 SELECT v.sqlstate,
     v.reason_code,
     v.exception_name,
     v.description
    FROM ( VALUES ('SE001'::text,'OS_WORK_ORDER_APPEND_ONLY_VIOLATION'::text,'AppendOnlyViolation'::text,'UPDATE, DELETE or TRUNCATE of an append-only table.'::text), ('SE002'::text,'OS_WORK_ORDER_IDEMPOTENCY_REPLAY'::text,'IdempotencyReplay'::text,('The idempotency key was already appended with the same content. An outcome, '::text || 'not raised by the database; the client raises it only when asked to.'::text)), ('SE003'::text,'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION'::text,'TenantScopeViolation'::text,'No tenant declared in the transaction, or a tenant_id other than the declared one.'::text), ('SE004'::text,'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED'::text,'ContractValidationFailed'::text,'The event breaks the WorkOrderLedgerEventInput v1 contract; DETAIL names the rule.'::text), ('SE005'::text,'OS_WORK_ORDER_CANCEL_INVALID_STATE'::text,'CancelInvalidState'::text,('A cancel of a work order already in a terminal status (DONE, REFUSED, FAILED, '::text || 'CANCELED); DETAIL names the status. A replayed cancel is not refused.'::text))) v(sqlstate, reason_code, exception_name, description)
   ORDER BY v.sqlstate;
END;


ALTER FUNCTION os_core.error_codes() OWNER TO selene_owner;

--
-- Name: FUNCTION error_codes(); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.error_codes() IS 'The error catalogue: SQLSTATE, reason code, client exception class and meaning for each project error.';


--
-- Name: first_unassigned_xid(pg_snapshot, xid8); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.first_unassigned_xid(p_snapshot pg_snapshot, p_own xid8) RETURNS xid8
    LANGUAGE plpgsql
    AS $$
DECLARE
    -- The next xid to give out is at least the snapshot's xmax and one past the
    -- reader's own xid: the lowest value it can be.
    _candidate xid8 := greatest(
        pg_snapshot_xmax(p_snapshot), (coalesce(p_own::text::bigint, 0) + 1)::text::xid8
    );
BEGIN
    -- A stored horizon H says xid H - 1 was running on the node that appended. An
    -- xid is given out before anything is written with it, and only a WAL record
    -- that carries it survives a crash or reaches a standby: recovery and promotion
    -- give out again the xids that were never logged. A horizon can then be above
    -- every xid this node has given out since, and the rule "at or below every
    -- running xid" would wait for xids no transaction holds (with no writes, for
    -- ever). Those horizons are told apart here: H - 1 at or past the next xid to
    -- give out cannot be this incarnation's, whose transactions all draw their ids
    -- past every event it can read (sequences resume past what they handed out).
    --
    -- The next xid is not readable, but pg_xact_status() refuses an xid that is
    -- "in the future" (22023), one at or past it. A hot standby's next xid lags the
    -- primary's, which is giving out the xids it has not replayed yet: there this
    -- answers nothing.
    --
    -- One transaction of an earlier incarnation outlives it: a prepared one (its
    -- PREPARE is logged). It may have drawn ids below those rows and commit them
    -- later, and its xid is below every xid handed out since, so no horizon tells it
    -- apart. It is in the snapshot, though, as running: so this answers only for a
    -- snapshot that saw no transaction running but the reader's own. (Checked on the
    -- snapshot, not on pg_prepared_xacts now: one committed since the snapshot was
    -- taken has rows this snapshot cannot see.) Recovery leaves the next xid just
    -- past the latest completed one, so every xid from the xmax on is this
    -- incarnation's.
    IF
        pg_is_in_recovery()
        OR EXISTS (
            SELECT FROM pg_snapshot_xip(p_snapshot) AS x (xid)
            WHERE x.xid IS DISTINCT FROM p_own
        )
    THEN
        RETURN NULL;
    END IF;
    BEGIN
        PERFORM pg_xact_status(_candidate);
    EXCEPTION WHEN invalid_parameter_value THEN
        RETURN _candidate;
    END;
    RETURN NULL;
END;
$$;


ALTER FUNCTION os_core.first_unassigned_xid(p_snapshot pg_snapshot, p_own xid8) OWNER TO selene_owner;

--
-- Name: FUNCTION first_unassigned_xid(p_snapshot pg_snapshot, p_own xid8); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.first_unassigned_xid(p_snapshot pg_snapshot, p_own xid8) IS 'For the tenant-wide reads: the snapshot''s xmax (or one past the reader''s own xid, if higher) when this server has given out no xid from there on, else NULL; NULL on a hot standby, and when the snapshot saw another transaction running (a prepared one outlives a crash). A stored paging horizon above it was stored before a crash or a failover (by xids never logged) and is passed. Internal.';


--
-- Name: is_distributed(); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.is_distributed() RETURNS boolean
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    _distributed boolean;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        RETURN FALSE;
    END IF;
    -- Citus's catalog exists only with the extension: named at run time.
    EXECUTE format(
        'SELECT EXISTS (SELECT FROM %s WHERE logicalrelid = $1)', 'pg_catalog.pg_dist_partition'
    )
    INTO _distributed
    USING 'os_core.work_order_ledger'::regclass;
    RETURN _distributed;
END;
$_$;


ALTER FUNCTION os_core.is_distributed() OWNER TO selene_owner;

--
-- Name: FUNCTION is_distributed(); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.is_distributed() IS 'True when the citus extension is in this database and os_core.work_order_ledger is distributed (migration 0007): the capabilities then run on the worker holding the tenant. Internal.';


--
-- Name: is_terminal_status(text); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.is_terminal_status(p_work_order_status text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (p_work_order_status = ANY (ARRAY['DONE'::text, 'REFUSED'::text, 'FAILED'::text, 'CANCELED'::text]));


ALTER FUNCTION os_core.is_terminal_status(p_work_order_status text) OWNER TO selene_owner;

--
-- Name: FUNCTION is_terminal_status(p_work_order_status text); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.is_terminal_status(p_work_order_status text) IS 'True for the terminal statuses DONE, REFUSED, FAILED and CANCELED: after one, only an idempotent replay may follow.';


--
-- Name: lock_consumer(text, text, text); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.lock_consumer(p_tenant_id text, p_consumer text, p_stream text) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $_$
DECLARE
    _position bigint;
    _tenant_id_violation text := os_core.tenant_id_violation(p_tenant_id);
BEGIN
    -- The table's CHECKs hold the same rules; checked first to name the argument. The
    -- tenant is the declared one already (the callers check the scope first), but a raw
    -- SET can declare a malformed one, which set_tenant would have refused.
    IF _tenant_id_violation IS NOT NULL THEN
        PERFORM os_core.raise_error('OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', _tenant_id_violation);
    END IF;
    IF p_consumer IS NULL OR p_consumer !~ '^[A-Za-z0-9_.:-]{1,128}$' THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            'consumer must be 1 to 128 characters of A-Z, a-z, 0-9, _ . : -'
        );
    END IF;
    IF p_stream IS NULL OR p_stream NOT IN ('ledger', 'audit') THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            format(
                'stream must be ''ledger'' or ''audit'', not %s',
                coalesce(quote_literal(p_stream), 'NULL')
            )
        );
    END IF;
    -- The position is read after the lock, with the statement's own snapshot: that
    -- shows what the previous holder committed only in READ COMMITTED. A REPEATABLE
    -- READ snapshot taken before the wait would give a stale position, and the
    -- instance would process again what the other one just did.
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            format(
                'durable consumers run in READ COMMITTED transactions, not %s',
                upper(pg_catalog.current_setting('transaction_isolation'))
            ),
            'run the consumer''s transactions at the default isolation level'
        );
    END IF;
    -- The claim: one instance of the consumer at a time, until the end of the
    -- transaction; a second one waits here (or its lock_timeout passes: 55P03). A
    -- transaction-level advisory lock, not the row's lock: it takes no transaction id,
    -- so a consumer busy with a page (an HTTP call to PH1.J, say) holds back no reader's
    -- paging horizon until it commits its position. The key starts with 'consumer ',
    -- which no tenant-and-work-order key of lock_work_order can (a tenant id has no
    -- space); the stream is part of it (docs/decisions.md, "Durable consumers").
    PERFORM pg_advisory_xact_lock(
        hashtextextended(
            'consumer ' || p_stream || '/' || p_tenant_id || '/' || p_consumer, 0
        )
    );
    SELECT p.committed_position INTO _position
    FROM os_core.consumer_positions AS p
    WHERE p.tenant_id = p_tenant_id AND p.stream = p_stream AND p.consumer = p_consumer;
    RETURN coalesce(_position, 0);
END;
$_$;


ALTER FUNCTION os_core.lock_consumer(p_tenant_id text, p_consumer text, p_stream text) OWNER TO selene_owner;

--
-- Name: FUNCTION lock_consumer(p_tenant_id text, p_consumer text, p_stream text); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.lock_consumer(p_tenant_id text, p_consumer text, p_stream text) IS 'Locks consumer p_consumer of stream p_stream (ledger or audit) of tenant p_tenant_id until the caller''s transaction ends (a transaction-level advisory lock: a second instance waits), then returns its committed position (0 when it has none). SE004 for a malformed tenant id or consumer name, an unknown stream, or a transaction that is not READ COMMITTED. Internal, for consumer_position and consumer_commit, which check the tenant scope first.';


--
-- Name: lock_work_order(text, text); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.lock_work_order(p_tenant_id text, p_work_order_id text) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET "citus.enable_ddl_propagation" TO 'off'
    AS $$
BEGIN
    -- A rebuild takes SHARE ROW EXCLUSIVE on the projection: wait for it here,
    -- before reading the projection, never halfway through.
    LOCK TABLE os_core.work_orders_current IN ROW EXCLUSIVE MODE;
    -- One writer per work order at a time, until commit: event ids of a work
    -- order then grow in commit order and the projection never moves backwards.
    -- '/' cannot occur in a tenant_id, so the key text is unique per work order.
    PERFORM pg_advisory_xact_lock(hashtextextended(p_tenant_id || '/' || p_work_order_id, 0));
END;
$$;


ALTER FUNCTION os_core.lock_work_order(p_tenant_id text, p_work_order_id text) OWNER TO selene_owner;

--
-- Name: FUNCTION lock_work_order(p_tenant_id text, p_work_order_id text); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.lock_work_order(p_tenant_id text, p_work_order_id text) IS 'Waits for a running rebuild, then locks one work order until the end of the transaction, so that its appends are serialised. Every writer of a work order calls it before reading its projection. Internal.';


--
-- Name: next_event_id_after(bigint); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.next_event_id_after(p_last_event_id bigint) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET "citus.enable_ddl_propagation" TO 'off'
    AS $$
BEGIN
    -- This node's sequence is behind a tenant whose events were appended on another
    -- node (a shard move, a restore). Move it past them, forwards only: one caller
    -- at a time compares and moves it, and nextval never goes back, so every id
    -- drawn here afterwards, by any tenant, is larger.
    PERFORM pg_advisory_xact_lock(hashtext('os_core.next_event_id_after'), 0);
    -- Citus gives each worker's sequence a range with a maximum; a tenant from a
    -- worker of a higher range needs this one's raised (docs/scaling.md).
    IF (
        SELECT s.seqmax FROM pg_catalog.pg_sequence AS s
        WHERE s.seqrelid = 'os_core.work_order_ledger_work_order_event_id_seq'::regclass
    ) <= p_last_event_id THEN
        ALTER SEQUENCE os_core.work_order_ledger_work_order_event_id_seq
        MAXVALUE 9223372036854775807;
    END IF;
    IF (SELECT q.last_value FROM os_core.work_order_ledger_work_order_event_id_seq AS q)
        < p_last_event_id
        THEN
        PERFORM setval('os_core.work_order_ledger_work_order_event_id_seq', p_last_event_id);
    END IF;
    RETURN nextval('os_core.work_order_ledger_work_order_event_id_seq');
END;
$$;


ALTER FUNCTION os_core.next_event_id_after(p_last_event_id bigint) OWNER TO selene_owner;

--
-- Name: FUNCTION next_event_id_after(p_last_event_id bigint); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.next_event_id_after(p_last_event_id bigint) IS 'Draws an event id above p_last_event_id from this node''s sequence, moving the sequence forwards first when it is behind (a tenant whose events were appended on another node). Called by the append when the id it drew is not above the tenant''s last one. Internal.';


--
-- Name: node_id(); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.node_id() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN (pg_control_system()).system_identifier;


ALTER FUNCTION os_core.node_id() OWNER TO selene_owner;

--
-- Name: FUNCTION node_id(); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.node_id() IS 'This node''s PostgreSQL system identifier: shared by a primary and its streaming standbys (one transaction-id space), different on every other node. The default of work_order_ledger.paging_node_id. Internal.';


--
-- Name: paging_horizon(); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.paging_horizon() RETURNS xid8
    LANGUAGE plpgsql
    AS $$
DECLARE
    _own bigint := pg_current_xact_id()::text::bigint;
BEGIN
    -- Called after the transaction took its xid and then drew an event id: one
    -- above the highest top-level xid of a transaction running now. A transaction
    -- with an xid at or above it got that xid after the event id was drawn, so it
    -- draws only larger event ids (every append takes its xid before drawing). See
    -- os_core.work_order_ledger_read.
    --
    -- Snapshots cannot tell this: their xmax is one past the latest *completed*
    -- xid, and running transactions above it are not listed. The backends' status
    -- can: each backend's xid is set as the xid is assigned, and is read fresh once
    -- the statistics snapshot is cleared, in any isolation level. (The lock table
    -- would do too, but reading it holds every lock partition and slows every
    -- session that takes a lock.) Prepared transactions have no backend and are
    -- added. Xids are 32-bit there; running ones lie within 2^31 of ours, which
    -- gives each its epoch.
    PERFORM pg_stat_clear_snapshot();
    RETURN (
        SELECT (_own + max(((r.xid::text::bigint - _own % 4294967296) % 4294967296
            + 6442450944) % 4294967296 - 2147483648) + 1)::text::xid8
        FROM (
            SELECT a.backend_xid AS xid
            FROM pg_stat_get_activity(NULL) AS a
            WHERE a.backend_xid IS NOT NULL
            UNION ALL
            SELECT p.transaction FROM pg_catalog.pg_prepared_xacts AS p
            UNION ALL
            SELECT (_own % 4294967296)::text::xid
        ) AS r
    );
END;
$$;


ALTER FUNCTION os_core.paging_horizon() OWNER TO selene_owner;

--
-- Name: FUNCTION paging_horizon(); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.paging_horizon() IS 'The xid horizon stored with an event (work_order_ledger.paging_horizon), read after its event id was drawn: one above the highest running top-level xid, so every transaction with an xid at or above it draws only larger event ids. Internal, called by the append.';


--
-- Name: partition_by_tenant(integer); Type: PROCEDURE; Schema: os_core; Owner: selene_owner
--

CREATE PROCEDURE os_core.partition_by_tenant(IN p_partitions integer)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    _tables constant regclass[] := ARRAY[
        'os_core.work_order_ledger'::regclass, 'ph1j.audit_events'::regclass
    ];
    _table regclass;
    _schema name;
    _relname name;
    _temporary name;
    _partitions name[];
    _partition name;
    _width integer;
    _owner name;
    _acl aclitem[];
    _row record;
    _old_sequence regclass;
    _new_sequence regclass;
    _last_value bigint;
    _is_called boolean;
    _drop_dependents text[];
    _swap text[] := '{}'::text[];
    _restore_dependents text[];
    _sequences text[];
    -- (object, owner, ACL) triples: privileges put back last.
    _privileges text[];
    _statement text;
BEGIN
    IF p_partitions IS NULL OR p_partitions NOT BETWEEN 2 AND 1024 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('partition_by_tenant: %s partitions', coalesce(p_partitions::text, 'NULL')),
            DETAIL = 'The number of hash partitions must be between 2 and 1024.',
            HINT = 'A power of two (8, 16, 32, ...) keeps partitions even as tenants come and go.';
    END IF;
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'insufficient_privilege',
            MESSAGE = 'partition_by_tenant: must be run by a superuser',
            DETAIL = format('current_user is %I.', current_user),
            HINT = 'Connect as a superuser (the role that applies the migrations).';
    END IF;

    -- Offline: nothing reads or writes either table until the transaction ends.
    LOCK TABLE os_core.work_order_ledger, ph1j.audit_events IN ACCESS EXCLUSIVE MODE;

    IF EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = ANY(_tables) AND c.relkind = 'p') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'partition_by_tenant: already partitioned',
            DETAIL = 'os_core.work_order_ledger and ph1j.audit_events are partitioned tables already.',
            HINT = 'The conversion runs once; changing the partition count is not supported.';
    END IF;
    IF EXISTS (
        SELECT FROM pg_catalog.pg_class AS c
        WHERE c.oid = ANY(_tables)
            AND (c.relhassubclass OR c.relispartition OR c.reloptions IS NOT NULL)
    ) OR EXISTS (
        SELECT FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = ANY(_tables) AND a.attacl IS NOT NULL
    ) OR EXISTS (
        SELECT FROM pg_catalog.pg_constraint AS k
        WHERE (k.conrelid = ANY(_tables) OR k.confrelid = ANY(_tables)) AND k.contype = 'f'
    ) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'feature_not_supported',
            MESSAGE = 'partition_by_tenant: a table has something the conversion does not carry over',
            DETAIL = 'Inheritance, storage parameters, column privileges or foreign keys on the ledger or the audit table.',
            HINT = 'Remove it, convert, then add it back.';
    END IF;

    -- 1. The dependents: views and routines that depend, directly or through one
    -- another, on a table or its row type.
    SELECT d.drop_statements, d.restore_statements, d.privileges
    INTO _drop_dependents, _restore_dependents, _privileges
    FROM os_core.partition_dependents_ddl(_tables) AS d;

    -- 2. Each table: build and fill the partitioned one, and write down how to
    -- finish the swap once the dependents are gone.
    _width := greatest(2, length((p_partitions - 1)::text));
    FOREACH _table IN ARRAY _tables LOOP
        SELECT c.relnamespace::regnamespace::name, c.relname, c.relowner::regrole::name, c.relacl
        INTO _schema, _relname, _owner, _acl
        FROM pg_catalog.pg_class AS c WHERE c.oid = _table;
        _temporary := left(_relname, 50) || '_partitioned';
        _partitions := ARRAY(
            SELECT format('%s_p%s', _relname, lpad(n::text, _width, '0'))
            FROM generate_series(0, p_partitions - 1) AS n
            ORDER BY n
        );

        EXECUTE format(
            'CREATE TABLE %I.%I (LIKE %s INCLUDING ALL EXCLUDING INDEXES) PARTITION BY HASH (tenant_id)',
            _schema, _temporary, _table
        );
        FOR _i IN 1..p_partitions LOOP
            EXECUTE format(
                'CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES WITH (MODULUS %s, REMAINDER %s)',
                _schema, _partitions[_i], _schema, _temporary, p_partitions, _i - 1
            );
            EXECUTE format(
                'COMMENT ON TABLE %I.%I IS %L', _schema, _partitions[_i],
                format(
                    'Partition of %s by hash of tenant_id (remainder %s of modulus %s). Use the parent: '
                    || 'privileges and row-level security are checked there; direct access is refused.',
                    _table, _i - 1, p_partitions
                )
            );
        END LOOP;
        EXECUTE format('INSERT INTO %I.%I OVERRIDING SYSTEM VALUE SELECT * FROM %s', _schema, _temporary, _table);

        -- Identity sequences: same position (ids never repeat), same name, privileges and comment.
        _sequences := '{}'::text[];
        FOR _row IN
            SELECT a.attname FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = _table AND a.attidentity <> '' AND NOT a.attisdropped
            ORDER BY a.attnum
        LOOP
            _old_sequence := pg_catalog.pg_get_serial_sequence(_table::text, _row.attname)::regclass;
            _new_sequence := pg_catalog.pg_get_serial_sequence(
                format('%I.%I', _schema, _temporary), _row.attname
            )::regclass;
            EXECUTE format('SELECT last_value, is_called FROM %s', _old_sequence) INTO _last_value, _is_called;
            PERFORM pg_catalog.setval(_new_sequence, _last_value, _is_called);
            _sequences := _sequences || format(
                'ALTER SEQUENCE %s RENAME TO %I', _new_sequence,
                (SELECT c.relname FROM pg_catalog.pg_class AS c WHERE c.oid = _old_sequence)
            );
            _sequences := _sequences || ARRAY(
                SELECT format('COMMENT ON SEQUENCE %s IS %L', _old_sequence::text, d.description)
                FROM pg_catalog.pg_description AS d
                WHERE d.classoid = 'pg_catalog.pg_class'::regclass AND d.objoid = _old_sequence
                    AND d.objsubid = 0
            );
            _privileges := _privileges || ARRAY[
                format('SEQUENCE %s', _old_sequence), _owner,
                (SELECT c.relacl::text FROM pg_catalog.pg_class AS c WHERE c.oid = _old_sequence)
            ];
        END LOOP;

        -- The swap. The old table goes RESTRICT: a dependent not handled above stops it.
        _swap := _swap
            || format('DROP TABLE %s', _table)
            || format('ALTER TABLE %I.%I RENAME TO %I', _schema, _temporary, _relname)
            || _sequences;

        -- Keys and indexes under their names (built after the copy, on every partition).
        _swap := _swap || os_core.partition_keys_ddl(_table);

        -- The table's comment, owner, privileges and row-level security; partitions
        -- get the owner, the owner's own privileges and nobody else's, and the same
        -- row-level security (with no policy: nothing is visible through them).
        _swap := _swap || format('COMMENT ON TABLE %s IS %L', _table,
            pg_catalog.obj_description(_table, 'pg_class'));
        _swap := _swap || format('ALTER TABLE %s OWNER TO %I', _table, _owner);
        FOREACH _partition IN ARRAY _partitions LOOP
            _swap := _swap || format('ALTER TABLE %I.%I OWNER TO %I', _schema, _partition, _owner);
        END LOOP;
        _privileges := _privileges || ARRAY[format('TABLE %s', _table), _owner, _acl::text];
        FOREACH _partition IN ARRAY _partitions LOOP
            _privileges := _privileges || ARRAY[
                format('TABLE %I.%I', _schema, _partition), _owner,
                CASE WHEN _acl IS NOT NULL THEN coalesce((
                    SELECT array_agg(a) FROM unnest(_acl) AS a WHERE a::text LIKE quote_ident(_owner) || '=%'
                ), '{}')::text END
            ];
        END LOOP;
        FOR _row IN
            SELECT c.relrowsecurity, c.relforcerowsecurity FROM pg_catalog.pg_class AS c WHERE c.oid = _table
        LOOP
            FOREACH _partition IN ARRAY ARRAY[_relname] || _partitions LOOP
                IF _row.relrowsecurity THEN
                    _swap := _swap || format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', _schema, _partition);
                END IF;
                IF _row.relforcerowsecurity THEN
                    _swap := _swap || format('ALTER TABLE %I.%I FORCE ROW LEVEL SECURITY', _schema, _partition);
                END IF;
            END LOOP;
        END LOOP;

        -- Policies, as the catalog has them; triggers, statement-level ones on every
        -- partition too.
        _swap := _swap
            || os_core.partition_policies_ddl(_table)
            || os_core.partition_triggers_ddl(_table, _schema, _relname, _partitions);
        _swap := _swap || format('ANALYZE %s', _table);
    END LOOP;

    -- 3. Privileges as they were.
    _restore_dependents := _restore_dependents || os_core.partition_grants_ddl(_privileges);

    -- 4. Swap, then put the dependents back.
    FOREACH _statement IN ARRAY _drop_dependents || _swap || _restore_dependents LOOP
        CONTINUE WHEN _statement = '';
        EXECUTE _statement;
    END LOOP;

    -- 5. A session that ran a PL/pgSQL routine before keeps it compiled with the old
    -- row types (a cache lookup failure on its next call); a new version of each
    -- routine's catalog row makes every session compile it again.
    FOR _statement IN
        SELECT format('ALTER ROUTINE %s %s', p.oid::regprocedure,
            CASE WHEN p.prosecdef THEN 'SECURITY DEFINER' ELSE 'SECURITY INVOKER' END)
        FROM pg_catalog.pg_proc AS p
        WHERE p.pronamespace IN ('os_core'::regnamespace, 'ph1j'::regnamespace)
            AND p.prolang = (SELECT l.oid FROM pg_catalog.pg_language AS l WHERE l.lanname = 'plpgsql')
            AND p.oid <> 'os_core.partition_by_tenant(integer)'::regprocedure
        ORDER BY p.oid
    LOOP
        EXECUTE _statement;
    END LOOP;
END;
$$;


ALTER PROCEDURE os_core.partition_by_tenant(IN p_partitions integer) OWNER TO selene_owner;

--
-- Name: PROCEDURE partition_by_tenant(IN p_partitions integer); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON PROCEDURE os_core.partition_by_tenant(IN p_partitions integer) IS 'Once, offline, as a superuser: turns os_core.work_order_ledger and ph1j.audit_events into tables PARTITION BY HASH (tenant_id) with p_partitions (2-1024) partitions each, keeping rows, ids, keys, indexes, comments, owner, privileges, row-level security, policies, triggers and dependent views and functions. Takes ACCESS EXCLUSIVE locks on both tables. docs/dba.md, "Partitioning by tenant".';


--
-- Name: partition_dependents_ddl(regclass[]); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.partition_dependents_ddl(p_tables regclass[], OUT drop_statements text[], OUT restore_statements text[], OUT privileges text[]) RETURNS record
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    _row record;
    _name text;
    _owner name;
    _acl aclitem[];
BEGIN
    drop_statements := '{}'::text[];
    restore_statements := '{}'::text[];
    privileges := '{}'::text[];
    FOR _row IN
        WITH RECURSIVE dependent (kind, oid) AS (
            SELECT 'table'::text, t.oid
            FROM unnest(p_tables) AS t (oid)
            UNION
            SELECT
                CASE WHEN d.classid = 'pg_catalog.pg_proc'::regclass THEN 'routine' ELSE 'view' END,
                CASE WHEN d.classid = 'pg_catalog.pg_proc'::regclass THEN d.objid ELSE r.ev_class END
            FROM dependent AS o
            LEFT JOIN pg_catalog.pg_class AS oc ON oc.oid = o.oid AND o.kind <> 'routine'
            LEFT JOIN pg_catalog.pg_type AS ot ON ot.oid = oc.reltype
            INNER JOIN pg_catalog.pg_depend AS d
                ON (
                    d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = oc.oid
                ) OR (
                    d.refclassid = 'pg_catalog.pg_type'::regclass
                    AND d.refobjid IN (ot.oid, ot.typarray)
                ) OR (
                    o.kind = 'routine'
                    AND d.refclassid = 'pg_catalog.pg_proc'::regclass AND d.refobjid = o.oid
                )
            LEFT JOIN pg_catalog.pg_rewrite AS r
                ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND r.oid = d.objid
            WHERE
                d.deptype = 'n'
                AND (
                    d.classid = 'pg_catalog.pg_proc'::regclass
                    OR (r.oid IS NOT NULL AND r.ev_class <> o.oid)
                )
        )
        SELECT o.kind, o.oid FROM dependent AS o WHERE o.kind <> 'table' ORDER BY o.oid
    LOOP
        IF _row.kind = 'routine' THEN
            SELECT p.oid::regprocedure::text, p.proowner::regrole::name, p.proacl
            INTO _name, _owner, _acl
            FROM pg_catalog.pg_proc AS p WHERE p.oid = _row.oid;
            drop_statements := format('DROP ROUTINE %s', _name) || drop_statements;
            restore_statements := restore_statements
                || pg_catalog.pg_get_functiondef(_row.oid)
                || format('ALTER ROUTINE %s OWNER TO %I', _name, _owner)
                || format('COMMENT ON ROUTINE %s IS %L', _name,
                    pg_catalog.obj_description(_row.oid, 'pg_proc'));
            privileges := privileges || ARRAY[format('ROUTINE %s', _name), _owner, _acl::text];
        ELSE
            -- (DROP VIEW refuses a materialized view: the conversion then stops)
            SELECT c.oid::regclass::text, c.relowner::regrole::name, c.relacl
            INTO _name, _owner, _acl
            FROM pg_catalog.pg_class AS c WHERE c.oid = _row.oid;
            drop_statements := format('DROP VIEW %s', _name) || drop_statements;
            restore_statements := restore_statements
                || (
                    SELECT format('CREATE VIEW %s%s AS %s', _name,
                        ' WITH (' || array_to_string(c.reloptions, ', ') || ')',
                        pg_catalog.pg_get_viewdef(c.oid))
                    FROM pg_catalog.pg_class AS c WHERE c.oid = _row.oid
                )
                || format('ALTER VIEW %s OWNER TO %I', _name, _owner);
            restore_statements := restore_statements || ARRAY(
                SELECT
                    CASE
                        WHEN d.objsubid = 0 THEN format('COMMENT ON VIEW %s IS %L', _name, d.description)
                        ELSE format('COMMENT ON COLUMN %s.%I IS %L', _name,
                            (SELECT a.attname FROM pg_catalog.pg_attribute AS a
                             WHERE a.attrelid = d.objoid AND a.attnum = d.objsubid), d.description)
                    END
                FROM pg_catalog.pg_description AS d
                WHERE d.classoid = 'pg_catalog.pg_class'::regclass AND d.objoid = _row.oid
                ORDER BY d.objsubid
            );
            privileges := privileges || ARRAY[format('TABLE %s', _name), _owner, _acl::text];
        END IF;
    END LOOP;
END;
$$;


ALTER FUNCTION os_core.partition_dependents_ddl(p_tables regclass[], OUT drop_statements text[], OUT restore_statements text[], OUT privileges text[]) OWNER TO selene_owner;

--
-- Name: FUNCTION partition_dependents_ddl(p_tables regclass[], OUT drop_statements text[], OUT restore_statements text[], OUT privileges text[]); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.partition_dependents_ddl(p_tables regclass[], OUT drop_statements text[], OUT restore_statements text[], OUT privileges text[]) IS 'For os_core.partition_by_tenant: the views and routines depending on the tables or their row types, as DROP statements (reverse creation order), statements re-creating them with owner and comments (creation order), and (object, owner, ACL) triples. Reads the catalog only.';


--
-- Name: partition_grants_ddl(text[]); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.partition_grants_ddl(p_privileges text[]) RETURNS text[]
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    RETURN ARRAY(
        SELECT s.statement
        FROM generate_series(1, cardinality(p_privileges) / 3) AS n
        CROSS JOIN LATERAL (
            SELECT
                format('REVOKE ALL ON %s FROM PUBLIC, %I', p_privileges[3 * n - 2], p_privileges[3 * n - 1]),
                0::bigint
            UNION ALL
            SELECT
                format(
                    'GRANT %s ON %s TO %s%s',
                    string_agg(a.privilege_type, ', ' ORDER BY a.position), p_privileges[3 * n - 2],
                    CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(a.grantee::regrole::text) END,
                    CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END
                ),
                min(a.position)
            FROM aclexplode(p_privileges[3 * n]::aclitem[]) WITH ORDINALITY
                AS a (grantor, grantee, privilege_type, is_grantable, position)
            GROUP BY a.grantee, a.is_grantable
        ) AS s (statement, position)
        WHERE p_privileges[3 * n] IS NOT NULL
        ORDER BY n, s.position
    );
END;
$$;


ALTER FUNCTION os_core.partition_grants_ddl(p_privileges text[]) OWNER TO selene_owner;

--
-- Name: FUNCTION partition_grants_ddl(p_privileges text[]); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.partition_grants_ddl(p_privileges text[]) IS 'For os_core.partition_by_tenant: from (object, owner, ACL) triples, REVOKE ALL and the GRANT statements that give each object the same ACL in the same order; an object with a NULL (default) ACL gets none.';


--
-- Name: partition_keys_ddl(regclass); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.partition_keys_ddl(p_table regclass) RETURNS text[]
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    RETURN ARRAY(
        SELECT s.statement
        FROM pg_catalog.pg_index AS i
        LEFT JOIN pg_catalog.pg_constraint AS k
            ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x')
        CROSS JOIN LATERAL unnest(
            CASE
                WHEN k.oid IS NOT NULL THEN ARRAY[
                    format('ALTER TABLE %s ADD CONSTRAINT %I %s', p_table, k.conname,
                        pg_catalog.pg_get_constraintdef(k.oid)),
                    format('COMMENT ON CONSTRAINT %I ON %s IS %L', k.conname, p_table,
                        pg_catalog.obj_description(k.oid, 'pg_constraint'))
                ]
                ELSE ARRAY[
                    pg_catalog.pg_get_indexdef(i.indexrelid),
                    format('COMMENT ON INDEX %s IS %L', i.indexrelid::regclass,
                        pg_catalog.obj_description(i.indexrelid, 'pg_class'))
                ]
            END
        ) WITH ORDINALITY AS s (statement, position)
        WHERE i.indrelid = p_table
        ORDER BY i.indexrelid, s.position
    );
END;
$$;


ALTER FUNCTION os_core.partition_keys_ddl(p_table regclass) OWNER TO selene_owner;

--
-- Name: FUNCTION partition_keys_ddl(p_table regclass); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.partition_keys_ddl(p_table regclass) IS 'For os_core.partition_by_tenant: the table''s keys (as constraints) and other indexes under their names, with their comments, as DDL statements in index creation order. Reads the catalog only.';


--
-- Name: partition_policies_ddl(regclass); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.partition_policies_ddl(p_table regclass) RETURNS text[]
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    RETURN ARRAY(
        SELECT s.statement
        FROM pg_catalog.pg_policy AS p
        CROSS JOIN LATERAL unnest(ARRAY[
            format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s', p.polname, p_table,
                CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
                CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                    WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
                (SELECT string_agg(
                    CASE WHEN r.oid = 0 THEN 'PUBLIC' ELSE quote_ident(r.oid::regrole::text) END,
                    ', ' ORDER BY r.position)
                 FROM unnest(p.polroles) WITH ORDINALITY AS r (oid, position)),
                ' USING (' || pg_catalog.pg_get_expr(p.polqual, p.polrelid) || ')',
                ' WITH CHECK (' || pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) || ')'),
            format('COMMENT ON POLICY %I ON %s IS %L', p.polname, p_table,
                pg_catalog.obj_description(p.oid, 'pg_policy'))
        ]) WITH ORDINALITY AS s (statement, position)
        WHERE p.polrelid = p_table
        ORDER BY p.oid, s.position
    );
END;
$$;


ALTER FUNCTION os_core.partition_policies_ddl(p_table regclass) OWNER TO selene_owner;

--
-- Name: FUNCTION partition_policies_ddl(p_table regclass); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.partition_policies_ddl(p_table regclass) IS 'For os_core.partition_by_tenant: the table''s row-level security policies as CREATE POLICY statements, with their comments, in creation order. Reads the catalog only.';


--
-- Name: partition_triggers_ddl(regclass, name, name, name[]); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.partition_triggers_ddl(p_table regclass, p_schema name, p_relname name, p_partitions name[]) RETURNS text[]
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    RETURN ARRAY(
        SELECT s.statement
        FROM pg_catalog.pg_trigger AS t
        CROSS JOIN LATERAL unnest(ARRAY[p_relname] || p_partitions) WITH ORDINALITY AS o (relation, position)
        CROSS JOIN LATERAL unnest(ARRAY[
            replace(pg_catalog.pg_get_triggerdef(t.oid), format(' ON %s ', p_table),
                format(' ON %I.%I ', p_schema, o.relation)),
            format('COMMENT ON TRIGGER %I ON %I.%I IS %L', t.tgname, p_schema, o.relation,
                pg_catalog.obj_description(t.oid, 'pg_trigger')),
            format('ALTER TABLE %I.%I %s TRIGGER %I', p_schema, o.relation,
                CASE t.tgenabled WHEN 'D' THEN 'DISABLE' WHEN 'R' THEN 'ENABLE REPLICA'
                    WHEN 'A' THEN 'ENABLE ALWAYS' ELSE 'ENABLE' END, t.tgname)
        ]) WITH ORDINALITY AS s (statement, position)
        WHERE t.tgrelid = p_table AND NOT t.tgisinternal
            AND (o.relation = p_relname OR (t.tgtype & 1) = 0)
        ORDER BY t.oid, o.position, s.position
    );
END;
$$;


ALTER FUNCTION os_core.partition_triggers_ddl(p_table regclass, p_schema name, p_relname name, p_partitions name[]) OWNER TO selene_owner;

--
-- Name: FUNCTION partition_triggers_ddl(p_table regclass, p_schema name, p_relname name, p_partitions name[]); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.partition_triggers_ddl(p_table regclass, p_schema name, p_relname name, p_partitions name[]) IS 'For os_core.partition_by_tenant: the table''s triggers as CREATE TRIGGER, COMMENT and ENABLE/DISABLE statements for the table named p_relname in p_schema and, for statement-level triggers, for each partition too. Reads the catalog only.';


--
-- Name: work_order_ledger; Type: TABLE; Schema: os_core; Owner: selene_owner
--

CREATE TABLE os_core.work_order_ledger (
    tenant_id text NOT NULL,
    work_order_event_id bigint NOT NULL,
    schema_version integer DEFAULT 1 NOT NULL,
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
    recorded_at timestamp with time zone DEFAULT statement_timestamp() NOT NULL,
    paging_horizon xid8,
    paging_node_id bigint DEFAULT os_core.node_id() NOT NULL,
    CONSTRAINT canceled_event_has_canceled_status CHECK ((((event_type)::text = 'WORK_ORDER_CANCELED'::text) = ((work_order_status)::text = 'CANCELED'::text))),
    CONSTRAINT lease_expires_after_created CHECK (((lease_expires_at IS NULL) OR ((lease_expires_at)::bigint > (created_at)::bigint))),
    CONSTRAINT lease_fields_together CHECK ((((lease_owner_id IS NULL) = (lease_token_hash IS NULL)) AND ((lease_owner_id IS NULL) = (lease_expires_at IS NULL)))),
    CONSTRAINT payload_depth_is_bounded CHECK ((NOT jsonb_path_exists(payload, 'strict $.**{65}'::jsonpath))),
    CONSTRAINT payload_is_bounded_object CHECK (((payload IS NULL) OR ((jsonb_typeof(payload) = 'object'::text) AND (pg_column_size(payload) <= 65536)))),
    CONSTRAINT schema_version_v1 CHECK ((schema_version = 1)),
    CONSTRAINT step_event_has_step_id CHECK ((((event_type)::text <> ALL (ARRAY['STEP_STARTED'::text, 'STEP_FINISHED'::text, 'STEP_FAILED'::text])) OR (step_id IS NOT NULL))),
    CONSTRAINT step_input_hash_has_step_id CHECK (((step_input_hash IS NULL) OR (step_id IS NOT NULL))),
    CONSTRAINT tenant_id_format CHECK (((tenant_id)::os_core.tenant_id IS NOT NULL))
);

ALTER TABLE ONLY os_core.work_order_ledger FORCE ROW LEVEL SECURITY;


ALTER TABLE os_core.work_order_ledger OWNER TO selene_owner;

--
-- Name: TABLE work_order_ledger; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON TABLE os_core.work_order_ledger IS 'Append-only ledger of work-order events, the single source of truth. Written only by os_core.work_order_ledger_append; UPDATE, DELETE and TRUNCATE are refused.';


--
-- Name: COLUMN work_order_ledger.work_order_event_id; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON COLUMN os_core.work_order_ledger.work_order_event_id IS 'Event id, unique across tenants; within a work order it grows in commit order.';


--
-- Name: COLUMN work_order_ledger.created_at; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON COLUMN os_core.work_order_ledger.created_at IS 'The event''s monotonic timestamp in nanoseconds, given by the caller; never goes backwards within a work order.';


--
-- Name: COLUMN work_order_ledger.idempotency_key; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON COLUMN os_core.work_order_ledger.idempotency_key IS 'Optional; unique per (tenant_id, work_order_id). Appending the same key and content again returns the original event.';


--
-- Name: COLUMN work_order_ledger.payload; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON COLUMN os_core.work_order_ledger.payload IS 'Optional JSON object (fields set, conflict resolutions), at most 64 KiB, no value nested more than 64 levels below it.';


--
-- Name: COLUMN work_order_ledger.recorded_at; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON COLUMN os_core.work_order_ledger.recorded_at IS 'Wall-clock time of the append, for operators. No projection reads it, so rebuilds stay deterministic.';


--
-- Name: COLUMN work_order_ledger.paging_horizon; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON COLUMN os_core.work_order_ledger.paging_horizon IS 'One above the highest running transaction id, read just after the event id was drawn (os_core.paging_horizon). A tenant-wide ledger read returns the event once no transaction it cannot see has an xid below it: then none that could still commit a smaller event id is running. NULL (rows written before migration 0003) counts as reached.';


--
-- Name: COLUMN work_order_ledger.paging_node_id; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON COLUMN os_core.work_order_ledger.paging_node_id IS 'System identifier of the node that appended the event, whose transaction ids paging_horizon counts in. A tenant-wide read on another node (after a shard move or a restore) passes the event without its horizon.';


--
-- Name: project_lease(os_core.work_order_ledger); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.project_lease(p_event os_core.work_order_ledger) RETURNS void
    LANGUAGE plpgsql
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


ALTER FUNCTION os_core.project_lease(p_event os_core.work_order_ledger) OWNER TO selene_owner;

--
-- Name: FUNCTION project_lease(p_event os_core.work_order_ledger); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.project_lease(p_event os_core.work_order_ledger) IS 'Applies one appended event to work_order_leases: an event with lease fields acquires the lease or renews its holder''s unexpired lease; a terminal status releases it. Internal, called by the append.';


--
-- Name: project_step_attempt(os_core.work_order_ledger); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.project_step_attempt(p_event os_core.work_order_ledger) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    _last os_core.work_order_step_attempts;
    _closed_status text;
BEGIN
    IF p_event.event_type = 'STEP_STARTED' THEN
        SELECT a.* INTO _last
        FROM os_core.work_order_step_attempts AS a
        WHERE
            a.tenant_id = p_event.tenant_id
            AND a.work_order_id = p_event.work_order_id
            AND a.step_id = p_event.step_id
        ORDER BY a.attempt_index DESC
        LIMIT 1;
        IF _last.attempt_status = 'STARTED' THEN
            PERFORM os_core.raise_error(
                'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
                format(
                    'step %L of work order %L already has attempt %s open (started by event %s)',
                    p_event.step_id, p_event.work_order_id, _last.attempt_index,
                    _last.started_event_id
                ),
                'append STEP_FINISHED or STEP_FAILED for it before starting the step again'
            );
        END IF;
        INSERT INTO os_core.work_order_step_attempts (
            tenant_id, work_order_id, step_id, attempt_index, attempt_status, step_input_hash,
            started_event_id, started_at
        ) VALUES (
            p_event.tenant_id, p_event.work_order_id, p_event.step_id,
            coalesce(_last.attempt_index, 0) + 1, 'STARTED', p_event.step_input_hash,
            p_event.work_order_event_id, p_event.created_at
        );
    ELSIF p_event.event_type IN ('STEP_FINISHED', 'STEP_FAILED') THEN
        -- Decided here, not in the UPDATE: Citus deparses a CASE over a field of the
        -- row argument wrongly (event_type = boolean) when it sends the UPDATE on.
        _closed_status := CASE p_event.event_type
            WHEN 'STEP_FINISHED' THEN 'FINISHED' ELSE 'FAILED'
        END;
        UPDATE os_core.work_order_step_attempts AS a SET
            attempt_status = _closed_status,
            finished_event_id = p_event.work_order_event_id,
            finished_at = p_event.created_at,
            reason_code = p_event.reason_code
        WHERE
            a.tenant_id = p_event.tenant_id
            AND a.work_order_id = p_event.work_order_id
            AND a.step_id = p_event.step_id
            AND a.attempt_status = 'STARTED';
        IF NOT FOUND THEN
            PERFORM os_core.raise_error(
                'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
                format(
                    '%s for step %L of work order %L, which has no open attempt',
                    p_event.event_type, p_event.step_id, p_event.work_order_id
                ),
                'append STEP_STARTED for the step first'
            );
        END IF;
    END IF;
END;
$$;


ALTER FUNCTION os_core.project_step_attempt(p_event os_core.work_order_ledger) OWNER TO selene_owner;

--
-- Name: FUNCTION project_step_attempt(p_event os_core.work_order_ledger); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.project_step_attempt(p_event os_core.work_order_ledger) IS 'Applies one appended event to work_order_step_attempts: STEP_STARTED opens the next attempt of its step, STEP_FINISHED or STEP_FAILED closes the open one; raises OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED for a second start or a close with nothing open. Internal, called by the append.';


--
-- Name: projection_drift(text, boolean); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.projection_drift(p_tenant_id text, p_in_key_order boolean) RETURNS refcursor
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    _drift refcursor;
BEGIN
    -- A cursor, not a set-returning function: the rebuild reads the drift as a
    -- stream and stops early (RETURN QUERY would compute all of it first), and each
    -- statement is planned for the tenant given (on Citus: routed to its shard).
    OPEN _drift NO SCROLL FOR
        -- Pairs are compared as rows (the views' columns are in the tables' order: column
        -- by column, with each column's own equality) and turned into jsonb, to name the
        -- differing columns, only when they differ: to_jsonb() of both sides of every pair
        -- cost about a quarter of a rebuild with nothing to repair.
        WITH pairs AS (
            SELECT
                coalesce(e.tenant_id, a.tenant_id) AS tenant_id,
                coalesce(e.work_order_id, a.work_order_id) AS work_order_id,
                'work_orders_current' AS projection,
                NULL::text AS row_key,
                to_jsonb(e) AS expected_row,
                to_jsonb(a) AS actual_row
            FROM (
                SELECT v.* FROM os_core.work_orders_current_from_ledger AS v
                WHERE p_tenant_id IS NULL OR v.tenant_id = p_tenant_id
            ) AS e
            FULL JOIN (
                SELECT c.* FROM os_core.work_orders_current AS c
                WHERE p_tenant_id IS NULL OR c.tenant_id = p_tenant_id
            ) AS a
                ON e.tenant_id = a.tenant_id AND e.work_order_id = a.work_order_id
            WHERE ROW(e.*) IS DISTINCT FROM ROW(a.*)

            UNION ALL

            SELECT
                coalesce(e.tenant_id, a.tenant_id),
                coalesce(e.work_order_id, a.work_order_id),
                'work_order_step_attempts',
                coalesce(e.step_id, a.step_id) || ' #' || coalesce(e.attempt_index, a.attempt_index),
                to_jsonb(e),
                to_jsonb(a)
            FROM (
                SELECT v.* FROM os_core.work_order_step_attempts_from_ledger AS v
                WHERE p_tenant_id IS NULL OR v.tenant_id = p_tenant_id
            ) AS e
            FULL JOIN (
                SELECT s.* FROM os_core.work_order_step_attempts AS s
                WHERE p_tenant_id IS NULL OR s.tenant_id = p_tenant_id
            ) AS a
                ON
                    e.tenant_id = a.tenant_id
                    AND e.work_order_id = a.work_order_id
                    AND e.step_id = a.step_id
                    AND e.attempt_index = a.attempt_index
            WHERE ROW(e.*) IS DISTINCT FROM ROW(a.*)

            UNION ALL

            SELECT
                coalesce(e.tenant_id, a.tenant_id),
                coalesce(e.work_order_id, a.work_order_id),
                'work_order_leases',
                NULL::text,
                to_jsonb(e),
                to_jsonb(a)
            FROM (
                SELECT v.* FROM os_core.work_order_leases_from_ledger AS v
                WHERE p_tenant_id IS NULL OR v.tenant_id = p_tenant_id
            ) AS e
            FULL JOIN (
                SELECT l.* FROM os_core.work_order_leases AS l
                WHERE p_tenant_id IS NULL OR l.tenant_id = p_tenant_id
            ) AS a
                ON e.tenant_id = a.tenant_id AND e.work_order_id = a.work_order_id
            WHERE ROW(e.*) IS DISTINCT FROM ROW(a.*)
        )

        SELECT
            p.tenant_id,
            p.work_order_id,
            p.projection,
            p.row_key,
            d.difference,
            d.expected,
            d.actual
        FROM pairs AS p
        CROSS JOIN LATERAL (
            SELECT
                'missing row' AS difference,
                p.expected_row::text AS expected,
                NULL::text AS actual
            WHERE p.actual_row IS NULL
            UNION ALL
            SELECT
                'unexpected row',
                NULL::text,
                p.actual_row::text
            WHERE p.expected_row IS NULL
            UNION ALL
            SELECT
                k.key,
                k.value #>> '{}',
                p.actual_row -> k.key #>> '{}'
            FROM jsonb_each(p.expected_row) AS k
            WHERE p.actual_row IS NOT NULL AND k.value IS DISTINCT FROM p.actual_row -> k.key
        ) AS d
        -- In key order when asked (verify). Otherwise (rebuild) every sort key is a
        -- constant NULL in the plan made for the call: no sort, the rows stream.
        ORDER BY
            CASE WHEN p_in_key_order THEN p.tenant_id END,
            CASE WHEN p_in_key_order THEN p.work_order_id END,
            CASE WHEN p_in_key_order THEN p.projection END,
            CASE WHEN p_in_key_order THEN p.row_key END,
            CASE WHEN p_in_key_order THEN d.difference END;
    RETURN _drift;
END;
$$;


ALTER FUNCTION os_core.projection_drift(p_tenant_id text, p_in_key_order boolean) OWNER TO selene_owner;

--
-- Name: FUNCTION projection_drift(p_tenant_id text, p_in_key_order boolean); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.projection_drift(p_tenant_id text, p_in_key_order boolean) IS 'A cursor over every difference between the three projections and what the ledger defines (the *_from_ledger views), for one tenant or all (NULL): a missing row, an unexpected row, or one row per column that differs. In key order (tenant, work order, projection, row key, difference) when p_in_key_order, otherwise unsorted and streamed. Runs with the caller''s rights (row-level security applies); the caller FETCHes and CLOSEs it. Internal, used by verify and rebuild.';


--
-- Name: raise_batch_error(bigint, text, text, text, text); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.raise_batch_error(p_event_index bigint, p_sqlstate text, p_message text, p_detail text, p_hint text DEFAULT NULL::text) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    -- The single append's HINT (if any) first, the event's index last, on its own line.
    _hint constant text := coalesce(p_hint || E'\n', '') || format(
        'event_index %s: the first event of the batch refused (counting from 0); '
        || 'nothing of the batch was written',
        p_event_index
    );
BEGIN
    -- The SQLSTATE, message and DETAIL are those of the single append's refusal.
    IF p_detail IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = p_sqlstate, MESSAGE = p_message, HINT = _hint;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = p_sqlstate, MESSAGE = p_message, DETAIL = p_detail, HINT = _hint;
END;
$$;


ALTER FUNCTION os_core.raise_batch_error(p_event_index bigint, p_sqlstate text, p_message text, p_detail text, p_hint text) OWNER TO selene_owner;

--
-- Name: FUNCTION raise_batch_error(p_event_index bigint, p_sqlstate text, p_message text, p_detail text, p_hint text); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.raise_batch_error(p_event_index bigint, p_sqlstate text, p_message text, p_detail text, p_hint text) IS 'Raises a refusal of the event at p_event_index (from 0) of an append_many batch: the SQLSTATE, message and DETAIL of the single append''s refusal, and a HINT whose last line is "event_index N: ...". Internal.';


--
-- Name: raise_batch_reason(bigint, text, text, text); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.raise_batch_reason(p_event_index bigint, p_reason_code text, p_detail text, p_hint text DEFAULT NULL::text) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    _sqlstate text;
BEGIN
    SELECT e.sqlstate INTO STRICT _sqlstate
    FROM os_core.error_codes() AS e
    WHERE e.reason_code = p_reason_code;
    PERFORM os_core.raise_batch_error(p_event_index, _sqlstate, p_reason_code, p_detail, p_hint);
END;
$$;


ALTER FUNCTION os_core.raise_batch_reason(p_event_index bigint, p_reason_code text, p_detail text, p_hint text) OWNER TO selene_owner;

--
-- Name: FUNCTION raise_batch_reason(p_event_index bigint, p_reason_code text, p_detail text, p_hint text); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.raise_batch_reason(p_event_index bigint, p_reason_code text, p_detail text, p_hint text) IS 'Raises the reason code for the event at p_event_index (from 0) of an append_many batch, as os_core.raise_error does, with the event''s index on the last line of the HINT. Internal.';


--
-- Name: raise_error(text, text, text); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.raise_error(p_reason_code text, p_detail text, p_hint text DEFAULT NULL::text) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    _sqlstate text;
BEGIN
    SELECT e.sqlstate INTO STRICT _sqlstate
    FROM os_core.error_codes() AS e
    WHERE e.reason_code = p_reason_code;

    IF p_hint IS NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = _sqlstate,
            MESSAGE = p_reason_code,
            DETAIL = p_detail;
    END IF;
    RAISE EXCEPTION USING
        ERRCODE = _sqlstate,
        MESSAGE = p_reason_code,
        DETAIL = p_detail,
        HINT = p_hint;
END;
$$;


ALTER FUNCTION os_core.raise_error(p_reason_code text, p_detail text, p_hint text) OWNER TO selene_owner;

--
-- Name: FUNCTION raise_error(p_reason_code text, p_detail text, p_hint text); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.raise_error(p_reason_code text, p_detail text, p_hint text) IS 'Raises the reason code as the message, with its SQLSTATE from os_core.error_codes(), and the given DETAIL and HINT. Internal.';


--
-- Name: repair_restored_paging_horizons(); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.repair_restored_paging_horizons() RETURNS bigint
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET lock_timeout TO '5s'
    AS $$
DECLARE
    _cleared bigint;
    _audit_cleared bigint;
    _deadline timestamptz;
    _replication_role text := current_setting('session_replication_role');
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'insufficient_privilege',
            MESSAGE = 'repair_restored_paging_horizons: must be run by a superuser',
            DETAIL = format('current_user is %I.', current_user),
            HINT = 'It edits ledger and audit rows past the append-only triggers, which only a superuser can.';
    END IF;
    -- The argument below needs the transaction's xid taken after the lock: an xid
    -- taken earlier could be below the horizon of an append that committed since.
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'active_sql_transaction',
            MESSAGE = 'repair_restored_paging_horizons: must run in a transaction of its own',
            DETAIL = 'This transaction has already written (it has a transaction id).',
            HINT = 'Call it alone, outside BEGIN ... COMMIT, or first thing after BEGIN.';
    END IF;
    -- SHARE conflicts with the writers' ROW EXCLUSIVE: it waits for the appends (and
    -- for the audit rows of replays and diagnostics) in flight and holds new ones
    -- until the end of the transaction. Every horizon this cluster wrote is then at
    -- most the xid taken below; only restored ones are above.
    --
    -- Both tables, and never one held while waiting for the other: a transaction
    -- that wrote an audit row (a replay) and then appends takes them in the other
    -- order, and waiting for the audit table with the ledger held would deadlock
    -- with it. So the audit table is only tried (NOWAIT); when it is busy, both are
    -- let go (the block's subtransaction ends) and taken again shortly after.
    _deadline := clock_timestamp() + interval '5 seconds';
    LOOP
        -- Each wait for the ledger ends at the deadline: 5 s in all.
        PERFORM set_config(
            'lock_timeout',
            greatest(1, ceil(extract(EPOCH FROM _deadline - clock_timestamp()) * 1000))::text,
            TRUE
        );
        BEGIN
            LOCK TABLE os_core.work_order_ledger IN SHARE MODE;
            LOCK TABLE ph1j.audit_events IN SHARE MODE NOWAIT;
            EXIT;
        EXCEPTION WHEN lock_not_available THEN
            IF clock_timestamp() > _deadline THEN
                RAISE;
            END IF;
            PERFORM pg_sleep(0.01);
        END;
    END LOOP;
    PERFORM set_config('session_replication_role', 'replica', TRUE);
    UPDATE os_core.work_order_ledger AS l SET paging_horizon = NULL
    WHERE l.paging_horizon > pg_current_xact_id();
    GET DIAGNOSTICS _cleared = ROW_COUNT;
    UPDATE ph1j.audit_events AS a SET paging_horizon = NULL
    WHERE a.paging_horizon > pg_current_xact_id();
    GET DIAGNOSTICS _audit_cleared = ROW_COUNT;
    PERFORM set_config('session_replication_role', _replication_role, TRUE);
    RETURN _cleared + _audit_cleared;
END;
$$;


ALTER FUNCTION os_core.repair_restored_paging_horizons() OWNER TO selene_owner;

--
-- Name: FUNCTION repair_restored_paging_horizons(); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.repair_restored_paging_horizons() IS 'After a logical restore into a cluster whose transaction ids are behind the old one''s (or a failover, for the hot standbys of a new primary that takes no writes): clears (to NULL, which counts as passed) every ledger and audit paging_horizon above the current transaction id, so that tenant-wide ledger and audit reads see the rows everywhere; returns how many rows it cleared, both tables together. Superuser only, in a transaction of its own; safe with appends running (it waits up to 5 s for the writers in flight, never holding one table while waiting for the other, and holds new ones until it commits). The one in-place edit of the ledger and the audit trail: paging_horizon is not a contract field. docs/dba.md, "Restoring into another cluster".';


--
-- Name: require_dba_or_tenant_scope(text); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.require_dba_or_tenant_scope(p_tenant_id text) RETURNS void
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    _tenant_id_violation text := os_core.tenant_id_violation(p_tenant_id);
BEGIN
    -- Inside a SECURITY DEFINER function the session user is the only trustworthy
    -- trace of who called: a member of selene_dba may name any tenant, or all (NULL).
    IF NOT pg_has_role(session_user, 'selene_dba', 'MEMBER') THEN
        IF p_tenant_id IS NULL THEN
            PERFORM os_core.raise_error(
                'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
                'every tenant at once needs the selene_dba role',
                'pass the declared tenant as p_tenant_id'
            );
        END IF;
        PERFORM os_core.require_tenant_scope(p_tenant_id);
    END IF;
    -- Scope first, as everywhere; then the tenant id, which reaches the audit rows of
    -- rebuild and verify: a malformed one (declarable only by a raw SET, which
    -- set_tenant would refuse) is refused here rather than by the audit INSERT.
    IF _tenant_id_violation IS NOT NULL THEN
        PERFORM os_core.raise_error('OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', _tenant_id_violation);
    END IF;
END;
$$;


ALTER FUNCTION os_core.require_dba_or_tenant_scope(p_tenant_id text) OWNER TO selene_owner;

--
-- Name: FUNCTION require_dba_or_tenant_scope(p_tenant_id text); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.require_dba_or_tenant_scope(p_tenant_id text) IS 'Raises OS_WORK_ORDER_TENANT_SCOPE_VIOLATION unless the session user is in selene_dba or p_tenant_id is the declared tenant, then OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED for a malformed tenant id. Internal, for rebuild, verify and tenant_stats; executable by selene_os and selene_dba, to whom it reveals nothing.';


--
-- Name: require_tenant_scope(text); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.require_tenant_scope(p_tenant_id text) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    _declared text := os_core.current_tenant_id();
BEGIN
    IF _declared IS NULL THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
            'no tenant is declared in this transaction',
            'call os_core.set_tenant(''<tenant_id>'') first, in the same transaction'
        );
    END IF;
    IF p_tenant_id IS DISTINCT FROM _declared THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_TENANT_SCOPE_VIOLATION',
            format(
                'tenant_id %s is not the tenant declared for this transaction (%s)',
                coalesce(quote_literal(p_tenant_id), 'NULL'), quote_literal(_declared)
            )
        );
    END IF;
END;
$$;


ALTER FUNCTION os_core.require_tenant_scope(p_tenant_id text) OWNER TO selene_owner;

--
-- Name: FUNCTION require_tenant_scope(p_tenant_id text); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.require_tenant_scope(p_tenant_id text) IS 'Raises OS_WORK_ORDER_TENANT_SCOPE_VIOLATION unless p_tenant_id is exactly the tenant declared for this transaction. Internal.';


--
-- Name: scope_tenant_ids(text); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.scope_tenant_ids(p_tenant_id text) RETURNS TABLE(tenant_id text)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    -- One tenant, or every tenant on a single node (NULL, which the work takes as is):
    -- one call.
    IF p_tenant_id IS NOT NULL OR NOT os_core.is_distributed() THEN
        RETURN QUERY SELECT p_tenant_id;
        RETURN;
    END IF;
    -- Every tenant on Citus: one call per tenant, each delegated to its worker (a
    -- NULL tenant is not routable, and crashes Citus 13.2's delegation). The list is
    -- read as the caller, who must be in selene_dba (the tenant_id column's privilege
    -- and the policies tenant_list). Not SECURITY DEFINER: on Citus this reads every
    -- worker, over connections made as the role running it, and only login roles can
    -- connect.
    PERFORM os_core.require_dba_or_tenant_scope(NULL);
    RETURN QUERY
    SELECT l.tenant_id FROM os_core.work_order_ledger AS l
    UNION
    SELECT c.tenant_id FROM os_core.work_orders_current AS c
    UNION
    SELECT s.tenant_id FROM os_core.work_order_step_attempts AS s
    UNION
    SELECT e.tenant_id FROM os_core.work_order_leases AS e
    ORDER BY 1;
END;
$$;


ALTER FUNCTION os_core.scope_tenant_ids(p_tenant_id text) OWNER TO selene_owner;

--
-- Name: FUNCTION scope_tenant_ids(p_tenant_id text); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.scope_tenant_ids(p_tenant_id text) IS 'The tenant arguments with which rebuild, verify and tenant_stats call their *_local work for p_tenant_id: p_tenant_id itself (NULL, every tenant, on a single node), or on Citus for every tenant each tenant id in the ledger or a projection, in order, read as the caller (selene_dba only, policy tenant_list; OS_WORK_ORDER_TENANT_SCOPE_VIOLATION otherwise). Internal.';


--
-- Name: set_tenant(text); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.set_tenant(p_tenant_id text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    -- A missing tenant breaks the rule as an empty one does, with the same DETAIL.
    _tenant_id_violation text := os_core.tenant_id_violation(coalesce(p_tenant_id, ''));
BEGIN
    IF _tenant_id_violation IS NOT NULL THEN
        PERFORM os_core.raise_error('OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', _tenant_id_violation);
    END IF;
    -- On a Citus coordinator (migration 0007 sets citus.propagate_set_commands to
    -- local), Citus sends a SET LOCAL, not a set_config, on to every worker this
    -- transaction uses, now or later: the tenant is declared wherever its calls run,
    -- also when a shard move between two calls sends them to different workers.
    IF pg_catalog.current_setting('citus.propagate_set_commands', TRUE) = 'local' THEN
        EXECUTE format('SET LOCAL selene.tenant_id = %L', p_tenant_id);
    END IF;
    RETURN pg_catalog.set_config('selene.tenant_id', p_tenant_id, TRUE);
END;
$$;


ALTER FUNCTION os_core.set_tenant(p_tenant_id text) OWNER TO selene_owner;

--
-- Name: FUNCTION set_tenant(p_tenant_id text); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.set_tenant(p_tenant_id text) IS 'Declares the tenant of the current transaction (transaction-local setting selene.tenant_id). Call it inside the transaction that uses the capabilities: it ends with the transaction.';


--
-- Name: tenant_id_violation(text); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.tenant_id_violation(p_tenant_id text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN ((p_tenant_id !~ '^[A-Za-z0-9_.:-]+$'::text) OR (char_length(p_tenant_id) > 64)) THEN 'tenant_id must be 1 to 64 characters of A-Z, a-z, 0-9, _ . : -'::text ELSE NULL::text END;


ALTER FUNCTION os_core.tenant_id_violation(p_tenant_id text) OWNER TO selene_owner;

--
-- Name: FUNCTION tenant_id_violation(p_tenant_id text); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.tenant_id_violation(p_tenant_id text) IS 'The tenant-id rule: NULL when p_tenant_id is 1-64 characters of A-Z a-z 0-9 _ . : - (or is NULL, which each caller decides on), else the DETAIL that names the rule. Used by set_tenant, the contract check, require_dba_or_tenant_scope and lock_consumer; the domain os_core.tenant_id states the same rule. Internal.';


--
-- Name: tenant_stats(text); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.tenant_stats(p_tenant_id text DEFAULT NULL::text) RETURNS TABLE(tenant_id text, ledger_events bigint, last_event_id bigint, last_recorded_at timestamp with time zone, work_orders bigint, work_orders_by_status jsonb, active_leases bigint, projected_events bigint, projected_last_event_id bigint, projection_agrees boolean)
    LANGUAGE plpgsql STABLE
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    _tenant text;
BEGIN
    -- Once, or on Citus for every tenant once per tenant, in tenant order.
    FOR _tenant IN SELECT t.tenant_id FROM os_core.scope_tenant_ids(p_tenant_id) AS t LOOP
        RETURN QUERY SELECT * FROM os_core.tenant_stats_local(_tenant);
    END LOOP;
END;
$$;


ALTER FUNCTION os_core.tenant_stats(p_tenant_id text) OWNER TO selene_owner;

--
-- Name: FUNCTION tenant_stats(p_tenant_id text); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.tenant_stats(p_tenant_id text) IS 'Monitoring, per tenant (one, or every tenant with NULL, which needs selene_dba): ledger events, last event id and its recorded_at, work orders by status, active leases, and whether the projection''s event counts and last event agree with the ledger (projection_agrees false: run verify). active_leases counts leases not released, expired or not. Reads the tenant''s ledger index and projections once; writes nothing. Errors: OS_WORK_ORDER_TENANT_SCOPE_VIOLATION (SE003), OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED (SE004) for a malformed tenant id.';


--
-- Name: tenant_stats_local(text); Type: FUNCTION; Schema: os_core; Owner: selene_projector
--

CREATE FUNCTION os_core.tenant_stats_local(p_tenant_id text) RETURNS TABLE(tenant_id text, ledger_events bigint, last_event_id bigint, last_recorded_at timestamp with time zone, work_orders bigint, work_orders_by_status jsonb, active_leases bigint, projected_events bigint, projected_last_event_id bigint, projection_agrees boolean)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM os_core.require_dba_or_tenant_scope(p_tenant_id);
    -- For one tenant the planner gets p_tenant_id as a constant (a custom plan), so
    -- every scan below is an index range scan of that tenant.
    RETURN QUERY
    WITH ledger AS (
        SELECT l.tenant_id, count(*) AS events, max(l.work_order_event_id) AS last_event_id
        FROM os_core.work_order_ledger AS l
        WHERE p_tenant_id IS NULL OR l.tenant_id = p_tenant_id
        GROUP BY l.tenant_id
    ),

    by_status AS (
        SELECT c.tenant_id, c.work_order_status, count(*) AS work_orders,
            sum(c.event_count) AS events, max(c.last_event_id) AS last_event_id
        FROM os_core.work_orders_current AS c
        WHERE p_tenant_id IS NULL OR c.tenant_id = p_tenant_id
        GROUP BY c.tenant_id, c.work_order_status
    ),

    projected AS (
        SELECT s.tenant_id, sum(s.work_orders)::bigint AS work_orders,
            jsonb_object_agg(s.work_order_status, s.work_orders ORDER BY s.work_order_status)
                AS by_status,
            sum(s.events)::bigint AS events, max(s.last_event_id) AS last_event_id
        FROM by_status AS s
        GROUP BY s.tenant_id
    ),

    leases AS (
        SELECT e.tenant_id, count(*) AS active
        FROM os_core.work_order_leases AS e
        WHERE (p_tenant_id IS NULL OR e.tenant_id = p_tenant_id) AND e.lease_state = 'ACTIVE'
        GROUP BY e.tenant_id
    )

    SELECT
        t.tenant_id::text,
        coalesce(l.events, 0),
        l.last_event_id,
        (
            SELECT e.recorded_at FROM os_core.work_order_ledger AS e
            WHERE
                e.tenant_id = t.tenant_id AND e.work_order_event_id = l.last_event_id
                -- Said again for Citus, which routes a statement by its constants.
                AND (p_tenant_id IS NULL OR e.tenant_id = p_tenant_id)
        ),
        coalesce(p.work_orders, 0),
        coalesce(p.by_status, '{}'::jsonb),
        coalesce(a.active, 0),
        coalesce(p.events, 0),
        p.last_event_id,
        coalesce(l.events, 0) = coalesce(p.events, 0)
        AND l.last_event_id IS NOT DISTINCT FROM p.last_event_id
    FROM (SELECT l.tenant_id FROM ledger AS l UNION SELECT p.tenant_id FROM projected AS p) AS t
    LEFT JOIN ledger AS l ON t.tenant_id = l.tenant_id
    LEFT JOIN projected AS p ON t.tenant_id = p.tenant_id
    LEFT JOIN leases AS a ON t.tenant_id = a.tenant_id
    ORDER BY t.tenant_id;
END;
$$;


ALTER FUNCTION os_core.tenant_stats_local(p_tenant_id text) OWNER TO selene_projector;

--
-- Name: FUNCTION tenant_stats_local(p_tenant_id text); Type: COMMENT; Schema: os_core; Owner: selene_projector
--

COMMENT ON FUNCTION os_core.tenant_stats_local(p_tenant_id text) IS 'The work of os_core.tenant_stats for p_tenant_id, or every tenant (NULL) on a single node, run where the rows are (on Citus, delegated to the tenant''s worker). Same checks and rows. Internal: call os_core.tenant_stats.';


--
-- Name: tg_append_only__refuse_mutation(); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.tg_append_only__refuse_mutation() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM os_core.raise_error(
        'OS_WORK_ORDER_APPEND_ONLY_VIOLATION',
        format('%s on %I.%I is refused: the table is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME),
        'append a new event instead; a cancel is a WORK_ORDER_CANCELED event'
    );
    RETURN NULL;
END;
$$;


ALTER FUNCTION os_core.tg_append_only__refuse_mutation() OWNER TO selene_owner;

--
-- Name: FUNCTION tg_append_only__refuse_mutation(); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.tg_append_only__refuse_mutation() IS 'Trigger function: raises OS_WORK_ORDER_APPEND_ONLY_VIOLATION (SE001) naming the operation and table.';


--
-- Name: work_order_batch_replay_differences(text, integer, bigint[], integer[], integer[], numeric[], bigint[], text[], text[], bigint[], text[], text[], text[], text[], bigint[], jsonb[]); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.work_order_batch_replay_differences(p_tenant_id text, p_todo integer, p_orig_id bigint[], p_orig_no integer[], p_schema integer[], p_corr numeric[], p_turn bigint[], p_type text[], p_status text[], p_reason bigint[], p_step text[], p_step_hash text[], p_owner text[], p_token text[], p_expires bigint[], p_payload jsonb[]) RETURNS text[]
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    WITH content AS (
        SELECT
            e.ord,
            jsonb_build_object(
                'schema_version', e.schema_version,
                'correlation_id', e.correlation_id,
                'turn_id', e.turn_id,
                'event_type', e.event_type,
                'work_order_status', e.work_order_status,
                'reason_code', e.reason_code,
                'step_id', e.step_id,
                'step_input_hash', e.step_input_hash,
                'lease_owner_id', e.lease_owner_id,
                'lease_token_hash', e.lease_token_hash,
                'lease_expires_at', e.lease_expires_at,
                'payload', e.payload
            ) AS doc
        FROM
            unnest(
                p_schema, p_corr, p_turn, p_type, p_status, p_reason, p_step, p_step_hash,
                p_owner, p_token, p_expires, p_payload
            ) WITH ORDINALITY
                AS e (
                    schema_version, correlation_id, turn_id, event_type, work_order_status,
                    reason_code, step_id, step_input_hash, lease_owner_id, lease_token_hash,
                    lease_expires_at, payload, ord
                )
        -- The events that would be replays, and the events of the batch they replay.
        WHERE
            e.ord <= p_todo AND (p_orig_id[e.ord] IS NOT NULL OR p_orig_no[e.ord] IS NOT NULL)
            OR e.ord = ANY(p_orig_no)
    )

    SELECT array_agg(d.differing ORDER BY i.ord)
    FROM generate_series(1, p_todo) AS i (ord)
    LEFT JOIN LATERAL (
        SELECT string_agg(incoming.key, ', ' ORDER BY incoming.key) AS differing
        FROM content AS c
        CROSS JOIN LATERAL jsonb_each(c.doc) AS incoming
        WHERE
            c.ord = i.ord
            AND incoming.value IS DISTINCT FROM coalesce(
                (
                    SELECT to_jsonb(l)
                    FROM os_core.work_order_ledger AS l
                    WHERE
                        l.tenant_id = p_tenant_id
                        AND l.work_order_event_id = p_orig_id[i.ord]
                ),
                (
                    SELECT f.doc FROM content AS f
                    WHERE f.ord = p_orig_no[i.ord]
                )
            ) -> incoming.key
    ) AS d ON p_orig_id[i.ord] IS NOT NULL OR p_orig_no[i.ord] IS NOT NULL;
$$;


ALTER FUNCTION os_core.work_order_batch_replay_differences(p_tenant_id text, p_todo integer, p_orig_id bigint[], p_orig_no integer[], p_schema integer[], p_corr numeric[], p_turn bigint[], p_type text[], p_status text[], p_reason bigint[], p_step text[], p_step_hash text[], p_owner text[], p_token text[], p_expires bigint[], p_payload jsonb[]) OWNER TO selene_owner;

--
-- Name: FUNCTION work_order_batch_replay_differences(p_tenant_id text, p_todo integer, p_orig_id bigint[], p_orig_no integer[], p_schema integer[], p_corr numeric[], p_turn bigint[], p_type text[], p_status text[], p_reason bigint[], p_step text[], p_step_hash text[], p_owner text[], p_token text[], p_expires bigint[], p_payload jsonb[]); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.work_order_batch_replay_differences(p_tenant_id text, p_todo integer, p_orig_id bigint[], p_orig_no integer[], p_schema integer[], p_corr numeric[], p_turn bigint[], p_type text[], p_status text[], p_reason bigint[], p_step text[], p_step_hash text[], p_owner text[], p_token text[], p_expires bigint[], p_payload jsonb[]) IS 'For events 1 to p_todo of an append_many batch (the batch as arrays, by event): where the event would replay a stored event (p_orig_id) or an earlier one of the batch (p_orig_no), the names of the fields it gives otherwise, as the single append lists them (NULL: a replay); NULL for the other events. Internal.';


--
-- Name: work_order_cancel(text, text, bigint, text, bigint, bigint); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.work_order_cancel(p_tenant_id text, p_work_order_id text, p_reason_code bigint, p_idempotency_key text, p_created_at bigint, p_turn_id bigint) RETURNS TABLE(work_order_id text, work_order_status text, last_event_id bigint)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    _violation text;
    _current os_core.work_orders_current;
    _event_id bigint;
BEGIN
    PERFORM os_core.require_tenant_scope(p_tenant_id);

    -- The cancel's own fields, by the append's per-event rules, before any lock.
    -- The correlation_id is the work order's, read below: 1 stands in for it here.
    IF p_idempotency_key IS NULL THEN
        _violation := 'idempotency_key is required for a cancel, so that a retry can be '
            || 'recognised and answered with the first result';
    ELSE
        _violation := os_core.work_order_event_contract_violation(
            1, p_tenant_id, p_work_order_id, 1, p_turn_id, 'WORK_ORDER_CANCELED', 'CANCELED',
            p_reason_code, NULL, NULL, NULL, NULL, NULL, p_created_at, p_idempotency_key, NULL
        );
    END IF;
    IF _violation IS NOT NULL THEN
        PERFORM os_core.raise_error('OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', _violation);
    END IF;

    -- Under the work order's lock nobody else appends to it until we commit, so
    -- the status read here is the status the cancel is appended after.
    PERFORM os_core.lock_work_order(p_tenant_id, p_work_order_id);

    SELECT c.* INTO _current
    FROM os_core.work_orders_current AS c
    WHERE c.tenant_id = p_tenant_id AND c.work_order_id = p_work_order_id;
    IF NOT FOUND THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            format('work order %L does not exist: there is nothing to cancel', p_work_order_id)
        );
    END IF;

    -- A terminal work order is refused, except when the key was already used for
    -- this work order: then the append answers, with the replay of the first
    -- cancel (whatever created_at the retry carries), or with a contract violation
    -- if the key named different content.
    IF
        os_core.is_terminal_status(_current.work_order_status)
        AND NOT EXISTS (
            SELECT
            FROM os_core.work_order_ledger AS l
            WHERE
                l.tenant_id = p_tenant_id
                AND l.work_order_id = p_work_order_id
                AND l.idempotency_key = p_idempotency_key
        )
        THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CANCEL_INVALID_STATE',
            format(
                'work order %L is already %s, a terminal status: it cannot be canceled',
                p_work_order_id, _current.work_order_status
            )
        );
    END IF;

    SELECT a.work_order_event_id INTO STRICT _event_id
    FROM os_core.work_order_ledger_append(
        p_tenant_id => p_tenant_id,
        p_work_order_id => p_work_order_id,
        p_correlation_id => _current.correlation_id,
        p_turn_id => p_turn_id,
        p_event_type => 'WORK_ORDER_CANCELED',
        p_work_order_status => 'CANCELED',
        p_reason_code => p_reason_code,
        p_created_at => p_created_at,
        p_idempotency_key => p_idempotency_key
    ) AS a;

    -- CANCELED is terminal, so the cancel event (first time or replayed) is the
    -- work order's last event.
    RETURN QUERY SELECT p_work_order_id, 'CANCELED'::text, _event_id;
END;
$$;


ALTER FUNCTION os_core.work_order_cancel(p_tenant_id text, p_work_order_id text, p_reason_code bigint, p_idempotency_key text, p_created_at bigint, p_turn_id bigint) OWNER TO selene_owner;

--
-- Name: FUNCTION work_order_cancel(p_tenant_id text, p_work_order_id text, p_reason_code bigint, p_idempotency_key text, p_created_at bigint, p_turn_id bigint); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.work_order_cancel(p_tenant_id text, p_work_order_id text, p_reason_code bigint, p_idempotency_key text, p_created_at bigint, p_turn_id bigint) IS 'WORKORDER_CANCEL: appends a WORK_ORDER_CANCELED event (status CANCELED, the work order''s correlation_id) through os_core.work_order_ledger_append, with its audit row, and returns (work_order_id, ''CANCELED'', last_event_id). The same idempotency_key and content again returns the first result (an idempotent replay), also with a later created_at (a retry re-stamps its clock; the first cancel''s stays). Errors: OS_WORK_ORDER_TENANT_SCOPE_VIOLATION (SE003); OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED (SE004) for a bad or missing argument or a work order that does not exist; OS_WORK_ORDER_CANCEL_INVALID_STATE (SE005) when the work order is already DONE, REFUSED, FAILED or CANCELED.';


--
-- Name: work_orders_current; Type: TABLE; Schema: os_core; Owner: selene_owner
--

CREATE TABLE os_core.work_orders_current (
    tenant_id text NOT NULL,
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
    CONSTRAINT event_count_positive CHECK ((event_count > 0)),
    CONSTRAINT tenant_id_format CHECK (((tenant_id)::os_core.tenant_id IS NOT NULL))
);

ALTER TABLE ONLY os_core.work_orders_current FORCE ROW LEVEL SECURITY;


ALTER TABLE os_core.work_orders_current OWNER TO selene_owner;

--
-- Name: TABLE work_orders_current; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON TABLE os_core.work_orders_current IS 'Projection: one row per (tenant_id, work_order_id), updated by every append and recomputable from the ledger by os_core.work_orders_current_rebuild.';


--
-- Name: COLUMN work_orders_current.last_event_id; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON COLUMN os_core.work_orders_current.last_event_id IS 'work_order_event_id of the work order''s latest event.';


--
-- Name: COLUMN work_orders_current.last_updated_at; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON COLUMN os_core.work_orders_current.last_updated_at IS 'created_at of the work order''s latest event.';


--
-- Name: COLUMN work_orders_current.step_id; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON COLUMN os_core.work_orders_current.step_id IS 'step_id of the latest event that named a step (with its step_input_hash).';


--
-- Name: COLUMN work_orders_current.lease_owner_id; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON COLUMN os_core.work_orders_current.lease_owner_id IS 'Lease of the latest event that carried one; cleared when the work order reaches a terminal status.';


--
-- Name: COLUMN work_orders_current.event_count; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON COLUMN os_core.work_orders_current.event_count IS 'Number of ledger events of the work order (what an optimistic-concurrency append expects).';


--
-- Name: work_order_current_read(text, text); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.work_order_current_read(p_tenant_id text, p_work_order_id text) RETURNS SETOF os_core.work_orders_current
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    -- The usual case in one comparison, without a call: require_tenant_scope runs
    -- only when the check fails, and raises exactly its error (no tenant declared,
    -- or another one) with its DETAIL. Passes exactly when it would pass.
    IF p_tenant_id IS NULL OR p_tenant_id IS DISTINCT FROM os_core.current_tenant_id() THEN
        PERFORM os_core.require_tenant_scope(p_tenant_id);
    END IF;
    RETURN QUERY
    SELECT c.*
    FROM os_core.work_orders_current AS c
    WHERE c.tenant_id = p_tenant_id AND c.work_order_id = p_work_order_id;
END;
$$;


ALTER FUNCTION os_core.work_order_current_read(p_tenant_id text, p_work_order_id text) OWNER TO selene_owner;

--
-- Name: FUNCTION work_order_current_read(p_tenant_id text, p_work_order_id text); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.work_order_current_read(p_tenant_id text, p_work_order_id text) IS 'OS_WORK_ORDER_CURRENT_READ: the current record of one work order of the declared tenant, or no row. Error: OS_WORK_ORDER_TENANT_SCOPE_VIOLATION (SE003).';


--
-- Name: work_order_event_contract_violation(integer, text, text, numeric, bigint, text, text, bigint, text, text, text, text, bigint, bigint, text, jsonb); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.work_order_event_contract_violation(p_schema_version integer, p_tenant_id text, p_work_order_id text, p_correlation_id numeric, p_turn_id bigint, p_event_type text, p_work_order_status text, p_reason_code bigint, p_step_id text, p_step_input_hash text, p_lease_owner_id text, p_lease_token_hash text, p_lease_expires_at bigint, p_created_at bigint, p_idempotency_key text, p_payload jsonb) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN CASE WHEN (p_schema_version IS DISTINCT FROM 1) THEN 'schema_version must be 1 (contract v1)'::text WHEN (p_tenant_id IS NULL) THEN 'tenant_id is required'::text WHEN (os_core.tenant_id_violation(p_tenant_id) IS NOT NULL) THEN os_core.tenant_id_violation(p_tenant_id) WHEN (p_work_order_id IS NULL) THEN 'work_order_id is required'::text WHEN os_core.is_blank(p_work_order_id) THEN 'work_order_id must not be blank'::text WHEN (char_length(p_work_order_id) > 128) THEN 'work_order_id must be at most 128 characters'::text WHEN (p_correlation_id IS NULL) THEN 'correlation_id is required'::text WHEN ((p_correlation_id <> trunc(p_correlation_id)) OR (p_correlation_id < (1)::numeric) OR (p_correlation_id >= '340282366920938463463374607431768211456'::numeric)) THEN 'correlation_id must be an integer with 1 <= correlation_id < 2^128'::text WHEN (p_turn_id IS NULL) THEN 'turn_id is required'::text WHEN (p_turn_id <= 0) THEN 'turn_id must be > 0'::text WHEN (p_event_type IS NULL) THEN 'event_type is required'::text WHEN (p_event_type <> ALL (ARRAY['WORK_ORDER_CREATED'::text, 'FIELD_SET'::text, 'FIELD_CONFLICT_RESOLVED'::text, 'STATUS_CHANGED'::text, 'STEP_STARTED'::text, 'STEP_FINISHED'::text, 'STEP_FAILED'::text, 'WORK_ORDER_CANCELED'::text])) THEN (('event_type must be one of WORK_ORDER_CREATED, FIELD_SET, '::text || 'FIELD_CONFLICT_RESOLVED, STATUS_CHANGED, STEP_STARTED, STEP_FINISHED, '::text) || 'STEP_FAILED, WORK_ORDER_CANCELED'::text) WHEN (p_work_order_status IS NULL) THEN 'work_order_status is required'::text WHEN (p_work_order_status <> ALL (ARRAY['DRAFT'::text, 'CLARIFY'::text, 'CONFIRM'::text, 'EXECUTING'::text, 'DONE'::text, 'REFUSED'::text, 'FAILED'::text, 'CANCELED'::text])) THEN ('work_order_status must be one of DRAFT, CLARIFY, CONFIRM, EXECUTING, '::text || 'DONE, REFUSED, FAILED, CANCELED'::text) WHEN ((p_event_type = 'WORK_ORDER_CANCELED'::text) <> (p_work_order_status = 'CANCELED'::text)) THEN ('a WORK_ORDER_CANCELED event carries work_order_status CANCELED, '::text || 'and only it does'::text) WHEN (p_reason_code IS NULL) THEN 'reason_code is required'::text WHEN ((p_reason_code < 1) OR (p_reason_code > '4294967295'::bigint)) THEN 'reason_code must be between 1 and 2^32-1'::text WHEN ((p_step_id IS NULL) AND (p_event_type = ANY (ARRAY['STEP_STARTED'::text, 'STEP_FINISHED'::text, 'STEP_FAILED'::text]))) THEN format('step_id is required for %s events'::text, p_event_type) WHEN os_core.is_blank(p_step_id) THEN 'step_id must not be blank'::text WHEN (char_length(p_step_id) > 96) THEN 'step_id must be at most 96 characters'::text WHEN ((p_step_input_hash IS NOT NULL) AND (p_step_id IS NULL)) THEN 'step_input_hash needs a step_id'::text WHEN os_core.is_blank(p_step_input_hash) THEN 'step_input_hash must not be blank'::text WHEN (char_length(p_step_input_hash) > 128) THEN 'step_input_hash must be at most 128 characters'::text WHEN (((p_lease_owner_id IS NULL) <> (p_lease_token_hash IS NULL)) OR ((p_lease_owner_id IS NULL) <> (p_lease_expires_at IS NULL))) THEN ('lease_owner_id, lease_token_hash and lease_expires_at go together: '::text || 'give all three or none'::text) WHEN os_core.is_blank(p_lease_owner_id) THEN 'lease_owner_id must not be blank'::text WHEN (char_length(p_lease_owner_id) > 128) THEN 'lease_owner_id must be at most 128 characters'::text WHEN os_core.is_blank(p_lease_token_hash) THEN 'lease_token_hash must not be blank'::text WHEN (char_length(p_lease_token_hash) > 128) THEN 'lease_token_hash must be at most 128 characters'::text WHEN (p_created_at IS NULL) THEN 'created_at is required'::text WHEN (p_created_at <= 0) THEN 'created_at must be > 0'::text WHEN (p_lease_expires_at <= p_created_at) THEN 'lease_expires_at must be after created_at'::text WHEN os_core.is_blank(p_idempotency_key) THEN 'idempotency_key must not be blank'::text WHEN (char_length(p_idempotency_key) > 128) THEN 'idempotency_key must be at most 128 characters'::text WHEN (jsonb_typeof(p_payload) <> 'object'::text) THEN 'payload must be a JSON object'::text WHEN (pg_column_size(p_payload) > 65536) THEN 'payload must be at most 64 KiB'::text WHEN jsonb_path_exists(p_payload, 'strict $.**{65}'::jsonpath) THEN 'payload must not nest values more than 64 levels deep'::text ELSE NULL::text END;


ALTER FUNCTION os_core.work_order_event_contract_violation(p_schema_version integer, p_tenant_id text, p_work_order_id text, p_correlation_id numeric, p_turn_id bigint, p_event_type text, p_work_order_status text, p_reason_code bigint, p_step_id text, p_step_input_hash text, p_lease_owner_id text, p_lease_token_hash text, p_lease_expires_at bigint, p_created_at bigint, p_idempotency_key text, p_payload jsonb) OWNER TO selene_owner;

--
-- Name: FUNCTION work_order_event_contract_violation(p_schema_version integer, p_tenant_id text, p_work_order_id text, p_correlation_id numeric, p_turn_id bigint, p_event_type text, p_work_order_status text, p_reason_code bigint, p_step_id text, p_step_input_hash text, p_lease_owner_id text, p_lease_token_hash text, p_lease_expires_at bigint, p_created_at bigint, p_idempotency_key text, p_payload jsonb); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.work_order_event_contract_violation(p_schema_version integer, p_tenant_id text, p_work_order_id text, p_correlation_id numeric, p_turn_id bigint, p_event_type text, p_work_order_status text, p_reason_code bigint, p_step_id text, p_step_input_hash text, p_lease_owner_id text, p_lease_token_hash text, p_lease_expires_at bigint, p_created_at bigint, p_idempotency_key text, p_payload jsonb) IS 'The first WorkOrderLedgerEventInput v1 rule the event breaks, as a sentence naming the field, or NULL when it keeps them all. Only per-event rules; the ledger table holds the same rules as domains and constraints.';


--
-- Name: work_order_events_of_batch(jsonb); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.work_order_events_of_batch(p_events jsonb) RETURNS TABLE(ord bigint, work_order_id text, correlation_id numeric, turn_id bigint, event_type text, work_order_status text, reason_code bigint, created_at bigint, step_id text, step_input_hash text, lease_owner_id text, lease_token_hash text, lease_expires_at bigint, idempotency_key text, payload jsonb, schema_version integer, expected_event_count bigint)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    -- A field absent or JSON null is SQL NULL, except schema_version, which defaults
    -- to 1 when absent, as the single append's parameter does.
    SELECT
        e.ord,
        e.doc ->> 'work_order_id',
        (e.doc ->> 'correlation_id')::numeric,
        (e.doc ->> 'turn_id')::bigint,
        e.doc ->> 'event_type',
        e.doc ->> 'work_order_status',
        (e.doc ->> 'reason_code')::bigint,
        (e.doc ->> 'created_at')::bigint,
        e.doc ->> 'step_id',
        e.doc ->> 'step_input_hash',
        e.doc ->> 'lease_owner_id',
        e.doc ->> 'lease_token_hash',
        (e.doc ->> 'lease_expires_at')::bigint,
        e.doc ->> 'idempotency_key',
        nullif(e.doc -> 'payload', 'null'::jsonb),
        CASE WHEN e.doc ? 'schema_version' THEN (e.doc ->> 'schema_version')::integer ELSE 1 END,
        (e.doc ->> 'expected_event_count')::bigint
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS e (doc, ord)
$$;


ALTER FUNCTION os_core.work_order_events_of_batch(p_events jsonb) OWNER TO selene_owner;

--
-- Name: FUNCTION work_order_events_of_batch(p_events jsonb); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.work_order_events_of_batch(p_events jsonb) IS 'The events of an append_many batch (a JSON array of objects keyed by the single append''s parameter names without p_), one row each, numbered from 1 (ord), each field cast to its parameter''s type. Internal.';


--
-- Name: work_order_leases; Type: TABLE; Schema: os_core; Owner: selene_owner
--

CREATE TABLE os_core.work_order_leases (
    tenant_id text NOT NULL,
    work_order_id os_core.work_order_id NOT NULL,
    lease_owner_id os_core.token_text NOT NULL,
    lease_token_hash os_core.token_text NOT NULL,
    lease_state text NOT NULL,
    lease_expires_at os_core.monotonic_ns NOT NULL,
    acquired_event_id bigint NOT NULL,
    acquired_at os_core.monotonic_ns NOT NULL,
    last_event_id bigint NOT NULL,
    released_at os_core.monotonic_ns,
    CONSTRAINT lease_released_at_when_released CHECK (((lease_state = 'RELEASED'::text) = (released_at IS NOT NULL))),
    CONSTRAINT lease_state_known CHECK ((lease_state = ANY (ARRAY['ACTIVE'::text, 'RELEASED'::text]))),
    CONSTRAINT tenant_id_format CHECK (((tenant_id)::os_core.tenant_id IS NOT NULL))
);

ALTER TABLE ONLY os_core.work_order_leases FORCE ROW LEVEL SECURITY;


ALTER TABLE os_core.work_order_leases OWNER TO selene_owner;

--
-- Name: TABLE work_order_leases; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON TABLE os_core.work_order_leases IS 'Projection: the lease of each work order (owner, token hash, expiry); only token hashes are stored.';


--
-- Name: work_order_lease_read(text, text); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.work_order_lease_read(p_tenant_id text, p_work_order_id text) RETURNS SETOF os_core.work_order_leases
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM os_core.require_tenant_scope(p_tenant_id);
    RETURN QUERY
    SELECT l.*
    FROM os_core.work_order_leases AS l
    WHERE l.tenant_id = p_tenant_id AND l.work_order_id = p_work_order_id;
END;
$$;


ALTER FUNCTION os_core.work_order_lease_read(p_tenant_id text, p_work_order_id text) OWNER TO selene_owner;

--
-- Name: FUNCTION work_order_lease_read(p_tenant_id text, p_work_order_id text); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.work_order_lease_read(p_tenant_id text, p_work_order_id text) IS 'The lease of a work order of the declared tenant (owner, token hash, ACTIVE or RELEASED, expiry, when acquired and released), or no row when it never had one. Expiry is not judged here: compare lease_expires_at with your own monotonic clock. Error: OS_WORK_ORDER_TENANT_SCOPE_VIOLATION (SE003).';


--
-- Name: work_order_ledger_append(text, text, numeric, bigint, text, text, bigint, bigint, text, text, text, text, bigint, text, jsonb, integer, bigint); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.work_order_ledger_append(p_tenant_id text, p_work_order_id text, p_correlation_id numeric, p_turn_id bigint, p_event_type text, p_work_order_status text, p_reason_code bigint, p_created_at bigint, p_step_id text DEFAULT NULL::text, p_step_input_hash text DEFAULT NULL::text, p_lease_owner_id text DEFAULT NULL::text, p_lease_token_hash text DEFAULT NULL::text, p_lease_expires_at bigint DEFAULT NULL::bigint, p_idempotency_key text DEFAULT NULL::text, p_payload jsonb DEFAULT NULL::jsonb, p_schema_version integer DEFAULT 1, p_expected_event_count bigint DEFAULT NULL::bigint) RETURNS TABLE(work_order_event_id bigint, idempotency_replay boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    _violation text;
    _event os_core.work_order_ledger;
    _current os_core.work_orders_current;
    _exists boolean;
    _differing text;
    _bound_to text;
    _event_id bigint;
    _last_event_id bigint;
    _paging_horizon xid8;
    _audit_event_id bigint;
    _node_id bigint;
BEGIN
    -- The usual case in one comparison, without a call: require_tenant_scope runs
    -- only when the check fails, and raises exactly its error (no tenant declared,
    -- or another one) with its DETAIL. Passes exactly when it would pass.
    IF p_tenant_id IS NULL OR p_tenant_id IS DISTINCT FROM os_core.current_tenant_id() THEN
        PERFORM os_core.require_tenant_scope(p_tenant_id);
    END IF;

    _violation := os_core.work_order_event_contract_violation(
        p_schema_version, p_tenant_id, p_work_order_id, p_correlation_id, p_turn_id,
        p_event_type, p_work_order_status, p_reason_code, p_step_id, p_step_input_hash,
        p_lease_owner_id, p_lease_token_hash, p_lease_expires_at, p_created_at,
        p_idempotency_key, p_payload
    );
    IF _violation IS NOT NULL THEN
        PERFORM os_core.raise_error('OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', _violation);
    END IF;
    -- An integral value may arrive as 42.000: store it as 42, so that equal ids
    -- are equal byte for byte in the ledger, the projection and a rebuild.
    p_correlation_id := trunc(p_correlation_id);

    PERFORM os_core.lock_work_order(p_tenant_id, p_work_order_id);

    -- Same key, same content: a replay. created_at is not content: a retry re-stamps
    -- its clock, so the original event (and its created_at) stands, and the audit row
    -- of the replay records the created_at it carried.
    IF p_idempotency_key IS NOT NULL THEN
        SELECT l.* INTO _event
        FROM os_core.work_order_ledger AS l
        WHERE
            l.tenant_id = p_tenant_id
            AND l.work_order_id = p_work_order_id
            AND l.idempotency_key = p_idempotency_key;
        IF FOUND THEN
            SELECT string_agg(incoming.key, ', ' ORDER BY incoming.key) INTO _differing
            FROM jsonb_each(jsonb_build_object(
                'schema_version', p_schema_version,
                'correlation_id', p_correlation_id,
                'turn_id', p_turn_id,
                'event_type', p_event_type,
                'work_order_status', p_work_order_status,
                'reason_code', p_reason_code,
                'step_id', p_step_id,
                'step_input_hash', p_step_input_hash,
                'lease_owner_id', p_lease_owner_id,
                'lease_token_hash', p_lease_token_hash,
                'lease_expires_at', p_lease_expires_at,
                'payload', p_payload
            )) AS incoming
            WHERE incoming.value IS DISTINCT FROM to_jsonb(_event) -> incoming.key;
            IF _differing IS NOT NULL THEN
                PERFORM os_core.raise_error(
                    'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
                    format(
                        'idempotency_key %L already names event %s of this work order, '
                        || 'with a different %s',
                        p_idempotency_key, _event.work_order_event_id, _differing
                    ),
                    'use a new idempotency_key for a different event'
                );
            END IF;
            PERFORM ph1j.emit_append_audit(
                _event, 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY', p_created_at
            );
            RETURN QUERY SELECT _event.work_order_event_id, TRUE;
            RETURN;
        END IF;
    END IF;

    SELECT c.* INTO _current
    FROM os_core.work_orders_current AS c
    WHERE c.tenant_id = p_tenant_id AND c.work_order_id = p_work_order_id;
    _exists := FOUND;

    -- A work order with events but no current row is drift (a bug, a direct
    -- write): appending to it from a missing row would write history that breaks
    -- the contract into the ledger for good. Rebuild first.
    IF NOT _exists AND EXISTS (
        SELECT FROM os_core.work_order_ledger AS l
        WHERE l.tenant_id = p_tenant_id AND l.work_order_id = p_work_order_id
    ) THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            format(
                'work order %L has ledger events but no current row: the projection has drifted',
                p_work_order_id
            ),
            'run os_core.work_orders_current_rebuild for the tenant, then append again'
        );
    END IF;

    IF NOT _exists AND p_event_type <> 'WORK_ORDER_CREATED' THEN
        _violation := format(
            'work order %L does not exist: its first event must be WORK_ORDER_CREATED',
            p_work_order_id
        );
    ELSIF _exists AND p_event_type = 'WORK_ORDER_CREATED' THEN
        _violation := format('work order %L was already created', p_work_order_id);
    ELSIF _exists AND p_correlation_id <> _current.correlation_id THEN
        _violation := format(
            'correlation_id must stay %s for work order %L',
            _current.correlation_id, p_work_order_id
        );
    ELSIF _exists AND os_core.is_terminal_status(_current.work_order_status) THEN
        _violation := format(
            'work order %L is %s, a terminal status: only an idempotent replay may follow',
            p_work_order_id, _current.work_order_status
        );
    ELSIF _exists AND p_created_at < _current.last_updated_at THEN
        _violation := format(
            'created_at %s is before the work order''s latest event (%s): '
            || 'created_at must not go backwards',
            p_created_at, _current.last_updated_at
        );
    ELSIF
        _exists
        AND p_lease_owner_id IS DISTINCT FROM _current.lease_owner_id
        AND p_lease_owner_id IS NOT NULL
        AND _current.lease_owner_id IS NOT NULL
        AND _current.lease_expires_at > p_created_at
        THEN
        _violation := format(
            'work order %L is leased to %L until %s: lease_owner_id %L cannot take it over '
            || 'before it expires',
            p_work_order_id, _current.lease_owner_id, _current.lease_expires_at,
            p_lease_owner_id
        );
    ELSIF coalesce(_current.event_count, 0) <> p_expected_event_count THEN
        _violation := format(
            'expected_event_count is %s but work order %L has %s events: '
            || 'another writer appended first',
            p_expected_event_count, p_work_order_id, coalesce(_current.event_count, 0)
        );
    END IF;
    IF _violation IS NOT NULL THEN
        PERFORM os_core.raise_error('OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED', _violation);
    END IF;

    -- The transaction takes its xid before it draws the event id, and the event
    -- records the horizon read after drawing it: together they let a tenant-wide
    -- reader page past the event only when no smaller id can still commit.
    -- The ids of a tenant keep growing on another node (after a shard move or a
    -- restore, whose sequence may be behind): an id not above an id the tenant got
    -- on another node is drawn again past its last one. (An id below one drawn here
    -- and committed first is the usual race of concurrent appends, which paging
    -- horizons cover: it needs nothing.)
    PERFORM pg_current_xact_id();
    _event_id := nextval('os_core.work_order_ledger_work_order_event_id_seq');
    SELECT l.work_order_event_id INTO _last_event_id
    FROM os_core.work_order_ledger AS l
    WHERE l.tenant_id = p_tenant_id
    ORDER BY l.work_order_event_id DESC
    LIMIT 1;
    IF _event_id <= _last_event_id AND EXISTS (
        SELECT FROM os_core.work_order_ledger AS l
        WHERE
            l.tenant_id = p_tenant_id
            AND l.work_order_event_id > _event_id
            AND l.paging_node_id <> os_core.node_id()
    ) THEN
        _event_id := os_core.next_event_id_after(_last_event_id);
    END IF;
    -- The audit row's id too, before the horizon: one horizon, read after both ids
    -- were drawn, holds for both rows (os_core.audit_read pages by it as well).
    _audit_event_id := nextval('ph1j.audit_events_audit_event_id_seq');
    _paging_horizon := os_core.paging_horizon();
    _node_id := os_core.node_id();

    -- A new work order's current row first, alone: ON CONFLICT DO NOTHING waits for a
    -- concurrent creator of the same correlation_id and then names its work order.
    IF NOT _exists THEN
        INSERT INTO os_core.work_orders_current (
            tenant_id, work_order_id, schema_version, correlation_id, turn_id,
            work_order_status, last_event_id, last_reason_code, last_updated_at, step_id,
            step_input_hash, lease_owner_id, lease_token_hash, lease_expires_at, event_count
        ) VALUES (
            p_tenant_id, p_work_order_id, p_schema_version, p_correlation_id, p_turn_id,
            p_work_order_status, _event_id, p_reason_code, p_created_at,
            p_step_id, p_step_input_hash,
            CASE WHEN NOT os_core.is_terminal_status(p_work_order_status) THEN p_lease_owner_id END,
            CASE WHEN NOT os_core.is_terminal_status(p_work_order_status) THEN p_lease_token_hash END,
            CASE WHEN NOT os_core.is_terminal_status(p_work_order_status) THEN p_lease_expires_at END,
            1
        )
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            SELECT c.work_order_id INTO _bound_to
            FROM os_core.work_orders_current AS c
            WHERE c.tenant_id = p_tenant_id AND c.correlation_id = p_correlation_id;
            PERFORM os_core.raise_error(
                'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
                format(
                    'correlation_id %s is already bound to work order %L of this tenant',
                    p_correlation_id, _bound_to
                )
            );
        END IF;
    END IF;

    -- The event, the current row's update (an existing work order's) and the audit
    -- row in one statement: each write of its own cost an executor start and an end,
    -- the audit a function call too (a fifth of the append's CPU, benchmarks ab).
    -- Every value is known beforehand: the event id was drawn above.
    WITH inserted AS (
        INSERT INTO os_core.work_order_ledger (
            tenant_id, work_order_event_id, schema_version, work_order_id, correlation_id,
            turn_id, event_type, work_order_status, reason_code, step_id, step_input_hash,
            lease_owner_id, lease_token_hash, lease_expires_at, created_at, idempotency_key,
            payload, paging_horizon, paging_node_id
        ) OVERRIDING SYSTEM VALUE VALUES (
            p_tenant_id, _event_id, p_schema_version, p_work_order_id, p_correlation_id,
            p_turn_id, p_event_type, p_work_order_status, p_reason_code, p_step_id,
            p_step_input_hash, p_lease_owner_id, p_lease_token_hash, p_lease_expires_at,
            p_created_at, p_idempotency_key, p_payload, _paging_horizon, _node_id
        )
        RETURNING *
    ),

    projected AS (
        UPDATE os_core.work_orders_current AS c SET
            schema_version = p_schema_version,
            turn_id = p_turn_id,
            work_order_status = p_work_order_status,
            last_event_id = _event_id,
            last_reason_code = p_reason_code,
            last_updated_at = p_created_at,
            step_id = coalesce(p_step_id, c.step_id),
            step_input_hash = CASE
                WHEN p_step_id IS NOT NULL THEN p_step_input_hash ELSE c.step_input_hash
            END,
            lease_owner_id = CASE
                WHEN os_core.is_terminal_status(p_work_order_status) THEN NULL
                ELSE coalesce(p_lease_owner_id, c.lease_owner_id)
            END,
            lease_token_hash = CASE
                WHEN os_core.is_terminal_status(p_work_order_status) THEN NULL
                WHEN p_lease_owner_id IS NOT NULL THEN p_lease_token_hash
                ELSE c.lease_token_hash
            END,
            lease_expires_at = CASE
                WHEN os_core.is_terminal_status(p_work_order_status) THEN NULL
                WHEN p_lease_owner_id IS NOT NULL THEN p_lease_expires_at
                ELSE c.lease_expires_at
            END,
            event_count = c.event_count + 1
        WHERE c.tenant_id = p_tenant_id AND c.work_order_id = p_work_order_id AND _exists
    ),

    audited AS (
        INSERT INTO ph1j.audit_events (
            tenant_id, audit_event_id, capability, outcome, work_order_id, correlation_id,
            turn_id, event_type, reason_code, idempotency_key, work_order_event_id,
            paging_horizon, paging_node_id
        ) OVERRIDING SYSTEM VALUE VALUES (
            p_tenant_id, _audit_event_id, 'OS_WORK_ORDER_LEDGER_APPEND', 'APPENDED',
            p_work_order_id, p_correlation_id, p_turn_id, p_event_type, p_reason_code,
            p_idempotency_key, _event_id, _paging_horizon, _node_id
        )
    )

    SELECT i.* INTO _event FROM inserted AS i;
    PERFORM ph1j.notify_audit();

    -- Only the events that change them call the step-attempt and lease projections:
    -- the conditions are the helpers' own, so a call skipped here would have done
    -- nothing, and a FIELD_SET or STATUS_CHANGED event saves two calls.
    IF _event.event_type IN ('STEP_STARTED', 'STEP_FINISHED', 'STEP_FAILED') THEN
        PERFORM os_core.project_step_attempt(_event);
    END IF;
    IF _event.lease_owner_id IS NOT NULL OR os_core.is_terminal_status(_event.work_order_status) THEN
        PERFORM os_core.project_lease(_event);
    END IF;

    RETURN QUERY SELECT _event.work_order_event_id, FALSE;
END;
$$;


ALTER FUNCTION os_core.work_order_ledger_append(p_tenant_id text, p_work_order_id text, p_correlation_id numeric, p_turn_id bigint, p_event_type text, p_work_order_status text, p_reason_code bigint, p_created_at bigint, p_step_id text, p_step_input_hash text, p_lease_owner_id text, p_lease_token_hash text, p_lease_expires_at bigint, p_idempotency_key text, p_payload jsonb, p_schema_version integer, p_expected_event_count bigint) OWNER TO selene_owner;

--
-- Name: FUNCTION work_order_ledger_append(p_tenant_id text, p_work_order_id text, p_correlation_id numeric, p_turn_id bigint, p_event_type text, p_work_order_status text, p_reason_code bigint, p_created_at bigint, p_step_id text, p_step_input_hash text, p_lease_owner_id text, p_lease_token_hash text, p_lease_expires_at bigint, p_idempotency_key text, p_payload jsonb, p_schema_version integer, p_expected_event_count bigint); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.work_order_ledger_append(p_tenant_id text, p_work_order_id text, p_correlation_id numeric, p_turn_id bigint, p_event_type text, p_work_order_status text, p_reason_code bigint, p_created_at bigint, p_step_id text, p_step_input_hash text, p_lease_owner_id text, p_lease_token_hash text, p_lease_expires_at bigint, p_idempotency_key text, p_payload jsonb, p_schema_version integer, p_expected_event_count bigint) IS 'OS_WORK_ORDER_LEDGER_APPEND: appends one work-order event for the declared tenant, updates work_orders_current, work_order_step_attempts and work_order_leases, and writes a PH1.J audit row, all in the caller''s transaction. Returns the event id; idempotency_replay is true when (tenant_id, work_order_id, idempotency_key) was already appended with the same content, created_at aside (a retry re-stamps its clock): the original event id comes back, the original created_at stays in the ledger and the projections, and nothing new is written but the audit row, which records the created_at the replay carried. Pass p_expected_event_count to refuse the append if another writer got there first. Errors: OS_WORK_ORDER_TENANT_SCOPE_VIOLATION (SE003), OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED (SE004) with a DETAIL naming the rule.';


--
-- Name: work_order_ledger_append_many(text, jsonb); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.work_order_ledger_append_many(p_tenant_id text, p_events jsonb) RETURNS TABLE(event_index integer, work_order_event_id bigint, idempotency_replay boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET "citus.enable_ddl_propagation" TO 'off'
    SET jit TO 'off'
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


ALTER FUNCTION os_core.work_order_ledger_append_many(p_tenant_id text, p_events jsonb) OWNER TO selene_owner;

--
-- Name: FUNCTION work_order_ledger_append_many(p_tenant_id text, p_events jsonb); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.work_order_ledger_append_many(p_tenant_id text, p_events jsonb) IS 'OS_WORK_ORDER_LEDGER_APPEND for a batch of the declared tenant''s events, p_events a JSON array of objects keyed by the single append''s parameter names without p_ (tenant_id aside: p_tenant_id is every event''s). Returns one row per event, in order: event_index (from 0), work_order_event_id and idempotency_replay, each exactly what os_core.work_order_ledger_append would return for the events appended one after another in one transaction, with the same ledger rows, projections and audit rows. Set-based (Citus aside): a few statements per batch, not a call per event. Atomic: when an event is refused, nothing of the batch is written, and the error is the single append''s (SQLSTATE, reason code, DETAIL) for the first refused event, with a HINT whose last line reads "event_index N: ...".';


--
-- Name: work_order_ledger_append_many_one_by_one(text, jsonb); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.work_order_ledger_append_many_one_by_one(p_tenant_id text, p_events jsonb) RETURNS TABLE(event_index integer, work_order_event_id bigint, idempotency_replay boolean)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    _n integer := jsonb_array_length(p_events);
    _i integer := 0;
    _e record;
    _ids bigint [] := '{}'::bigint [];
    _replays boolean [] := '{}'::boolean [];
    _id bigint;
    _replay boolean;
    _sqlstate text;
    _message text;
    _detail text;
    _hint text;
BEGIN
    BEGIN
        FOR _index IN 1.._n LOOP
            _i := _index;
            SELECT * INTO STRICT _e
            FROM os_core.work_order_events_of_batch(jsonb_build_array(p_events -> (_index - 1)));
            SELECT a.work_order_event_id, a.idempotency_replay
            INTO STRICT _id, _replay
            FROM os_core.work_order_ledger_append(
                p_tenant_id => p_tenant_id,
                p_work_order_id => _e.work_order_id,
                p_correlation_id => _e.correlation_id,
                p_turn_id => _e.turn_id,
                p_event_type => _e.event_type,
                p_work_order_status => _e.work_order_status,
                p_reason_code => _e.reason_code,
                p_created_at => _e.created_at,
                p_step_id => _e.step_id,
                p_step_input_hash => _e.step_input_hash,
                p_lease_owner_id => _e.lease_owner_id,
                p_lease_token_hash => _e.lease_token_hash,
                p_lease_expires_at => _e.lease_expires_at,
                p_idempotency_key => _e.idempotency_key,
                p_payload => _e.payload,
                p_schema_version => _e.schema_version,
                p_expected_event_count => _e.expected_event_count
            ) AS a;
            _ids := _ids || _id;
            _replays := _replays || _replay;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS
            _sqlstate = RETURNED_SQLSTATE, _message = MESSAGE_TEXT,
            _detail = PG_EXCEPTION_DETAIL, _hint = PG_EXCEPTION_HINT;
        PERFORM os_core.raise_batch_error(
            _i - 1, _sqlstate, _message, nullif(_detail, ''), nullif(_hint, '')
        );
    END;
    RETURN QUERY
    SELECT (r.ord - 1)::integer, r.id, r.replay
    FROM unnest(_ids, _replays) WITH ORDINALITY AS r (id, replay, ord)
    ORDER BY r.ord;
END;
$$;


ALTER FUNCTION os_core.work_order_ledger_append_many_one_by_one(p_tenant_id text, p_events jsonb) OWNER TO selene_owner;

--
-- Name: FUNCTION work_order_ledger_append_many_one_by_one(p_tenant_id text, p_events jsonb); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.work_order_ledger_append_many_one_by_one(p_tenant_id text, p_events jsonb) IS 'The work of os_core.work_order_ledger_append_many where it cannot be set-based (on Citus, whose delegated calls may run no INSERT ... SELECT): os_core.work_order_ledger_append for each event in order, in one subtransaction, a refusal re-raised with the event''s index. Internal.';


--
-- Name: work_order_ledger_read(text, text, bigint, integer); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.work_order_ledger_read(p_tenant_id text, p_work_order_id text DEFAULT NULL::text, p_after_event_id bigint DEFAULT 0, p_limit integer DEFAULT 1000) RETURNS SETOF os_core.work_order_ledger
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    _snapshot pg_snapshot := pg_current_snapshot();
    _own xid8 := pg_current_xact_id_if_assigned();
    _horizon xid8;
    _node bigint;
BEGIN
    -- The usual case in one comparison, without a call: require_tenant_scope runs
    -- only when the check fails, and raises exactly its error (no tenant declared,
    -- or another one) with its DETAIL. Passes exactly when it would pass.
    IF p_tenant_id IS NULL OR p_tenant_id IS DISTINCT FROM os_core.current_tenant_id() THEN
        PERFORM os_core.require_tenant_scope(p_tenant_id);
    END IF;
    IF p_after_event_id IS NULL OR p_after_event_id < 0 THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            'after_event_id must be >= 0 (0 reads from the start)'
        );
    END IF;
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 10000 THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            'limit must be between 1 and 10000'
        );
    END IF;

    IF p_work_order_id IS NULL THEN
        -- Event ids are drawn before commit, so a smaller id may still commit after
        -- a larger one. Return an event only when its paging horizon is at or below
        -- the lowest xid of any other transaction this snapshot cannot see (running,
        -- or above its xmax): then every transaction that could hold a smaller id
        -- has ended, and a page never passes over an event that is still to come.
        -- The rest shows up in a later page; nothing waits. The reader's own transaction
        -- does not hold its own events back. (Within one work order ids grow in
        -- commit order, so a work order's read needs no horizon.)
        IF _own IS NULL THEN
            -- The snapshot's xmin: the lowest xid it cannot see. (On a hot standby
            -- the running xids are not in pg_snapshot_xip, but xmin holds them.)
            _horizon := pg_snapshot_xmin(_snapshot);
        ELSE
            -- The same without the reader's own xid, which xmin may be.
            _horizon := least(
                (SELECT min(x.xid) FROM pg_snapshot_xip(_snapshot) AS x (xid)),
                CASE
                    WHEN pg_snapshot_xmax(_snapshot) = _own
                        THEN (_own::text::bigint + 1)::text::xid8
                    ELSE pg_snapshot_xmax(_snapshot)
                END
            );
        END IF;
        -- An event appended on another node (before a shard move or a restore) was
        -- committed there before its rows came here, and its horizon counts that
        -- node's transaction ids: it is passed. Every event still to commit here
        -- draws a larger id than it (the append draws past the tenant's last id).
        _node := os_core.node_id();
        -- The page is the run of events, in id order, up to the first one whose
        -- horizon is not reached: that one and all after it wait for a later page
        -- (a later event may have a lower horizon, and must not be read past it).
        -- The columns are carried through by name: a whole-row value expanded with
        -- (p.event).* would be built per row and taken apart once per column.
        RETURN QUERY
        SELECT
            p.tenant_id, p.work_order_event_id, p.schema_version, p.work_order_id,
            p.correlation_id, p.turn_id, p.event_type, p.work_order_status, p.reason_code,
            p.step_id, p.step_input_hash, p.lease_owner_id, p.lease_token_hash,
            p.lease_expires_at, p.created_at, p.idempotency_key, p.payload, p.recorded_at,
            p.paging_horizon, p.paging_node_id
        FROM (
            SELECT
                l.*,
                bool_and(
                    l.paging_node_id <> _node
                    OR coalesce(l.paging_horizon, '0'::xid8) <= _horizon
                    -- A horizon stored before a crash or a failover, above every xid this
                    -- node has given out since (asked only of a horizon above the xmax).
                    OR (
                        l.paging_horizon > pg_snapshot_xmax(_snapshot)
                        AND coalesce(
                            l.paging_horizon > os_core.first_unassigned_xid(_snapshot, _own), FALSE
                        )
                    )
                ) OVER (
                    ORDER BY l.work_order_event_id ROWS UNBOUNDED PRECEDING
                ) AS reached
            FROM os_core.work_order_ledger AS l
            WHERE l.tenant_id = p_tenant_id AND l.work_order_event_id > p_after_event_id
            ORDER BY l.work_order_event_id
            LIMIT p_limit
        ) AS p
        WHERE p.reached;
    ELSE
        RETURN QUERY
        SELECT l.*
        FROM os_core.work_order_ledger AS l
        WHERE
            l.tenant_id = p_tenant_id
            AND l.work_order_id = p_work_order_id
            AND l.work_order_event_id > p_after_event_id
        ORDER BY l.work_order_event_id
        LIMIT p_limit;
    END IF;
END;
$$;


ALTER FUNCTION os_core.work_order_ledger_read(p_tenant_id text, p_work_order_id text, p_after_event_id bigint, p_limit integer) OWNER TO selene_owner;

--
-- Name: FUNCTION work_order_ledger_read(p_tenant_id text, p_work_order_id text, p_after_event_id bigint, p_limit integer); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.work_order_ledger_read(p_tenant_id text, p_work_order_id text, p_after_event_id bigint, p_limit integer) IS 'OS_WORK_ORDER_LEDGER_READ: the declared tenant''s events (or one work order''s, with p_work_order_id) with work_order_event_id > p_after_event_id, in event-id order, at most p_limit (1-10000). Pass the last id of a page as p_after_event_id to read the next. A tenant-wide read never passes over an event that is still to commit: it returns only events below every running transaction''s horizon, so a page may end early while writers are active (read on from its last id). Errors: SE003 tenant scope, SE004 bad paging arguments.';


--
-- Name: work_order_step_attempts; Type: TABLE; Schema: os_core; Owner: selene_owner
--

CREATE TABLE os_core.work_order_step_attempts (
    tenant_id text NOT NULL,
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
    CONSTRAINT attempt_finish_fields_together CHECK ((((attempt_status = 'STARTED'::text) = (finished_event_id IS NULL)) AND ((finished_event_id IS NULL) = (finished_at IS NULL)))),
    CONSTRAINT attempt_index_positive CHECK ((attempt_index > 0)),
    CONSTRAINT attempt_status_known CHECK ((attempt_status = ANY (ARRAY['STARTED'::text, 'FINISHED'::text, 'FAILED'::text]))),
    CONSTRAINT tenant_id_format CHECK (((tenant_id)::os_core.tenant_id IS NOT NULL))
);

ALTER TABLE ONLY os_core.work_order_step_attempts FORCE ROW LEVEL SECURITY;


ALTER TABLE os_core.work_order_step_attempts OWNER TO selene_owner;

--
-- Name: TABLE work_order_step_attempts; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON TABLE os_core.work_order_step_attempts IS 'Projection: one row per attempt of a step of a work order (STEP_STARTED opens one, STEP_FINISHED or STEP_FAILED closes it).';


--
-- Name: work_order_step_attempts_read(text, text); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.work_order_step_attempts_read(p_tenant_id text, p_work_order_id text) RETURNS SETOF os_core.work_order_step_attempts
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    PERFORM os_core.require_tenant_scope(p_tenant_id);
    RETURN QUERY
    SELECT a.*
    FROM os_core.work_order_step_attempts AS a
    WHERE a.tenant_id = p_tenant_id AND a.work_order_id = p_work_order_id
    ORDER BY a.started_event_id;
END;
$$;


ALTER FUNCTION os_core.work_order_step_attempts_read(p_tenant_id text, p_work_order_id text) OWNER TO selene_owner;

--
-- Name: FUNCTION work_order_step_attempts_read(p_tenant_id text, p_work_order_id text); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.work_order_step_attempts_read(p_tenant_id text, p_work_order_id text) IS 'One row per attempt of each step of a work order of the declared tenant, in the order they started: attempt_index, STARTED / FINISHED / FAILED, the events and times that opened and closed it. No row for an unknown work order. Error: OS_WORK_ORDER_TENANT_SCOPE_VIOLATION (SE003).';


--
-- Name: work_orders_current_rebuild(text, boolean); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.work_orders_current_rebuild(p_tenant_id text DEFAULT NULL::text, p_emit_audit boolean DEFAULT false) RETURNS TABLE(tenant_count bigint, work_order_count bigint, event_count bigint, rewritten_work_order_count bigint)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
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


ALTER FUNCTION os_core.work_orders_current_rebuild(p_tenant_id text, p_emit_audit boolean) OWNER TO selene_owner;

--
-- Name: FUNCTION work_orders_current_rebuild(p_tenant_id text, p_emit_audit boolean); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.work_orders_current_rebuild(p_tenant_id text, p_emit_audit boolean) IS 'OS_WORK_ORDER_CURRENT_REBUILD: makes work_orders_current, work_order_step_attempts and work_order_leases equal to what the ledger defines, for the declared tenant or, for selene_dba, for p_tenant_id or every tenant (NULL). The result equals what the appends produced. Online: it replays the ledger without blocking appends, then rewrites only the work orders that differ, each under its appends'' lock (held to the end of the calling transaction); past 1000 of them, under SHARE ROW EXCLUSIVE on work_orders_current. Gives up after lock_timeout 5s rather than queue behind a stuck transaction. Returns the tenants, work orders and events the projection holds, and how many work orders it rewrote. With p_emit_audit, one PH1.J audit row per tenant (outcome REBUILT).';


--
-- Name: work_orders_current_rebuild_local(text, boolean); Type: FUNCTION; Schema: os_core; Owner: selene_projector
--

CREATE FUNCTION os_core.work_orders_current_rebuild_local(p_tenant_id text, p_emit_audit boolean) RETURNS TABLE(tenant_count bigint, work_order_count bigint, event_count bigint, rewritten_work_order_count bigint)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET lock_timeout TO '5s'
    SET jit TO 'off'
    AS $_$
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
$_$;


ALTER FUNCTION os_core.work_orders_current_rebuild_local(p_tenant_id text, p_emit_audit boolean) OWNER TO selene_projector;

--
-- Name: FUNCTION work_orders_current_rebuild_local(p_tenant_id text, p_emit_audit boolean); Type: COMMENT; Schema: os_core; Owner: selene_projector
--

COMMENT ON FUNCTION os_core.work_orders_current_rebuild_local(p_tenant_id text, p_emit_audit boolean) IS 'The work of os_core.work_orders_current_rebuild for p_tenant_id, or every tenant (NULL) on a single node, run where the rows are (on Citus, delegated to the tenant''s worker). Same checks, results and audit. Internal: call os_core.work_orders_current_rebuild.';


--
-- Name: work_orders_current_verify(text, boolean); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.work_orders_current_verify(p_tenant_id text DEFAULT NULL::text, p_emit_audit boolean DEFAULT false) RETURNS TABLE(tenant_id text, work_order_id text, projection text, row_key text, difference text, expected text, actual text)
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    _tenant text;
BEGIN
    -- Once, or on Citus for every tenant once per tenant, in tenant order, so the rows
    -- come in the same order as from one node.
    FOR _tenant IN SELECT t.tenant_id FROM os_core.scope_tenant_ids(p_tenant_id) AS t LOOP
        RETURN QUERY
        SELECT * FROM os_core.work_orders_current_verify_local(_tenant, p_emit_audit);
    END LOOP;
END;
$$;


ALTER FUNCTION os_core.work_orders_current_verify(p_tenant_id text, p_emit_audit boolean) OWNER TO selene_owner;

--
-- Name: FUNCTION work_orders_current_verify(p_tenant_id text, p_emit_audit boolean); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.work_orders_current_verify(p_tenant_id text, p_emit_audit boolean) IS 'Compares work_orders_current, work_order_step_attempts and work_order_leases with what the ledger defines, for the declared tenant or, for selene_dba, for p_tenant_id or every tenant (NULL). One row per difference (missing row, unexpected row, or a column with its expected and actual value); no row when all agree. Writes nothing, except with p_emit_audit one PH1.J audit row per tenant (outcome VERIFIED). Safe while appends continue: it reads one snapshot.';


--
-- Name: work_orders_current_verify_local(text, boolean); Type: FUNCTION; Schema: os_core; Owner: selene_projector
--

CREATE FUNCTION os_core.work_orders_current_verify_local(p_tenant_id text, p_emit_audit boolean) RETURNS TABLE(tenant_id text, work_order_id text, projection text, row_key text, difference text, expected text, actual text)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    SET jit TO 'off'
    AS $$
DECLARE
    _drift refcursor;
    _per_tenant jsonb := '{}'::jsonb;
BEGIN
    PERFORM os_core.require_dba_or_tenant_scope(p_tenant_id);
    _drift := os_core.projection_drift(p_tenant_id, TRUE);
    LOOP
        FETCH _drift INTO tenant_id, work_order_id, projection, row_key, difference, expected, actual;
        EXIT WHEN NOT FOUND;
        RETURN NEXT;
        IF coalesce(p_emit_audit, FALSE) THEN
            -- Count the differences per tenant, for the audit.
            _per_tenant := jsonb_set(
                _per_tenant, ARRAY[tenant_id],
                to_jsonb(coalesce((_per_tenant ->> tenant_id)::bigint, 0) + 1)
            );
        END IF;
    END LOOP;
    CLOSE _drift;
    IF NOT coalesce(p_emit_audit, FALSE) THEN
        RETURN;
    END IF;

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


ALTER FUNCTION os_core.work_orders_current_verify_local(p_tenant_id text, p_emit_audit boolean) OWNER TO selene_projector;

--
-- Name: FUNCTION work_orders_current_verify_local(p_tenant_id text, p_emit_audit boolean); Type: COMMENT; Schema: os_core; Owner: selene_projector
--

COMMENT ON FUNCTION os_core.work_orders_current_verify_local(p_tenant_id text, p_emit_audit boolean) IS 'The work of os_core.work_orders_current_verify for p_tenant_id, or every tenant (NULL) on a single node, run where the rows are (on Citus, delegated to the tenant''s worker). Same checks, rows and audit. Internal: call os_core.work_orders_current_verify.';


--
-- Name: work_orders_list_pending(text, text[], bigint, integer); Type: FUNCTION; Schema: os_core; Owner: selene_owner
--

CREATE FUNCTION os_core.work_orders_list_pending(p_tenant_id text, p_statuses text[] DEFAULT ARRAY['DRAFT'::text, 'CLARIFY'::text, 'CONFIRM'::text], p_updated_after bigint DEFAULT NULL::bigint, p_limit integer DEFAULT 50) RETURNS SETOF os_core.work_orders_current
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    _unknown text;
    -- last_updated_at is > 0, so 0 means no lower bound. A plain variable, not
    -- coalesce() in the query, so that a cached generic plan keeps the bound as
    -- an index condition (where the scan stops) rather than a filter.
    _updated_after bigint := coalesce(p_updated_after, 0);
BEGIN
    PERFORM os_core.require_tenant_scope(p_tenant_id);
    IF p_statuses IS NULL OR cardinality(p_statuses) = 0 THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            'statuses must name at least one work_order_status',
            'omit statuses for the pending ones: DRAFT, CLARIFY, CONFIRM'
        );
    END IF;
    SELECT string_agg(coalesce(quote_literal(s.status), 'NULL'), ', ' ORDER BY s.n) INTO _unknown
    FROM unnest(p_statuses) WITH ORDINALITY AS s (status, n)
    WHERE
        s.status IS NULL
        OR s.status NOT IN (
            'DRAFT', 'CLARIFY', 'CONFIRM', 'EXECUTING', 'DONE', 'REFUSED', 'FAILED', 'CANCELED'
        );
    IF _unknown IS NOT NULL THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            format(
                'statuses holds %s: each must be one of DRAFT, CLARIFY, CONFIRM, EXECUTING, '
                || 'DONE, REFUSED, FAILED, CANCELED',
                _unknown
            )
        );
    END IF;
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 1000 THEN
        PERFORM os_core.raise_error(
            'OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED',
            'limit must be between 1 and 1000'
        );
    END IF;

    -- One ordered scan of the index work_orders_current_by_status per status,
    -- each cut at p_limit rows, then the newest p_limit of those: at most
    -- statuses x p_limit rows are read, however many work orders match.
    RETURN QUERY
    SELECT newest.*
    FROM (SELECT DISTINCT s.status FROM unnest(p_statuses) AS s (status)) AS wanted
    CROSS JOIN LATERAL (
        SELECT c.*
        FROM os_core.work_orders_current AS c
        WHERE
            c.tenant_id = p_tenant_id
            AND c.work_order_status = wanted.status
            AND c.last_updated_at > _updated_after
        ORDER BY c.last_updated_at DESC, c.work_order_id ASC
        LIMIT p_limit
    ) AS newest
    ORDER BY newest.last_updated_at DESC, newest.work_order_id ASC
    LIMIT p_limit;
END;
$$;


ALTER FUNCTION os_core.work_orders_list_pending(p_tenant_id text, p_statuses text[], p_updated_after bigint, p_limit integer) OWNER TO selene_owner;

--
-- Name: FUNCTION work_orders_list_pending(p_tenant_id text, p_statuses text[], p_updated_after bigint, p_limit integer); Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON FUNCTION os_core.work_orders_list_pending(p_tenant_id text, p_statuses text[], p_updated_after bigint, p_limit integer) IS 'WORKORDER_LIST_PENDING: the declared tenant''s work orders (rows of work_orders_current) whose status is in p_statuses (default the pending DRAFT, CLARIFY, CONFIRM) and, when p_updated_after is given, whose last_updated_at is after it; newest first (last_updated_at DESC, then work_order_id), at most p_limit (1-1000). Served by the index work_orders_current_by_status. Errors: OS_WORK_ORDER_TENANT_SCOPE_VIOLATION (SE003); OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED (SE004) for an empty or NULL status set, an unknown status, or a limit out of range.';


--
-- Name: draw_audit_event_id(); Type: FUNCTION; Schema: ph1j; Owner: selene_owner
--

CREATE FUNCTION ph1j.draw_audit_event_id(OUT audit_event_id bigint, OUT paging_horizon xid8, OUT paging_node_id bigint) RETURNS record
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
BEGIN
    -- The order os_core.work_order_ledger_append keeps for event ids, which
    -- os_core.audit_read relies on: the transaction id first (a replay or a verify may
    -- have written nothing yet), then the audit id, then the horizon read after it. A
    -- transaction with an xid at or above the horizon got it after this id was drawn,
    -- so it draws only larger audit ids.
    PERFORM pg_current_xact_id();
    audit_event_id := nextval('ph1j.audit_events_audit_event_id_seq');
    paging_horizon := os_core.paging_horizon();
    paging_node_id := os_core.node_id();
END;
$$;


ALTER FUNCTION ph1j.draw_audit_event_id(OUT audit_event_id bigint, OUT paging_horizon xid8, OUT paging_node_id bigint) OWNER TO selene_owner;

--
-- Name: FUNCTION draw_audit_event_id(OUT audit_event_id bigint, OUT paging_horizon xid8, OUT paging_node_id bigint); Type: COMMENT; Schema: ph1j; Owner: selene_owner
--

COMMENT ON FUNCTION ph1j.draw_audit_event_id(OUT audit_event_id bigint, OUT paging_horizon xid8, OUT paging_node_id bigint) IS 'Draws the audit_event_id of a new PH1.J audit row (after taking the transaction''s id) and returns it with the paging horizon read after it and this node''s id, for the row''s paging_horizon and paging_node_id (os_core.audit_read). Writes nothing. Internal, for ph1j.emit_append_audit and ph1j.emit_diagnostic_audit.';


--
-- Name: emit_append_audit(os_core.work_order_ledger, text, bigint); Type: FUNCTION; Schema: ph1j; Owner: selene_owner
--

CREATE FUNCTION ph1j.emit_append_audit(p_event os_core.work_order_ledger, p_outcome text, p_replay_created_at bigint) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    _drawn record;
BEGIN
    -- The id and its paging horizon, drawn in the order os_core.audit_read relies on
    -- (a replay may have no transaction id yet). The ledger event's own horizon was
    -- read before this id was drawn, and would not do.
    SELECT d.* INTO _drawn FROM ph1j.draw_audit_event_id() AS d;
    INSERT INTO ph1j.audit_events (
        tenant_id, audit_event_id, capability, outcome, work_order_id, correlation_id,
        turn_id, event_type, reason_code, idempotency_key, work_order_event_id,
        replay_created_at, paging_horizon, paging_node_id
    ) OVERRIDING SYSTEM VALUE VALUES (
        p_event.tenant_id, _drawn.audit_event_id, 'OS_WORK_ORDER_LEDGER_APPEND', p_outcome,
        p_event.work_order_id, p_event.correlation_id, p_event.turn_id, p_event.event_type,
        p_event.reason_code, p_event.idempotency_key, p_event.work_order_event_id,
        p_replay_created_at, _drawn.paging_horizon, _drawn.paging_node_id
    );

    PERFORM ph1j.notify_audit();
END;
$$;


ALTER FUNCTION ph1j.emit_append_audit(p_event os_core.work_order_ledger, p_outcome text, p_replay_created_at bigint) OWNER TO selene_owner;

--
-- Name: FUNCTION emit_append_audit(p_event os_core.work_order_ledger, p_outcome text, p_replay_created_at bigint); Type: COMMENT; Schema: ph1j; Owner: selene_owner
--

COMMENT ON FUNCTION ph1j.emit_append_audit(p_event os_core.work_order_ledger, p_outcome text, p_replay_created_at bigint) IS 'Writes the PH1.J audit row of an append (outcome APPENDED, p_replay_created_at NULL; os_core.work_order_ledger_append writes its own in the statement of the event) or of an idempotent replay (outcome OS_WORK_ORDER_IDEMPOTENCY_REPLAY: p_event is the original event, p_replay_created_at the created_at the replay carried), and NOTIFYs channel ph1j_audit with the audit_event_id alone (any session may LISTEN) when the setting selene.audit_notify is on. Records the row''s paging horizon for os_core.audit_read. Internal.';


--
-- Name: emit_diagnostic_audit(text, text, text, jsonb); Type: FUNCTION; Schema: ph1j; Owner: selene_owner
--

CREATE FUNCTION ph1j.emit_diagnostic_audit(p_tenant_id text, p_capability text, p_outcome text, p_details jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO 'pg_catalog', 'pg_temp'
    AS $$
DECLARE
    _drawn record;
BEGIN
    -- The id and its paging horizon, drawn in the order os_core.audit_read relies on.
    SELECT d.* INTO _drawn FROM ph1j.draw_audit_event_id() AS d;
    INSERT INTO ph1j.audit_events (
        tenant_id, audit_event_id, capability, outcome, details, paging_horizon, paging_node_id
    ) OVERRIDING SYSTEM VALUE VALUES (
        p_tenant_id, _drawn.audit_event_id, p_capability, p_outcome, p_details,
        _drawn.paging_horizon, _drawn.paging_node_id
    );
END;
$$;


ALTER FUNCTION ph1j.emit_diagnostic_audit(p_tenant_id text, p_capability text, p_outcome text, p_details jsonb) OWNER TO selene_owner;

--
-- Name: FUNCTION emit_diagnostic_audit(p_tenant_id text, p_capability text, p_outcome text, p_details jsonb); Type: COMMENT; Schema: ph1j; Owner: selene_owner
--

COMMENT ON FUNCTION ph1j.emit_diagnostic_audit(p_tenant_id text, p_capability text, p_outcome text, p_details jsonb) IS 'Writes the PH1.J audit row of a rebuild (outcome REBUILT) or verify (outcome VERIFIED) of one tenant, with what it found in details, and its paging horizon for os_core.audit_read. Runs with the caller''s rights: the rebuild and verify, which run as selene_projector. Internal.';


--
-- Name: notify_audit(); Type: FUNCTION; Schema: ph1j; Owner: selene_owner
--

CREATE FUNCTION ph1j.notify_audit() RETURNS void
    LANGUAGE sql
    RETURN CASE WHEN (lower(current_setting('selene.audit_notify'::text, true)) = ANY (ARRAY['on'::text, 'true'::text, 'yes'::text, '1'::text])) THEN pg_notify('ph1j_audit'::text, (json_build_object('audit_event_id', currval((pg_get_serial_sequence('ph1j.audit_events'::text, 'audit_event_id'::text))::regclass)))::text) ELSE NULL::void END;


ALTER FUNCTION ph1j.notify_audit() OWNER TO selene_owner;

--
-- Name: FUNCTION notify_audit(); Type: COMMENT; Schema: ph1j; Owner: selene_owner
--

COMMENT ON FUNCTION ph1j.notify_audit() IS 'NOTIFYs channel ph1j_audit with the audit_event_id of the audit row this session wrote last (the identity''s currval), when the setting selene.audit_notify is on (on, true, yes or 1). Called right after writing an audit row. Internal.';


--
-- Name: consumer_positions; Type: TABLE; Schema: os_core; Owner: selene_owner
--

CREATE TABLE os_core.consumer_positions (
    tenant_id text NOT NULL,
    stream text NOT NULL,
    consumer text NOT NULL,
    committed_position bigint DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT statement_timestamp() NOT NULL,
    updated_at timestamp with time zone DEFAULT statement_timestamp() NOT NULL,
    CONSTRAINT committed_position_not_negative CHECK ((committed_position >= 0)),
    CONSTRAINT consumer_format CHECK ((consumer ~ '^[A-Za-z0-9_.:-]{1,128}$'::text)),
    CONSTRAINT stream_known CHECK ((stream = ANY (ARRAY['ledger'::text, 'audit'::text]))),
    CONSTRAINT tenant_id_format CHECK (((tenant_id)::os_core.tenant_id IS NOT NULL))
);

ALTER TABLE ONLY os_core.consumer_positions FORCE ROW LEVEL SECURITY;


ALTER TABLE os_core.consumer_positions OWNER TO selene_owner;

--
-- Name: TABLE consumer_positions; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON TABLE os_core.consumer_positions IS 'Durable consumers: per (tenant_id, stream, consumer) the last event id the consumer has processed. Written only by os_core.consumer_commit, in the consumer''s transaction; positions never move backwards.';


--
-- Name: COLUMN consumer_positions.stream; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON COLUMN os_core.consumer_positions.stream IS 'What the consumer follows: ledger (positions are work_order_event_id values) or audit (ph1j.audit_events.audit_event_id values).';


--
-- Name: COLUMN consumer_positions.consumer; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON COLUMN os_core.consumer_positions.consumer IS 'The consumer''s name, chosen by the service: 1-128 characters of A-Z a-z 0-9 _ . : -';


--
-- Name: COLUMN consumer_positions.committed_position; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON COLUMN os_core.consumer_positions.committed_position IS 'The id of the last event the consumer has processed (0: none yet). The consumer reads on after it.';


--
-- Name: COLUMN consumer_positions.updated_at; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON COLUMN os_core.consumer_positions.updated_at IS 'Wall-clock time of the last commit that moved the position, for operators.';


--
-- Name: work_order_leases_from_ledger; Type: VIEW; Schema: os_core; Owner: selene_owner
--

CREATE VIEW os_core.work_order_leases_from_ledger WITH (security_invoker='true') AS
 WITH lease_events AS (
         SELECT l.tenant_id,
            l.work_order_id,
            l.work_order_event_id,
            l.created_at,
            l.lease_owner_id,
            os_core.is_terminal_status((l.work_order_status)::text) AS ends_work_order,
            (((lag(l.lease_owner_id) OVER tenure)::text IS DISTINCT FROM (l.lease_owner_id)::text) OR ((lag(l.lease_expires_at) OVER tenure)::bigint <= (l.created_at)::bigint)) AS starts_tenure
           FROM os_core.work_order_ledger l
          WHERE ((l.lease_owner_id IS NOT NULL) OR os_core.is_terminal_status((l.work_order_status)::text))
          WINDOW tenure AS (PARTITION BY l.tenant_id, l.work_order_id ORDER BY l.work_order_event_id)
        ), per_work_order AS (
         SELECT e.tenant_id,
            e.work_order_id,
            max(e.work_order_event_id) FILTER (WHERE (e.lease_owner_id IS NOT NULL)) AS lease_event_id,
            max(ARRAY[e.work_order_event_id, (e.created_at)::bigint]) FILTER (WHERE ((e.lease_owner_id IS NOT NULL) AND e.starts_tenure)) AS acquired,
            max(ARRAY[e.work_order_event_id, (e.created_at)::bigint]) FILTER (WHERE e.ends_work_order) AS ended
           FROM lease_events e
          GROUP BY e.tenant_id, e.work_order_id
        )
 SELECT w.tenant_id,
    w.work_order_id,
    lease_event.lease_owner_id,
    lease_event.lease_token_hash,
        CASE
            WHEN (w.ended IS NULL) THEN 'ACTIVE'::text
            ELSE 'RELEASED'::text
        END AS lease_state,
    lease_event.lease_expires_at,
    w.acquired[1] AS acquired_event_id,
    (w.acquired[2])::os_core.monotonic_ns AS acquired_at,
    COALESCE(w.ended[1], lease_event.work_order_event_id) AS last_event_id,
    (w.ended[2])::os_core.monotonic_ns AS released_at
   FROM (per_work_order w
     JOIN LATERAL ( SELECT e.lease_owner_id,
            e.lease_token_hash,
            e.lease_expires_at,
            e.work_order_event_id
           FROM os_core.work_order_ledger e
          WHERE ((e.tenant_id = w.tenant_id) AND (e.work_order_event_id = w.lease_event_id))
         OFFSET 0) lease_event ON (true))
  WHERE (w.acquired IS NOT NULL);


ALTER TABLE os_core.work_order_leases_from_ledger OWNER TO selene_owner;

--
-- Name: VIEW work_order_leases_from_ledger; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON VIEW os_core.work_order_leases_from_ledger IS 'What os_core.work_order_leases must hold, computed from the ledger alone (columns in the table''s order). Rebuild writes it, verify compares with it. security_invoker.';


--
-- Name: work_order_ledger_work_order_event_id_seq; Type: SEQUENCE; Schema: os_core; Owner: selene_owner
--

ALTER TABLE os_core.work_order_ledger ALTER COLUMN work_order_event_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME os_core.work_order_ledger_work_order_event_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: work_order_step_attempts_from_ledger; Type: VIEW; Schema: os_core; Owner: selene_owner
--

CREATE VIEW os_core.work_order_step_attempts_from_ledger WITH (security_invoker='true') AS
 SELECT e.tenant_id,
    e.work_order_id,
    e.step_id,
    (((e.step_position + 1) / 2))::integer AS attempt_index,
        CASE e.next_event[1]
            WHEN 1 THEN 'FINISHED'::text
            WHEN 2 THEN 'FAILED'::text
            ELSE 'STARTED'::text
        END AS attempt_status,
    e.step_input_hash,
    e.work_order_event_id AS started_event_id,
    e.created_at AS started_at,
    e.next_event[2] AS finished_event_id,
    (e.next_event[3])::os_core.monotonic_ns AS finished_at,
    (e.next_event[4])::os_core.reason_code AS reason_code
   FROM ( SELECT l.tenant_id,
            l.work_order_id,
            l.step_id,
            l.step_input_hash,
            l.event_type,
            l.work_order_event_id,
            l.created_at,
            row_number() OVER step AS step_position,
            lead(
                CASE l.event_type
                    WHEN 'STEP_FINISHED'::text THEN ARRAY[(1)::bigint, l.work_order_event_id, (l.created_at)::bigint, (l.reason_code)::bigint]
                    WHEN 'STEP_FAILED'::text THEN ARRAY[(2)::bigint, l.work_order_event_id, (l.created_at)::bigint, (l.reason_code)::bigint]
                    ELSE NULL::bigint[]
                END) OVER step AS next_event
           FROM os_core.work_order_ledger l
          WHERE ((l.event_type)::text = ANY (ARRAY['STEP_STARTED'::text, 'STEP_FINISHED'::text, 'STEP_FAILED'::text]))
          WINDOW step AS (PARTITION BY l.tenant_id, l.work_order_id, l.step_id ORDER BY l.work_order_event_id)) e
  WHERE ((e.event_type)::text = 'STEP_STARTED'::text);


ALTER TABLE os_core.work_order_step_attempts_from_ledger OWNER TO selene_owner;

--
-- Name: VIEW work_order_step_attempts_from_ledger; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON VIEW os_core.work_order_step_attempts_from_ledger IS 'What os_core.work_order_step_attempts must hold, computed from the ledger alone (columns in the table''s order). Rebuild writes it, verify compares with it. security_invoker.';


--
-- Name: work_orders_current_from_ledger; Type: VIEW; Schema: os_core; Owner: selene_owner
--

CREATE VIEW os_core.work_orders_current_from_ledger WITH (security_invoker='true') AS
 WITH per_work_order AS (
         SELECT l.tenant_id,
            l.work_order_id,
            count(*) AS event_count,
            max(l.work_order_event_id) AS last_event_id,
            max(l.work_order_event_id) FILTER (WHERE (l.step_id IS NOT NULL)) AS step_event_id,
            max(l.work_order_event_id) FILTER (WHERE (l.lease_owner_id IS NOT NULL)) AS lease_event_id
           FROM os_core.work_order_ledger l
          GROUP BY l.tenant_id, l.work_order_id
        )
 SELECT w.tenant_id,
    w.work_order_id,
    last_event.schema_version,
    last_event.correlation_id,
    last_event.turn_id,
    last_event.work_order_status,
    last_event.work_order_event_id AS last_event_id,
    last_event.reason_code AS last_reason_code,
    last_event.created_at AS last_updated_at,
    step_event.step_id,
    step_event.step_input_hash,
        CASE
            WHEN (NOT os_core.is_terminal_status((last_event.work_order_status)::text)) THEN (lease_event.lease_owner_id)::text
            ELSE NULL::text
        END AS lease_owner_id,
        CASE
            WHEN (NOT os_core.is_terminal_status((last_event.work_order_status)::text)) THEN (lease_event.lease_token_hash)::text
            ELSE NULL::text
        END AS lease_token_hash,
        CASE
            WHEN (NOT os_core.is_terminal_status((last_event.work_order_status)::text)) THEN (lease_event.lease_expires_at)::bigint
            ELSE NULL::bigint
        END AS lease_expires_at,
    w.event_count
   FROM (((per_work_order w
     JOIN LATERAL ( SELECT e.schema_version,
            e.correlation_id,
            e.turn_id,
            e.work_order_status,
            e.work_order_event_id,
            e.reason_code,
            e.created_at
           FROM os_core.work_order_ledger e
          WHERE ((e.tenant_id = w.tenant_id) AND (e.work_order_event_id = w.last_event_id))
         OFFSET 0) last_event ON (true))
     LEFT JOIN LATERAL ( SELECT e.step_id,
            e.step_input_hash
           FROM os_core.work_order_ledger e
          WHERE ((e.tenant_id = w.tenant_id) AND (e.work_order_event_id = w.step_event_id))
         OFFSET 0) step_event ON (true))
     LEFT JOIN LATERAL ( SELECT e.lease_owner_id,
            e.lease_token_hash,
            e.lease_expires_at
           FROM os_core.work_order_ledger e
          WHERE ((e.tenant_id = w.tenant_id) AND (e.work_order_event_id = w.lease_event_id))
         OFFSET 0) lease_event ON (true));


ALTER TABLE os_core.work_orders_current_from_ledger OWNER TO selene_owner;

--
-- Name: VIEW work_orders_current_from_ledger; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON VIEW os_core.work_orders_current_from_ledger IS 'What os_core.work_orders_current must hold, computed from the ledger alone (columns in the table''s order). Rebuild writes it, verify compares with it. security_invoker: it shows what the caller may read of the ledger.';


--
-- Name: audit_events_audit_event_id_seq; Type: SEQUENCE; Schema: ph1j; Owner: selene_owner
--

ALTER TABLE ph1j.audit_events ALTER COLUMN audit_event_id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME ph1j.audit_events_audit_event_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: consumer_positions consumer_positions_pkey; Type: CONSTRAINT; Schema: os_core; Owner: selene_owner
--

ALTER TABLE ONLY os_core.consumer_positions
    ADD CONSTRAINT consumer_positions_pkey PRIMARY KEY (tenant_id, stream, consumer);


--
-- Name: work_order_leases work_order_leases_pkey; Type: CONSTRAINT; Schema: os_core; Owner: selene_owner
--

ALTER TABLE ONLY os_core.work_order_leases
    ADD CONSTRAINT work_order_leases_pkey PRIMARY KEY (tenant_id, work_order_id);


--
-- Name: work_order_ledger work_order_ledger_idempotency_key; Type: CONSTRAINT; Schema: os_core; Owner: selene_owner
--

ALTER TABLE ONLY os_core.work_order_ledger
    ADD CONSTRAINT work_order_ledger_idempotency_key UNIQUE (tenant_id, work_order_id, idempotency_key);


--
-- Name: work_order_ledger work_order_ledger_pkey; Type: CONSTRAINT; Schema: os_core; Owner: selene_owner
--

ALTER TABLE ONLY os_core.work_order_ledger
    ADD CONSTRAINT work_order_ledger_pkey PRIMARY KEY (tenant_id, work_order_event_id);


--
-- Name: work_order_step_attempts work_order_step_attempts_pkey; Type: CONSTRAINT; Schema: os_core; Owner: selene_owner
--

ALTER TABLE ONLY os_core.work_order_step_attempts
    ADD CONSTRAINT work_order_step_attempts_pkey PRIMARY KEY (tenant_id, work_order_id, step_id, attempt_index);


--
-- Name: work_orders_current work_orders_current_correlation_id; Type: CONSTRAINT; Schema: os_core; Owner: selene_owner
--

ALTER TABLE ONLY os_core.work_orders_current
    ADD CONSTRAINT work_orders_current_correlation_id UNIQUE (tenant_id, correlation_id);


--
-- Name: work_orders_current work_orders_current_pkey; Type: CONSTRAINT; Schema: os_core; Owner: selene_owner
--

ALTER TABLE ONLY os_core.work_orders_current
    ADD CONSTRAINT work_orders_current_pkey PRIMARY KEY (tenant_id, work_order_id);


--
-- Name: audit_events audit_events_pkey; Type: CONSTRAINT; Schema: ph1j; Owner: selene_owner
--

ALTER TABLE ONLY ph1j.audit_events
    ADD CONSTRAINT audit_events_pkey PRIMARY KEY (tenant_id, audit_event_id);


--
-- Name: work_order_ledger_by_work_order; Type: INDEX; Schema: os_core; Owner: selene_owner
--

CREATE INDEX work_order_ledger_by_work_order ON os_core.work_order_ledger USING btree (tenant_id, work_order_id, work_order_event_id) INCLUDE (step_id, lease_owner_id);


--
-- Name: INDEX work_order_ledger_by_work_order; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON INDEX os_core.work_order_ledger_by_work_order IS 'A work order''s events in id order, carrying step_id and lease_owner_id: the append''s and the reads'' probes, and the *_from_ledger views'' per-work-order aggregates from the index alone.';


--
-- Name: work_orders_current_by_status; Type: INDEX; Schema: os_core; Owner: selene_owner
--

CREATE INDEX work_orders_current_by_status ON os_core.work_orders_current USING btree (tenant_id, work_order_status, last_updated_at DESC, work_order_id);


--
-- Name: INDEX work_orders_current_by_status; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON INDEX os_core.work_orders_current_by_status IS 'Serves os_core.work_orders_list_pending: per (tenant_id, work_order_status), work orders newest first (last_updated_at DESC, then work_order_id), so each status is one ordered scan cut at the limit.';


--
-- Name: audit_events_by_work_order; Type: INDEX; Schema: ph1j; Owner: selene_owner
--

CREATE INDEX audit_events_by_work_order ON ph1j.audit_events USING btree (tenant_id, work_order_id, audit_event_id);


--
-- Name: work_order_ledger _100_refuse_truncate; Type: TRIGGER; Schema: os_core; Owner: selene_owner
--

CREATE TRIGGER _100_refuse_truncate BEFORE TRUNCATE ON os_core.work_order_ledger FOR EACH STATEMENT EXECUTE FUNCTION os_core.tg_append_only__refuse_mutation();


--
-- Name: TRIGGER _100_refuse_truncate ON work_order_ledger; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON TRIGGER _100_refuse_truncate ON os_core.work_order_ledger IS 'The ledger is append-only: TRUNCATE raises OS_WORK_ORDER_APPEND_ONLY_VIOLATION.';


--
-- Name: work_order_ledger _100_refuse_update_delete; Type: TRIGGER; Schema: os_core; Owner: selene_owner
--

CREATE TRIGGER _100_refuse_update_delete BEFORE DELETE OR UPDATE ON os_core.work_order_ledger FOR EACH STATEMENT EXECUTE FUNCTION os_core.tg_append_only__refuse_mutation();


--
-- Name: TRIGGER _100_refuse_update_delete ON work_order_ledger; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON TRIGGER _100_refuse_update_delete ON os_core.work_order_ledger IS 'The ledger is append-only: UPDATE and DELETE raise OS_WORK_ORDER_APPEND_ONLY_VIOLATION.';


--
-- Name: audit_events _100_refuse_truncate; Type: TRIGGER; Schema: ph1j; Owner: selene_owner
--

CREATE TRIGGER _100_refuse_truncate BEFORE TRUNCATE ON ph1j.audit_events FOR EACH STATEMENT EXECUTE FUNCTION os_core.tg_append_only__refuse_mutation();


--
-- Name: TRIGGER _100_refuse_truncate ON audit_events; Type: COMMENT; Schema: ph1j; Owner: selene_owner
--

COMMENT ON TRIGGER _100_refuse_truncate ON ph1j.audit_events IS 'The audit trail is append-only: TRUNCATE raises OS_WORK_ORDER_APPEND_ONLY_VIOLATION.';


--
-- Name: audit_events _100_refuse_update_delete; Type: TRIGGER; Schema: ph1j; Owner: selene_owner
--

CREATE TRIGGER _100_refuse_update_delete BEFORE DELETE OR UPDATE ON ph1j.audit_events FOR EACH STATEMENT EXECUTE FUNCTION os_core.tg_append_only__refuse_mutation();


--
-- Name: TRIGGER _100_refuse_update_delete ON audit_events; Type: COMMENT; Schema: ph1j; Owner: selene_owner
--

COMMENT ON TRIGGER _100_refuse_update_delete ON ph1j.audit_events IS 'The audit trail is append-only: UPDATE and DELETE raise OS_WORK_ORDER_APPEND_ONLY_VIOLATION.';


--
-- Name: consumer_positions; Type: ROW SECURITY; Schema: os_core; Owner: selene_owner
--

ALTER TABLE os_core.consumer_positions ENABLE ROW LEVEL SECURITY;

--
-- Name: consumer_positions tenant_isolation; Type: POLICY; Schema: os_core; Owner: selene_owner
--

CREATE POLICY tenant_isolation ON os_core.consumer_positions USING ((tenant_id = os_core.current_tenant_id())) WITH CHECK ((tenant_id = os_core.current_tenant_id()));


--
-- Name: POLICY tenant_isolation ON consumer_positions; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON POLICY tenant_isolation ON os_core.consumer_positions IS 'Rows of the declared tenant only (os_core.current_tenant_id()).';


--
-- Name: work_order_leases tenant_isolation; Type: POLICY; Schema: os_core; Owner: selene_owner
--

CREATE POLICY tenant_isolation ON os_core.work_order_leases USING ((tenant_id = os_core.current_tenant_id())) WITH CHECK ((tenant_id = os_core.current_tenant_id()));


--
-- Name: POLICY tenant_isolation ON work_order_leases; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON POLICY tenant_isolation ON os_core.work_order_leases IS 'Rows of the declared tenant only (os_core.current_tenant_id()).';


--
-- Name: work_order_ledger tenant_isolation; Type: POLICY; Schema: os_core; Owner: selene_owner
--

CREATE POLICY tenant_isolation ON os_core.work_order_ledger USING ((tenant_id = os_core.current_tenant_id())) WITH CHECK ((tenant_id = os_core.current_tenant_id()));


--
-- Name: POLICY tenant_isolation ON work_order_ledger; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON POLICY tenant_isolation ON os_core.work_order_ledger IS 'Rows of the declared tenant only (os_core.current_tenant_id()).';


--
-- Name: work_order_step_attempts tenant_isolation; Type: POLICY; Schema: os_core; Owner: selene_owner
--

CREATE POLICY tenant_isolation ON os_core.work_order_step_attempts USING ((tenant_id = os_core.current_tenant_id())) WITH CHECK ((tenant_id = os_core.current_tenant_id()));


--
-- Name: POLICY tenant_isolation ON work_order_step_attempts; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON POLICY tenant_isolation ON os_core.work_order_step_attempts IS 'Rows of the declared tenant only (os_core.current_tenant_id()).';


--
-- Name: work_orders_current tenant_isolation; Type: POLICY; Schema: os_core; Owner: selene_owner
--

CREATE POLICY tenant_isolation ON os_core.work_orders_current USING ((tenant_id = os_core.current_tenant_id())) WITH CHECK ((tenant_id = os_core.current_tenant_id()));


--
-- Name: POLICY tenant_isolation ON work_orders_current; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON POLICY tenant_isolation ON os_core.work_orders_current IS 'Rows of the declared tenant only (os_core.current_tenant_id()).';


--
-- Name: work_order_leases tenant_list; Type: POLICY; Schema: os_core; Owner: selene_owner
--

CREATE POLICY tenant_list ON os_core.work_order_leases FOR SELECT TO selene_dba USING (true);


--
-- Name: POLICY tenant_list ON work_order_leases; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON POLICY tenant_list ON os_core.work_order_leases IS 'selene_dba sees every row, of which it may read only the tenant_id column, on Citus (sql/citus/tenant_list_grants.sql; elsewhere no column): the list of tenants, for os_core.scope_tenant_ids().';


--
-- Name: work_order_ledger tenant_list; Type: POLICY; Schema: os_core; Owner: selene_owner
--

CREATE POLICY tenant_list ON os_core.work_order_ledger FOR SELECT TO selene_dba USING (true);


--
-- Name: POLICY tenant_list ON work_order_ledger; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON POLICY tenant_list ON os_core.work_order_ledger IS 'selene_dba sees every row, of which it may read only the tenant_id column, on Citus (sql/citus/tenant_list_grants.sql; elsewhere no column): the list of tenants, for os_core.scope_tenant_ids().';


--
-- Name: work_order_step_attempts tenant_list; Type: POLICY; Schema: os_core; Owner: selene_owner
--

CREATE POLICY tenant_list ON os_core.work_order_step_attempts FOR SELECT TO selene_dba USING (true);


--
-- Name: POLICY tenant_list ON work_order_step_attempts; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON POLICY tenant_list ON os_core.work_order_step_attempts IS 'selene_dba sees every row, of which it may read only the tenant_id column, on Citus (sql/citus/tenant_list_grants.sql; elsewhere no column): the list of tenants, for os_core.scope_tenant_ids().';


--
-- Name: work_orders_current tenant_list; Type: POLICY; Schema: os_core; Owner: selene_owner
--

CREATE POLICY tenant_list ON os_core.work_orders_current FOR SELECT TO selene_dba USING (true);


--
-- Name: POLICY tenant_list ON work_orders_current; Type: COMMENT; Schema: os_core; Owner: selene_owner
--

COMMENT ON POLICY tenant_list ON os_core.work_orders_current IS 'selene_dba sees every row, of which it may read only the tenant_id column, on Citus (sql/citus/tenant_list_grants.sql; elsewhere no column): the list of tenants, for os_core.scope_tenant_ids().';


--
-- Name: work_order_leases; Type: ROW SECURITY; Schema: os_core; Owner: selene_owner
--

ALTER TABLE os_core.work_order_leases ENABLE ROW LEVEL SECURITY;

--
-- Name: work_order_ledger; Type: ROW SECURITY; Schema: os_core; Owner: selene_owner
--

ALTER TABLE os_core.work_order_ledger ENABLE ROW LEVEL SECURITY;

--
-- Name: work_order_step_attempts; Type: ROW SECURITY; Schema: os_core; Owner: selene_owner
--

ALTER TABLE os_core.work_order_step_attempts ENABLE ROW LEVEL SECURITY;

--
-- Name: work_orders_current; Type: ROW SECURITY; Schema: os_core; Owner: selene_owner
--

ALTER TABLE os_core.work_orders_current ENABLE ROW LEVEL SECURITY;

--
-- Name: audit_events; Type: ROW SECURITY; Schema: ph1j; Owner: selene_owner
--

ALTER TABLE ph1j.audit_events ENABLE ROW LEVEL SECURITY;

--
-- Name: audit_events tenant_isolation; Type: POLICY; Schema: ph1j; Owner: selene_owner
--

CREATE POLICY tenant_isolation ON ph1j.audit_events USING ((tenant_id = os_core.current_tenant_id())) WITH CHECK ((tenant_id = os_core.current_tenant_id()));


--
-- Name: POLICY tenant_isolation ON audit_events; Type: COMMENT; Schema: ph1j; Owner: selene_owner
--

COMMENT ON POLICY tenant_isolation ON ph1j.audit_events IS 'Rows of the declared tenant only (os_core.current_tenant_id()).';


--
-- Name: SCHEMA os_core; Type: ACL; Schema: -; Owner: selene_owner
--

GRANT USAGE ON SCHEMA os_core TO selene_os;
GRANT USAGE ON SCHEMA os_core TO selene_dba;
GRANT USAGE ON SCHEMA os_core TO selene_projector;


--
-- Name: SCHEMA ph1j; Type: ACL; Schema: -; Owner: selene_owner
--

GRANT USAGE ON SCHEMA ph1j TO selene_projector;


--
-- Name: FUNCTION is_blank(p_value text); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.is_blank(p_value text) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.is_blank(p_value text) TO selene_os;
GRANT ALL ON FUNCTION os_core.is_blank(p_value text) TO selene_dba;
GRANT ALL ON FUNCTION os_core.is_blank(p_value text) TO selene_projector;


--
-- Name: TABLE audit_events; Type: ACL; Schema: ph1j; Owner: selene_owner
--

REVOKE ALL ON TABLE ph1j.audit_events FROM selene_owner;
GRANT SELECT,INSERT,REFERENCES,TRIGGER ON TABLE ph1j.audit_events TO selene_owner;
GRANT INSERT ON TABLE ph1j.audit_events TO selene_projector;


--
-- Name: FUNCTION audit_read(p_tenant_id text, p_after_audit_event_id bigint, p_limit integer); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.audit_read(p_tenant_id text, p_after_audit_event_id bigint, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.audit_read(p_tenant_id text, p_after_audit_event_id bigint, p_limit integer) TO selene_os;
GRANT ALL ON FUNCTION os_core.audit_read(p_tenant_id text, p_after_audit_event_id bigint, p_limit integer) TO selene_dba;


--
-- Name: FUNCTION capabilities(); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.capabilities() FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.capabilities() TO selene_os;
GRANT ALL ON FUNCTION os_core.capabilities() TO selene_dba;


--
-- Name: FUNCTION consumer_commit(p_tenant_id text, p_consumer text, p_event_id bigint, p_stream text); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.consumer_commit(p_tenant_id text, p_consumer text, p_event_id bigint, p_stream text) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.consumer_commit(p_tenant_id text, p_consumer text, p_event_id bigint, p_stream text) TO selene_os;
GRANT ALL ON FUNCTION os_core.consumer_commit(p_tenant_id text, p_consumer text, p_event_id bigint, p_stream text) TO selene_dba;


--
-- Name: FUNCTION consumer_position(p_tenant_id text, p_consumer text, p_stream text); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.consumer_position(p_tenant_id text, p_consumer text, p_stream text) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.consumer_position(p_tenant_id text, p_consumer text, p_stream text) TO selene_os;
GRANT ALL ON FUNCTION os_core.consumer_position(p_tenant_id text, p_consumer text, p_stream text) TO selene_dba;


--
-- Name: FUNCTION consumer_stats(p_tenant_id text); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.consumer_stats(p_tenant_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.consumer_stats(p_tenant_id text) TO selene_os;
GRANT ALL ON FUNCTION os_core.consumer_stats(p_tenant_id text) TO selene_dba;


--
-- Name: FUNCTION current_tenant_id(); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.current_tenant_id() FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.current_tenant_id() TO selene_projector;


--
-- Name: FUNCTION error_codes(); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.error_codes() FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.error_codes() TO selene_os;
GRANT ALL ON FUNCTION os_core.error_codes() TO selene_dba;
GRANT ALL ON FUNCTION os_core.error_codes() TO selene_projector;


--
-- Name: FUNCTION first_unassigned_xid(p_snapshot pg_snapshot, p_own xid8); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.first_unassigned_xid(p_snapshot pg_snapshot, p_own xid8) FROM PUBLIC;


--
-- Name: FUNCTION is_distributed(); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.is_distributed() FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.is_distributed() TO selene_os;
GRANT ALL ON FUNCTION os_core.is_distributed() TO selene_dba;
GRANT ALL ON FUNCTION os_core.is_distributed() TO selene_projector;


--
-- Name: FUNCTION is_terminal_status(p_work_order_status text); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.is_terminal_status(p_work_order_status text) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.is_terminal_status(p_work_order_status text) TO selene_projector;


--
-- Name: FUNCTION lock_consumer(p_tenant_id text, p_consumer text, p_stream text); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.lock_consumer(p_tenant_id text, p_consumer text, p_stream text) FROM PUBLIC;


--
-- Name: FUNCTION lock_work_order(p_tenant_id text, p_work_order_id text); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.lock_work_order(p_tenant_id text, p_work_order_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.lock_work_order(p_tenant_id text, p_work_order_id text) TO selene_projector;


--
-- Name: FUNCTION next_event_id_after(p_last_event_id bigint); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.next_event_id_after(p_last_event_id bigint) FROM PUBLIC;


--
-- Name: FUNCTION node_id(); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.node_id() FROM PUBLIC;


--
-- Name: FUNCTION paging_horizon(); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.paging_horizon() FROM PUBLIC;


--
-- Name: PROCEDURE partition_by_tenant(IN p_partitions integer); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON PROCEDURE os_core.partition_by_tenant(IN p_partitions integer) FROM PUBLIC;


--
-- Name: FUNCTION partition_dependents_ddl(p_tables regclass[], OUT drop_statements text[], OUT restore_statements text[], OUT privileges text[]); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.partition_dependents_ddl(p_tables regclass[], OUT drop_statements text[], OUT restore_statements text[], OUT privileges text[]) FROM PUBLIC;


--
-- Name: FUNCTION partition_grants_ddl(p_privileges text[]); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.partition_grants_ddl(p_privileges text[]) FROM PUBLIC;


--
-- Name: FUNCTION partition_keys_ddl(p_table regclass); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.partition_keys_ddl(p_table regclass) FROM PUBLIC;


--
-- Name: FUNCTION partition_policies_ddl(p_table regclass); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.partition_policies_ddl(p_table regclass) FROM PUBLIC;


--
-- Name: FUNCTION partition_triggers_ddl(p_table regclass, p_schema name, p_relname name, p_partitions name[]); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.partition_triggers_ddl(p_table regclass, p_schema name, p_relname name, p_partitions name[]) FROM PUBLIC;


--
-- Name: TABLE work_order_ledger; Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON TABLE os_core.work_order_ledger FROM selene_owner;
GRANT SELECT,INSERT,REFERENCES,TRIGGER ON TABLE os_core.work_order_ledger TO selene_owner;
GRANT SELECT ON TABLE os_core.work_order_ledger TO selene_projector;


--
-- Name: FUNCTION project_lease(p_event os_core.work_order_ledger); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.project_lease(p_event os_core.work_order_ledger) FROM PUBLIC;


--
-- Name: FUNCTION project_step_attempt(p_event os_core.work_order_ledger); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.project_step_attempt(p_event os_core.work_order_ledger) FROM PUBLIC;


--
-- Name: FUNCTION projection_drift(p_tenant_id text, p_in_key_order boolean); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.projection_drift(p_tenant_id text, p_in_key_order boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.projection_drift(p_tenant_id text, p_in_key_order boolean) TO selene_projector;


--
-- Name: FUNCTION raise_batch_error(p_event_index bigint, p_sqlstate text, p_message text, p_detail text, p_hint text); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.raise_batch_error(p_event_index bigint, p_sqlstate text, p_message text, p_detail text, p_hint text) FROM PUBLIC;


--
-- Name: FUNCTION raise_batch_reason(p_event_index bigint, p_reason_code text, p_detail text, p_hint text); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.raise_batch_reason(p_event_index bigint, p_reason_code text, p_detail text, p_hint text) FROM PUBLIC;


--
-- Name: FUNCTION raise_error(p_reason_code text, p_detail text, p_hint text); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.raise_error(p_reason_code text, p_detail text, p_hint text) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.raise_error(p_reason_code text, p_detail text, p_hint text) TO selene_projector;


--
-- Name: FUNCTION repair_restored_paging_horizons(); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.repair_restored_paging_horizons() FROM PUBLIC;


--
-- Name: FUNCTION require_dba_or_tenant_scope(p_tenant_id text); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.require_dba_or_tenant_scope(p_tenant_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.require_dba_or_tenant_scope(p_tenant_id text) TO selene_os;
GRANT ALL ON FUNCTION os_core.require_dba_or_tenant_scope(p_tenant_id text) TO selene_dba;
GRANT ALL ON FUNCTION os_core.require_dba_or_tenant_scope(p_tenant_id text) TO selene_projector;


--
-- Name: FUNCTION require_tenant_scope(p_tenant_id text); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.require_tenant_scope(p_tenant_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.require_tenant_scope(p_tenant_id text) TO selene_projector;


--
-- Name: FUNCTION scope_tenant_ids(p_tenant_id text); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.scope_tenant_ids(p_tenant_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.scope_tenant_ids(p_tenant_id text) TO selene_os;
GRANT ALL ON FUNCTION os_core.scope_tenant_ids(p_tenant_id text) TO selene_dba;


--
-- Name: FUNCTION set_tenant(p_tenant_id text); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.set_tenant(p_tenant_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.set_tenant(p_tenant_id text) TO selene_os;
GRANT ALL ON FUNCTION os_core.set_tenant(p_tenant_id text) TO selene_dba;


--
-- Name: FUNCTION tenant_id_violation(p_tenant_id text); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.tenant_id_violation(p_tenant_id text) FROM PUBLIC;


--
-- Name: FUNCTION tenant_stats(p_tenant_id text); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.tenant_stats(p_tenant_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.tenant_stats(p_tenant_id text) TO selene_os;
GRANT ALL ON FUNCTION os_core.tenant_stats(p_tenant_id text) TO selene_dba;


--
-- Name: FUNCTION tenant_stats_local(p_tenant_id text); Type: ACL; Schema: os_core; Owner: selene_projector
--

REVOKE ALL ON FUNCTION os_core.tenant_stats_local(p_tenant_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.tenant_stats_local(p_tenant_id text) TO selene_os;
GRANT ALL ON FUNCTION os_core.tenant_stats_local(p_tenant_id text) TO selene_dba;


--
-- Name: FUNCTION tg_append_only__refuse_mutation(); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.tg_append_only__refuse_mutation() FROM PUBLIC;


--
-- Name: FUNCTION work_order_batch_replay_differences(p_tenant_id text, p_todo integer, p_orig_id bigint[], p_orig_no integer[], p_schema integer[], p_corr numeric[], p_turn bigint[], p_type text[], p_status text[], p_reason bigint[], p_step text[], p_step_hash text[], p_owner text[], p_token text[], p_expires bigint[], p_payload jsonb[]); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.work_order_batch_replay_differences(p_tenant_id text, p_todo integer, p_orig_id bigint[], p_orig_no integer[], p_schema integer[], p_corr numeric[], p_turn bigint[], p_type text[], p_status text[], p_reason bigint[], p_step text[], p_step_hash text[], p_owner text[], p_token text[], p_expires bigint[], p_payload jsonb[]) FROM PUBLIC;


--
-- Name: FUNCTION work_order_cancel(p_tenant_id text, p_work_order_id text, p_reason_code bigint, p_idempotency_key text, p_created_at bigint, p_turn_id bigint); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.work_order_cancel(p_tenant_id text, p_work_order_id text, p_reason_code bigint, p_idempotency_key text, p_created_at bigint, p_turn_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.work_order_cancel(p_tenant_id text, p_work_order_id text, p_reason_code bigint, p_idempotency_key text, p_created_at bigint, p_turn_id bigint) TO selene_os;
GRANT ALL ON FUNCTION os_core.work_order_cancel(p_tenant_id text, p_work_order_id text, p_reason_code bigint, p_idempotency_key text, p_created_at bigint, p_turn_id bigint) TO selene_dba;


--
-- Name: TABLE work_orders_current; Type: ACL; Schema: os_core; Owner: selene_owner
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE os_core.work_orders_current TO selene_projector;


--
-- Name: FUNCTION work_order_current_read(p_tenant_id text, p_work_order_id text); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.work_order_current_read(p_tenant_id text, p_work_order_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.work_order_current_read(p_tenant_id text, p_work_order_id text) TO selene_os;
GRANT ALL ON FUNCTION os_core.work_order_current_read(p_tenant_id text, p_work_order_id text) TO selene_dba;


--
-- Name: FUNCTION work_order_event_contract_violation(p_schema_version integer, p_tenant_id text, p_work_order_id text, p_correlation_id numeric, p_turn_id bigint, p_event_type text, p_work_order_status text, p_reason_code bigint, p_step_id text, p_step_input_hash text, p_lease_owner_id text, p_lease_token_hash text, p_lease_expires_at bigint, p_created_at bigint, p_idempotency_key text, p_payload jsonb); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.work_order_event_contract_violation(p_schema_version integer, p_tenant_id text, p_work_order_id text, p_correlation_id numeric, p_turn_id bigint, p_event_type text, p_work_order_status text, p_reason_code bigint, p_step_id text, p_step_input_hash text, p_lease_owner_id text, p_lease_token_hash text, p_lease_expires_at bigint, p_created_at bigint, p_idempotency_key text, p_payload jsonb) FROM PUBLIC;


--
-- Name: FUNCTION work_order_events_of_batch(p_events jsonb); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.work_order_events_of_batch(p_events jsonb) FROM PUBLIC;


--
-- Name: TABLE work_order_leases; Type: ACL; Schema: os_core; Owner: selene_owner
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE os_core.work_order_leases TO selene_projector;


--
-- Name: FUNCTION work_order_lease_read(p_tenant_id text, p_work_order_id text); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.work_order_lease_read(p_tenant_id text, p_work_order_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.work_order_lease_read(p_tenant_id text, p_work_order_id text) TO selene_os;
GRANT ALL ON FUNCTION os_core.work_order_lease_read(p_tenant_id text, p_work_order_id text) TO selene_dba;


--
-- Name: FUNCTION work_order_ledger_append(p_tenant_id text, p_work_order_id text, p_correlation_id numeric, p_turn_id bigint, p_event_type text, p_work_order_status text, p_reason_code bigint, p_created_at bigint, p_step_id text, p_step_input_hash text, p_lease_owner_id text, p_lease_token_hash text, p_lease_expires_at bigint, p_idempotency_key text, p_payload jsonb, p_schema_version integer, p_expected_event_count bigint); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.work_order_ledger_append(p_tenant_id text, p_work_order_id text, p_correlation_id numeric, p_turn_id bigint, p_event_type text, p_work_order_status text, p_reason_code bigint, p_created_at bigint, p_step_id text, p_step_input_hash text, p_lease_owner_id text, p_lease_token_hash text, p_lease_expires_at bigint, p_idempotency_key text, p_payload jsonb, p_schema_version integer, p_expected_event_count bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.work_order_ledger_append(p_tenant_id text, p_work_order_id text, p_correlation_id numeric, p_turn_id bigint, p_event_type text, p_work_order_status text, p_reason_code bigint, p_created_at bigint, p_step_id text, p_step_input_hash text, p_lease_owner_id text, p_lease_token_hash text, p_lease_expires_at bigint, p_idempotency_key text, p_payload jsonb, p_schema_version integer, p_expected_event_count bigint) TO selene_os;
GRANT ALL ON FUNCTION os_core.work_order_ledger_append(p_tenant_id text, p_work_order_id text, p_correlation_id numeric, p_turn_id bigint, p_event_type text, p_work_order_status text, p_reason_code bigint, p_created_at bigint, p_step_id text, p_step_input_hash text, p_lease_owner_id text, p_lease_token_hash text, p_lease_expires_at bigint, p_idempotency_key text, p_payload jsonb, p_schema_version integer, p_expected_event_count bigint) TO selene_dba;


--
-- Name: FUNCTION work_order_ledger_append_many(p_tenant_id text, p_events jsonb); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.work_order_ledger_append_many(p_tenant_id text, p_events jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.work_order_ledger_append_many(p_tenant_id text, p_events jsonb) TO selene_os;
GRANT ALL ON FUNCTION os_core.work_order_ledger_append_many(p_tenant_id text, p_events jsonb) TO selene_dba;


--
-- Name: FUNCTION work_order_ledger_append_many_one_by_one(p_tenant_id text, p_events jsonb); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.work_order_ledger_append_many_one_by_one(p_tenant_id text, p_events jsonb) FROM PUBLIC;


--
-- Name: FUNCTION work_order_ledger_read(p_tenant_id text, p_work_order_id text, p_after_event_id bigint, p_limit integer); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.work_order_ledger_read(p_tenant_id text, p_work_order_id text, p_after_event_id bigint, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.work_order_ledger_read(p_tenant_id text, p_work_order_id text, p_after_event_id bigint, p_limit integer) TO selene_os;
GRANT ALL ON FUNCTION os_core.work_order_ledger_read(p_tenant_id text, p_work_order_id text, p_after_event_id bigint, p_limit integer) TO selene_dba;


--
-- Name: TABLE work_order_step_attempts; Type: ACL; Schema: os_core; Owner: selene_owner
--

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE os_core.work_order_step_attempts TO selene_projector;


--
-- Name: FUNCTION work_order_step_attempts_read(p_tenant_id text, p_work_order_id text); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.work_order_step_attempts_read(p_tenant_id text, p_work_order_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.work_order_step_attempts_read(p_tenant_id text, p_work_order_id text) TO selene_os;
GRANT ALL ON FUNCTION os_core.work_order_step_attempts_read(p_tenant_id text, p_work_order_id text) TO selene_dba;


--
-- Name: FUNCTION work_orders_current_rebuild(p_tenant_id text, p_emit_audit boolean); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.work_orders_current_rebuild(p_tenant_id text, p_emit_audit boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.work_orders_current_rebuild(p_tenant_id text, p_emit_audit boolean) TO selene_os;
GRANT ALL ON FUNCTION os_core.work_orders_current_rebuild(p_tenant_id text, p_emit_audit boolean) TO selene_dba;


--
-- Name: FUNCTION work_orders_current_rebuild_local(p_tenant_id text, p_emit_audit boolean); Type: ACL; Schema: os_core; Owner: selene_projector
--

REVOKE ALL ON FUNCTION os_core.work_orders_current_rebuild_local(p_tenant_id text, p_emit_audit boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.work_orders_current_rebuild_local(p_tenant_id text, p_emit_audit boolean) TO selene_os;
GRANT ALL ON FUNCTION os_core.work_orders_current_rebuild_local(p_tenant_id text, p_emit_audit boolean) TO selene_dba;


--
-- Name: FUNCTION work_orders_current_verify(p_tenant_id text, p_emit_audit boolean); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.work_orders_current_verify(p_tenant_id text, p_emit_audit boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.work_orders_current_verify(p_tenant_id text, p_emit_audit boolean) TO selene_os;
GRANT ALL ON FUNCTION os_core.work_orders_current_verify(p_tenant_id text, p_emit_audit boolean) TO selene_dba;


--
-- Name: FUNCTION work_orders_current_verify_local(p_tenant_id text, p_emit_audit boolean); Type: ACL; Schema: os_core; Owner: selene_projector
--

REVOKE ALL ON FUNCTION os_core.work_orders_current_verify_local(p_tenant_id text, p_emit_audit boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.work_orders_current_verify_local(p_tenant_id text, p_emit_audit boolean) TO selene_os;
GRANT ALL ON FUNCTION os_core.work_orders_current_verify_local(p_tenant_id text, p_emit_audit boolean) TO selene_dba;


--
-- Name: FUNCTION work_orders_list_pending(p_tenant_id text, p_statuses text[], p_updated_after bigint, p_limit integer); Type: ACL; Schema: os_core; Owner: selene_owner
--

REVOKE ALL ON FUNCTION os_core.work_orders_list_pending(p_tenant_id text, p_statuses text[], p_updated_after bigint, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION os_core.work_orders_list_pending(p_tenant_id text, p_statuses text[], p_updated_after bigint, p_limit integer) TO selene_os;
GRANT ALL ON FUNCTION os_core.work_orders_list_pending(p_tenant_id text, p_statuses text[], p_updated_after bigint, p_limit integer) TO selene_dba;


--
-- Name: FUNCTION draw_audit_event_id(OUT audit_event_id bigint, OUT paging_horizon xid8, OUT paging_node_id bigint); Type: ACL; Schema: ph1j; Owner: selene_owner
--

REVOKE ALL ON FUNCTION ph1j.draw_audit_event_id(OUT audit_event_id bigint, OUT paging_horizon xid8, OUT paging_node_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION ph1j.draw_audit_event_id(OUT audit_event_id bigint, OUT paging_horizon xid8, OUT paging_node_id bigint) TO selene_projector;


--
-- Name: FUNCTION emit_append_audit(p_event os_core.work_order_ledger, p_outcome text, p_replay_created_at bigint); Type: ACL; Schema: ph1j; Owner: selene_owner
--

REVOKE ALL ON FUNCTION ph1j.emit_append_audit(p_event os_core.work_order_ledger, p_outcome text, p_replay_created_at bigint) FROM PUBLIC;


--
-- Name: FUNCTION emit_diagnostic_audit(p_tenant_id text, p_capability text, p_outcome text, p_details jsonb); Type: ACL; Schema: ph1j; Owner: selene_owner
--

REVOKE ALL ON FUNCTION ph1j.emit_diagnostic_audit(p_tenant_id text, p_capability text, p_outcome text, p_details jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION ph1j.emit_diagnostic_audit(p_tenant_id text, p_capability text, p_outcome text, p_details jsonb) TO selene_projector;


--
-- Name: FUNCTION notify_audit(); Type: ACL; Schema: ph1j; Owner: selene_owner
--

REVOKE ALL ON FUNCTION ph1j.notify_audit() FROM PUBLIC;


--
-- Name: TABLE work_order_leases_from_ledger; Type: ACL; Schema: os_core; Owner: selene_owner
--

GRANT SELECT ON TABLE os_core.work_order_leases_from_ledger TO selene_projector;


--
-- Name: TABLE work_order_step_attempts_from_ledger; Type: ACL; Schema: os_core; Owner: selene_owner
--

GRANT SELECT ON TABLE os_core.work_order_step_attempts_from_ledger TO selene_projector;


--
-- Name: TABLE work_orders_current_from_ledger; Type: ACL; Schema: os_core; Owner: selene_owner
--

GRANT SELECT ON TABLE os_core.work_orders_current_from_ledger TO selene_projector;


--
-- PostgreSQL database dump complete
--


