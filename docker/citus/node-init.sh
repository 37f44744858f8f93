#!/usr/bin/env bash
# Run once on every Citus node of docker/compose.citus.yaml (mounted as
# /docker-entrypoint-initdb.d/010-selene-node.sh, after the image's own
# 001-create-citus-extension.sql), by the official image's entrypoint, as the postgres
# user, when it initialises an empty data directory.
#
# Some PostgreSQL builds (Debian's 15.20 among them) accept only the logical decoding
# plugins named by output_plugin_libraries, and Citus's non-blocking shard moves decode
# WAL with its own plugin: where the server has that setting, allow Citus as
# tests/citus_cluster.py does. A server without it would refuse the name at start, so it
# is written only when the server knows it. The real server reads it when it starts
# after the init scripts.
set -euo pipefail

: "${PGDATA:?set PGDATA (the entrypoint of the image does)}"

# grep without -q reads to the end: no early exit, so no SIGPIPE failing the pipe.
if postgres --describe-config | cut -f1 | grep -x 'output_plugin_libraries' >/dev/null; then
  echo "selene-core-tables: output_plugin_libraries = 'pgoutput,test_decoding,citus'"
  printf "\n# selene-core-tables (docker/citus/node-init.sh): Citus's shard moves decode WAL\n" \
    >> "$PGDATA/postgresql.conf"
  echo "output_plugin_libraries = 'pgoutput,test_decoding,citus'" >> "$PGDATA/postgresql.conf"
fi
