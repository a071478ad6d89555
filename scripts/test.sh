#!/usr/bin/env bash
# The whole test suite, in the order a reviewer would want failures: lint, types, layering, tests.
# Stops at the first failure. Extra arguments go to pytest (e.g. -k inject, -m 'not ovn').
# Tests marked `ovn` start real OVN/OVS daemons and need root; tests marked `kube` run the real
# kube-apiserver and etcd from scripts/tools.sh; both are part of the suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh
# kube-apiserver, etcd, kubectl and Helm for the in-cluster tests: built once per machine (cold: tens of
# minutes), linked into .tools/bin; a warm cache builds nothing.
./scripts/tools.sh

lint_paths=(src tests)
[[ -d bench ]] && lint_paths+=(bench)

echo "== ruff check ${lint_paths[*]}"
.venv/bin/ruff check "${lint_paths[@]}"
echo "== ruff format --check ${lint_paths[*]}"
.venv/bin/ruff format --check "${lint_paths[@]}"
echo "== mypy (strict)"
.venv/bin/mypy
echo "== lint-imports"
.venv/bin/lint-imports
echo "== pytest"
exec .venv/bin/pytest "$@"
