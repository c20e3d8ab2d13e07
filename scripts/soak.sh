#!/usr/bin/env bash
# The soak (not in CI): the whole pipeline at half its sustained capacity for a
# set time, sampling every process's memory, the consumer lag and publish's
# latency; at the end acknowledged = stored, no memory growth past warm-up
# beyond 10%, lag bounded (bench/soak.py says how each is judged).
#
#   scripts/soak.sh                   10 minutes at half of BENCHMARKS.md's row 8
#   scripts/soak.sh --minutes 1 --rate 1000
#   --report PATH                     the Markdown report (default .run/soak-report.md)
#
# Sets up like scripts/test.sh and starts its own Kafka, PostgreSQL, gateway
# and bridge on free ports of 127.0.0.1 (or uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL).
set -euo pipefail
# shellcheck source=scripts/lib/setup.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/setup.sh"
eventfn_setup
cd "$ROOT"
exec "$PY" -m bench.soak "$@"
