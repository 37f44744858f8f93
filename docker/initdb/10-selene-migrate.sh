#!/usr/bin/env bash
# Applies the selene-core-tables migrations to $POSTGRES_DB with the command the
# README documents:
#   yoyo apply --batch --database postgresql+psycopg://... migrations/
# yoyo's post-apply hook then installs sql/ in the order of sql/install-order.txt.
#
# The official image's entrypoint runs this file once, as the postgres user, when it
# initialises an empty data directory, against a temporary server that listens on its
# Unix socket only (listen_addresses=''). The entrypoint's own psql reaches it through
# libpq's default socket directory with PGHOST blanked; this script asks that server
# for its socket directory and port and hands them to yoyo in the URL's query string
# (percent-encoded: yoyo decodes the query, not the netloc).
set -euo pipefail

: "${SELENE_HOME:=/opt/selene-core-tables}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"

entrypoint_psql() {
  PGHOST='' PGHOSTADDR='' psql --no-psqlrc --no-align --tuples-only --set ON_ERROR_STOP=1 \
    --username "$POSTGRES_USER" --no-password --dbname "$POSTGRES_DB" "$@"
}
socket_dir="$(entrypoint_psql --command \
  "SELECT split_part(current_setting('unix_socket_directories'), ',', 1)")"
port="$(entrypoint_psql --command 'SHOW port')"

urlquote() {
  python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=sys.argv[2]))' "$@"
}
url="postgresql+psycopg://$(urlquote "$POSTGRES_USER" '')@/$(urlquote "$POSTGRES_DB" '')"
url+="?host=$(urlquote "$socket_dir" '/')&port=${port}"

echo "selene-core-tables: yoyo apply --batch --database '${url}' ${SELENE_HOME}/migrations/"
yoyo apply --batch --database "$url" "$SELENE_HOME/migrations/"
