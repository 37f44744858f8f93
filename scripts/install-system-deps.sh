#!/usr/bin/env bash
# Installs the Debian packages the suite needs, only those that are missing:
# the PostgreSQL 15 server, pgTAP, pg_prove and plpgsql_check; pg_auto_failover (its
# extension and pg_autoctl) for the failover suite of `make test-long`; pgbouncer.
# Runs apt-get as root, or through sudo when there is one; prints what to do otherwise.
set -euo pipefail

packages=(
  postgresql-15
  postgresql-15-pgtap
  postgresql-15-plpgsql-check
  libtap-parser-sourcehandler-pgtap-perl
  postgresql-15-auto-failover
  pg-auto-failover-cli
  pgbouncer
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
# A Debian system python3 needs python3-venv for `python3 -m venv`.
if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "missing Debian packages: ${missing[*]}; install them as root: apt-get install ${missing[*]}" >&2
  exit 1
fi

echo "installing Debian packages: ${missing[*]}"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
