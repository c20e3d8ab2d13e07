# shellcheck shell=bash
# Shared set-up for run-all.sh and test.sh. Source it, then call eventfn_setup.
#
# Makes a fresh machine ready: the .venv virtualenv with requirements-dev.txt
# (reinstalled only when the requirements change), and what the embedded
# services need (PostgreSQL's Debian packages, the Kafka jars from Maven
# Central) unless KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL point elsewhere.
# Quiet when there is nothing to do; says what failed when something does.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
export PYTHONPATH="$ROOT:$ROOT/functions"

eventfn_fail() {
    echo "eventfn set-up: $*" >&2
    exit 1
}

eventfn_setup_venv() {
    local stamp="$VENV/.eventfn-requirements" want log
    want="$(cat "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" | sha256sum | cut -d' ' -f1)"
    if [[ ! -x "$PY" ]]; then
        echo "creating the virtualenv $VENV ..."
        if ! python3 -m venv "$VENV"; then
            rm -rf "$VENV"
            eventfn_fail "python3 -m venv failed; on Debian: apt-get install -y python3-venv"
        fi
    fi
    if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
        echo "installing Python dependencies (requirements-dev.txt) into .venv ..."
        mkdir -p "$ROOT/.cache"
        log="$ROOT/.cache/pip-install.log"
        if ! "$PY" -m pip install -q --disable-pip-version-check \
            -r "$ROOT/requirements-dev.txt" >"$log" 2>&1; then
            tail -n 30 "$log" >&2
            eventfn_fail "pip install -r requirements-dev.txt failed (full log: $log)"
        fi
        echo "$want" >"$stamp"
    fi
    # The venv's python finds the project's two source roots, as an editable
    # install would: `.venv/bin/python -m gateway` works from any directory.
    local site
    site="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    printf '%s\n%s\n' "$ROOT" "$ROOT/functions" >"$site/eventfn.pth"
}

# For a client of a running run-all.sh (redrive.sh, replay-archive.sh): export
# what its .run/env says (Kafka, the database, the bucket) that the caller has
# not set; variables set by the caller win over the file, as everywhere in eventfn.
eventfn_client_env() {
    local env_file="${EVENTFN_RUN_DIR:-$ROOT/.run}/env" key value
    [[ -r "$env_file" ]] || return 0
    while IFS='=' read -r key value; do
        if [[ "$key" =~ ^[A-Za-z_][A-Za-z0-9_]*$ && -z "${!key+set}" ]]; then
            export "$key=$value"
        fi
    done <"$env_file"
}

eventfn_setup_services() {
    "$PY" -m infra setup || eventfn_fail "could not prepare Kafka / PostgreSQL (see above)"
}

eventfn_setup() {
    eventfn_setup_venv
    eventfn_setup_services
}
