#!/usr/bin/env bash
# Stop everything scripts/run-all.sh started; safe to run when nothing runs.
# Options: --timeout SECONDS (150) before the supervisor is killed outright.
set -euo pipefail
# shellcheck source=scripts/lib/setup.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/setup.sh"
if [[ ! -x "$PY" ]]; then
    echo "eventfn is not set up here (no .venv), so nothing of it runs."
    exit 0
fi
cd "$ROOT"
exec "$PY" -m infra down "$@"
