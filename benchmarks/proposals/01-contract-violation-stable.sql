-- Proposal 01 (applied in 47de430): declare os_core.work_order_event_contract_violation STABLE.
--
-- In sql/functions/work_order_event_contract_violation.sql: IMMUTABLE -> STABLE.
-- Why: it calls format() and pg_column_size(), which are STABLE. An IMMUTABLE SQL
-- function whose body holds a non-immutable call is never inlined, so every append
-- runs it through fmgr_sql: detoast and parse the 32 kB body (stringToNode) and plan
-- the query, once per transaction (perf: fmgr_sql 21 % of the append backends' CPU,
-- pg_stat_user_functions: 254 us of 957 us per append). STABLE is the truth, and lets
-- the planner inline it into the append's cached expression. Nothing else changes: it
-- is only called from PL/pgSQL (append, cancel), never from an index or a constraint.
-- Measured (python -m benchmarks ab, 1M work orders, fsync on, 2 cores, medians):
--   8 clients: 1335 -> 1950 tps (+46 %), server CPU 881 -> 628 us/append (-29 %),
--              p99 12.5 -> 9.5 ms
--   1 client:   804 ->  976 tps (+21 %), server CPU 896 -> 619 us/append (-31 %)

ALTER FUNCTION os_core.work_order_event_contract_violation(
    integer, text, text, numeric, bigint, text, text, bigint, text, text, text, text, bigint,
    bigint, text, jsonb
) STABLE;
