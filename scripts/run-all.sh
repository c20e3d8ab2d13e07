#!/usr/bin/env bash
# Start Kafka, PostgreSQL, the gateway and the bridge in the background, supervised.
#
# Returns once everything is healthy, with KAFKA_BOOTSTRAP_SERVERS,
# DATABASE_URL and GATEWAY_URL in .run/env; a second call only reports what
# runs. Set KAFKA_BOOTSTRAP_SERVERS or DATABASE_URL to use an existing broker
# or database instead of the embedded one. Options: --timeout SECONDS (240).
# Stop with scripts/stop-all.sh.
set -euo pipefail
# shellcheck source=scripts/lib/setup.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/setup.sh"
eventfn_setup
cd "$ROOT"
exec "$PY" -m infra up "$@"
