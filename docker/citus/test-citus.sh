#!/usr/bin/env bash
# The test-citus service of docker/compose.citus.yaml: `make test-citus` in the image of
# docker/citus/Dockerfile (the nodes' Citus image with what the Makefile needs).
#
# The suite starts its own throwaway coordinator and two workers (tests/conftest.py,
# tests/citus_cluster.py, SELENE_TEST_LAYOUT=citus), in this container: it has no mode
# that targets a running cluster, so it does not use the compose file's nodes.
#
# The repository is mounted read-only at $SELENE_SOURCE; the suite runs on a copy at
# $SELENE_WORKDIR without the host's .venv (its interpreter paths are the host's), VCS
# data and caches, so the container writes nothing into the checkout. Arguments go to
# make: `... run --rm test-citus CITUS_SUITES=tests/test_citus.py`.
set -euo pipefail

source_dir="${SELENE_SOURCE:-/src}"
work_dir="${SELENE_WORKDIR:-/tmp/selene-core-tables}"

[ -f "$source_dir/Makefile" ] || {
  echo "test-citus.sh: no Makefile in $source_dir: mount the repository there" >&2
  exit 2
}
mkdir -p "$work_dir"
tar -C "$source_dir" --exclude-vcs --exclude=./.venv --exclude=__pycache__ \
  --exclude=.pytest_cache --exclude=.ruff_cache --exclude=.hypothesis --exclude='*.egg-info' \
  -cf - . | tar -C "$work_dir" -xf -
cd "$work_dir"
exec make test-citus "$@"
