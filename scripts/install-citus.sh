#!/usr/bin/env bash
# Makes sure Citus 13.2 is installed in this machine's PostgreSQL 15, for make test-citus.
# Does nothing when it is. Otherwise, as root (or through sudo):
#   - with CITUS_SOURCE=DIR, runs DIR/install.sh (a Citus release source and its build
#     script, as in ../shared/vendor/citus), which builds and installs it;
#   - else, with CITUS_APT_PACKAGE=NAME (e.g. postgresql-15-citus-13.2 from the Citus
#     packages' apt repository, once configured), installs that package.
# Citus is not in Debian's archive; users get it from the Citus packages or Docker images.
set -euo pipefail

pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
sharedir=$("$pg_config" --sharedir)
libdir=$("$pg_config" --pkglibdir)
if [ -f "$libdir/citus.so" ] && grep -q "default_version = '13.2" "$sharedir/extension/citus.control" 2>/dev/null; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then as_root=(); else as_root=(sudo); fi
if [ -n "${CITUS_SOURCE:-}" ]; then
  echo "installing Citus from $CITUS_SOURCE"
  "${as_root[@]}" bash "$CITUS_SOURCE/install.sh"
elif [ -n "${CITUS_APT_PACKAGE:-}" ]; then
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "$CITUS_APT_PACKAGE"
else
  echo "Citus 13.2 is not installed: set CITUS_SOURCE to a Citus source with install.sh" \
    "(../shared/vendor/citus here) or CITUS_APT_PACKAGE to the Citus package" >&2
  exit 1
fi
