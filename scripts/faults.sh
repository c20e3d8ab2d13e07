#!/usr/bin/env bash
# The full fault run: 20,000 events published while the bridge, a function
# instance, the gateway, Kafka and PostgreSQL are each SIGKILLed (PostgreSQL:
# pg_ctl stop -m immediate) and come back; then 0 lost and 0 duplicated, or
# exit 1. Sets up like scripts/test.sh. Extra arguments go to
# `python -m tests.faults`, e.g. scripts/faults.sh --seed 7 --pause --poison.
set -euo pipefail
# shellcheck source=scripts/lib/setup.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/setup.sh"
eventfn_setup
cd "$ROOT"
exec "$PY" -m tests.faults --events 20000 --faults bridge,function,gateway,kafka,postgres "$@"
