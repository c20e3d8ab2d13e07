#!/usr/bin/env bash
# What CI runs: set up a fresh machine, run the checks, then the whole pytest
# suite (tests/: unit, infra, integration, end-to-end). Extra arguments go to
# pytest, e.g. scripts/test.sh tests/unit -x.
set -euo pipefail
# shellcheck source=scripts/lib/setup.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/setup.sh"
# shellcheck source=scripts/lib/clients.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/clients.sh"
# shellcheck source=scripts/lib/k8s.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/k8s.sh"
# shellcheck source=scripts/lib/compose.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/compose.sh"
eventfn_setup
eventfn_setup_clients
eventfn_setup_k8s
eventfn_setup_compose
cd "$ROOT"
scripts/check
status=0
"$PY" -m pytest "$@" || status=$?
if [[ $status -eq 5 ]]; then
    echo "test.sh: pytest collected no tests, which counts as a failure" >&2
    exit 1
fi
exit "$status"
