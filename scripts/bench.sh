#!/usr/bin/env bash
# The benchmarks, each figure beside a limit measured in the same run on the
# same machine with the same events (BENCHMARKS.md says what each row is).
#
#   scripts/bench.sh            full size, about 10-13 minutes
#   scripts/bench.sh --quick    about 2 minutes
#   scripts/bench.sh --tiny     the smoke test's size (figures mean little)
#   --out DIR                   results folder (default .run/bench)
#
# Sets up like scripts/test.sh, starts its own Kafka, PostgreSQL and gateway on
# free ports of 127.0.0.1 (or uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL),
# prints the Markdown table and writes bench-results.json and bench-results.md.
set -euo pipefail
# shellcheck source=scripts/lib/setup.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/setup.sh"
eventfn_setup
cd "$ROOT"
exec "$PY" -m bench "$@"
