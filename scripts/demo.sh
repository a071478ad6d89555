#!/usr/bin/env bash
# The main job: `apibridge demo`, the seed's scenario on a real OVN twin (needs root for network
# namespaces). Extra arguments go to `apibridge demo` (see `apibridge demo --help`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh
exec .venv/bin/apibridge demo "$@"
