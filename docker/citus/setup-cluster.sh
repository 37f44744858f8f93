#!/usr/bin/env bash
# The setup service of docker/compose.citus.yaml, once the three nodes are healthy:
#   1. on the coordinator ($PGHOST:$PGPORT), names it with citus_set_coordinator_host (it
#      then holds no shards) and adds each worker of $SELENE_WORKERS ("host:port ...")
#      with citus_add_node, as tests/citus_cluster.py does; both are no-ops when done;
#   2. applies the migrations to the coordinator only, with the command the README
#      documents (migration 0007 distributes the tables, post-apply delegates the
#      capabilities); re-applying is a no-op;
#   3. checks the result: the five tables hash-distributed by tenant_id in one
#      co-location group, the ledger's shards on every worker and none on the
#      coordinator, and wal_level = logical on every node (shard moves need it).
# The database (selene, the citus extension created in it) is the image's init's work on
# every node: POSTGRES_DB and its 001-create-citus-extension.sql.
set -euo pipefail

: "${PGHOST:?set PGHOST (the coordinator, as the workers reach it)}"
: "${PGPORT:?set PGPORT}"
: "${PGUSER:?set PGUSER (a superuser)}"
: "${PGDATABASE:?set PGDATABASE}"
: "${SELENE_WORKERS:?set SELENE_WORKERS to the workers, host:port separated by spaces}"
: "${SELENE_HOME:=/opt/selene-core-tables}"

coordinator_psql() {
  psql --no-psqlrc --quiet --no-align --tuples-only --set ON_ERROR_STOP=1 \
    --host "$PGHOST" --port "$PGPORT" --username "$PGUSER" --dbname "$PGDATABASE" "$@"
}

read -r -a workers <<<"$SELENE_WORKERS"
echo "selene-core-tables: coordinator ${PGHOST}:${PGPORT}, workers ${workers[*]}"
coordinator_psql --set host="$PGHOST" --set port="$PGPORT" \
  --file - <<<"SELECT citus_set_coordinator_host(:'host', :'port');" >/dev/null
for worker in "${workers[@]}"; do
  coordinator_psql --set host="${worker%:*}" --set port="${worker##*:}" --file - \
    <<<"SELECT citus_add_node(:'host', :'port');" >/dev/null
done

urlquote() {
  python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"
}
# No password in the URL: libpq takes PGPASSWORD from the environment when it needs one.
url="postgresql+psycopg://$(urlquote "$PGUSER")@$(urlquote "$PGHOST"):${PGPORT}/$(urlquote "$PGDATABASE")"
echo "selene-core-tables: yoyo apply --batch --database '${url}' ${SELENE_HOME}/migrations/"
yoyo apply --batch --database "$url" "$SELENE_HOME/migrations/"

expected="5|1|${#workers[@]}|0|logical"
found="$(coordinator_psql --file - <<'SQL'
WITH tables AS (
    SELECT logicalrelid, colocationid
    FROM pg_dist_partition
    WHERE logicalrelid IN (
        'os_core.work_order_ledger'::regclass, 'os_core.work_orders_current'::regclass,
        'os_core.work_order_step_attempts'::regclass, 'os_core.work_order_leases'::regclass,
        'ph1j.audit_events'::regclass
    )
    AND partmethod = 'h'
    AND column_to_column_name(logicalrelid, partkey) = 'tenant_id'
), ledger_groups AS (
    SELECT placement.groupid
    FROM pg_dist_shard AS shard
    JOIN pg_dist_placement AS placement USING (shardid)
    WHERE shard.logicalrelid = 'os_core.work_order_ledger'::regclass
)
SELECT concat_ws('|',
    (SELECT count(*) FROM tables),
    (SELECT count(DISTINCT colocationid) FROM tables),
    (SELECT count(DISTINCT groupid) FROM ledger_groups WHERE groupid <> 0),
    (SELECT count(*) FROM ledger_groups WHERE groupid = 0),
    (SELECT string_agg(DISTINCT result, ',') FROM run_command_on_all_nodes('SHOW wal_level'))
);
SQL
)"
if [ "$found" != "$expected" ]; then
  echo "selene-core-tables: the cluster is not as expected: distributed tables|co-location" \
    "groups|workers with ledger shards|coordinator ledger shards|wal_level: ${found}," \
    "expected ${expected}" >&2
  exit 1
fi
echo "selene-core-tables: 5 tables distributed by tenant_id in one co-location group," \
  "shards on ${#workers[@]} workers, none on the coordinator, wal_level = logical: ready"
