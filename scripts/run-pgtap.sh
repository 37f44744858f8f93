#!/usr/bin/env bash
# Runs the pgTAP suite (pgtap_tests/*.sql) with pg_prove against one database:
# the pgtap service of docker/compose.yaml runs it, and it is the invocation of
# tests/test_pgtap.py (make test), which tests/test_docker_files.py keeps identical.
#
# usage: scripts/run-pgtap.sh [FILE...]     (default: every pgtap_tests/*.sql, in name order)
#
# The database is named by libpq's variables PGHOST, PGPORT, PGUSER and PGDATABASE
# (all four required; PGPASSWORD when the server asks for one). PGUSER must be a
# superuser: the script first creates the pgtap extension in PGDATABASE, and the
# pgTAP files switch roles. Every file runs in one transaction and rolls back, so
# the suite can run again and again against the same migrated database.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${PGHOST:?set PGHOST (a host name or a Unix socket directory)}"
: "${PGPORT:?set PGPORT}"
: "${PGUSER:?set PGUSER (a superuser)}"
: "${PGDATABASE:?set PGDATABASE (a database the migrations were applied to)}"

if [ $# -eq 0 ]; then
  shopt -s nullglob
  set -- "$here"/../pgtap_tests/*.sql
  if [ $# -eq 0 ]; then
    echo "run-pgtap.sh: no pgtap_tests/*.sql files next to $here" >&2
    exit 2
  fi
fi

psql --no-psqlrc --quiet --set ON_ERROR_STOP=1 \
  --host "$PGHOST" --port "$PGPORT" --username "$PGUSER" --dbname "$PGDATABASE" \
  --command 'CREATE EXTENSION IF NOT EXISTS pgtap'

exec pg_prove --verbose \
  --host "$PGHOST" --port "$PGPORT" --username "$PGUSER" --dbname "$PGDATABASE" \
  "$@"
