#!/usr/bin/env bash
# Replay archived events from object storage into events: scripts/replay-archive.sh --help.
#
# Uses the virtualenv (created if missing, as run-all.sh does) and, for what
# is not set already, the addresses a running run-all.sh wrote to .run/env,
# so it talks to the same Kafka and bucket as the bridge. Options go to
# python -m bridge.replay unchanged; so does its exit status.
set -euo pipefail
# shellcheck source=scripts/lib/setup.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/setup.sh"
eventfn_setup_venv
eventfn_client_env
exec "$PY" -m bridge.replay "$@"
