"""Benchmarks of selene-core-tables against the ceilings of bare PostgreSQL, in one run.

``python -m benchmarks`` (``make bench``) starts a throwaway PostgreSQL 15 cluster,
loads the data sets with ``generate_series``, runs every suite (pgbench custom scripts
where the work is pure SQL, a Python driver where it is the client), prints a table and
writes ``benchmarks/results/latest.json``. See ``benchmarks/README.md``.

Modules::

    cluster   the throwaway cluster (initdb, pg_ctl as the server's user, roles)
    datasets  loading the ledger and its projections as the superuser
    pgbench   running a script of benchmarks/pgbench/ and reading its TPS and latencies
    suites    append, reads, rebuild, RLS overhead, client, growth
    report    metrics, medians, the table and the JSON file
    profile   the append path under pg_stat_statements (track = all) and auto_explain
"""
