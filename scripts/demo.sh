#!/usr/bin/env bash
# The demo. Once the project has `apibridge demo` (the OVN twin), that runs; until then this shows
# the seed's configuration checked, and the ApiBridges that replace it rendered.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh
apibridge=.venv/bin/apibridge

if "$apibridge" demo --help >/dev/null 2>&1; then
  exec "$apibridge" demo "$@"
fi

echo "== apibridge check examples/seed/   (the seed's fix, as written)"
status=0
"$apibridge" check examples/seed/ || status=$?
if ((status > 1)); then
  exit "$status"  # 2: the input itself is unusable - that is a bug in the examples
fi
echo
echo "== apibridge render examples/apibridge/   (one fenced bridge per tenant)"
"$apibridge" render examples/apibridge/
