# shellcheck shell=bash
# The real client tools the integration tests drive against the gateway.
# Source it after setup.sh (it needs ROOT and eventfn_fail), then call
# eventfn_setup_clients.
#
# - .cache/bin/fn: the Go fn CLI, built with `go install` from the Go module
#   proxy; Go's module and build caches stay under .cache/go. Rebuilt only
#   when the binary is missing or reports another version. The proxy may
#   refuse the module (it answers 403 for github.com/fnproject/* on some
#   networks): then set-up says so and goes on, and the tests that drive the
#   fn CLI are skipped, naming the reason; the CLI's contract is still checked,
#   from its recorded sessions (tests/fncli/). EVENTFN_FN_CLI=/path/to/fn uses
#   a binary built elsewhere instead.
# - .cache/oci-cli/bin/oci: the oci CLI from PyPI in a virtualenv of its own
#   (its pins clash with the project's). Rebuilt only when the pin changes.
# Quiet when there is nothing to do; says what failed when something does.

EVENTFN_FN_CLI_VERSION=0.6.63
EVENTFN_OCI_CLI_VERSION=3.95.1

# Prints the version the fn binary $1 reports, without network: `fn --version`
# prints "fn version X" (`fn version` would also ask github.com). The CLI
# writes ~/.fn on start, so it runs with a throw-away HOME.
eventfn_fn_cli_version() {
    local home out
    home="$(mktemp -d)"
    out="$(HOME="$home" "$1" --version 2>/dev/null)" || out=""
    rm -rf "$home"
    out="${out%%$'\n'*}"
    [[ "$out" == "fn version "* ]] && echo "${out#fn version }"
}

eventfn_setup_fn_cli() {
    local want="$EVENTFN_FN_CLI_VERSION" bin="$ROOT/.cache/bin" godir="$ROOT/.cache/go"
    local log="$ROOT/.cache/fn-cli-install.log" tmpbin
    if [[ -x "$bin/fn" && "$(eventfn_fn_cli_version "$bin/fn")" == "$want" ]]; then
        return 0
    fi
    if [[ -n "${EVENTFN_FN_CLI:-}" ]]; then
        return 0
    fi
    if ! command -v go >/dev/null 2>&1; then
        echo "eventfn set-up: the fn CLI is not installed: it needs Go (go not on PATH)" >&2
        return 0
    fi
    echo "installing the fn CLI $want into .cache/bin (go install) ..."
    mkdir -p "$bin" "$godir"
    tmpbin="$(mktemp -d "$ROOT/.cache/fn-cli.XXXXXX")"
    # The tag is not semver: go resolves it as a revision query to a
    # pseudo-version. The binary comes out as `cli`. -modcacherw leaves the
    # module cache deletable with a plain rm -rf.
    if ! env GOPATH="$godir" GOMODCACHE="$godir/pkg/mod" GOCACHE="$godir/cache" \
        GOBIN="$tmpbin" GOFLAGS=-modcacherw \
        go install "github.com/fnproject/cli@$want" >"$log" 2>&1; then
        rm -rf "$tmpbin"
        echo "eventfn set-up: the fn CLI is not installed; the tests that drive it will be" \
            "skipped. go install github.com/fnproject/cli@$want said:" >&2
        grep -m 3 -E "go: |server response" "$log" >&2 || tail -n 3 "$log" >&2
        return 0
    fi
    if ! mv -f "$tmpbin/cli" "$bin/fn"; then
        rm -rf "$tmpbin"
        eventfn_fail "go install left no binary named cli in $tmpbin (log: $log)"
    fi
    rm -rf "$tmpbin"
    local got
    got="$(eventfn_fn_cli_version "$bin/fn")" || true
    [[ "$got" == "$want" ]] ||
        eventfn_fail "the fn CLI just built reports version '${got:-?}', not $want"
}

eventfn_setup_oci_cli() {
    local pin="oci-cli==$EVENTFN_OCI_CLI_VERSION" venv="$ROOT/.cache/oci-cli"
    local stamp="$ROOT/.cache/oci-cli/.eventfn-pin" log="$ROOT/.cache/oci-cli-install.log"
    if [[ -x "$venv/bin/oci" && "$(cat "$stamp" 2>/dev/null)" == "$pin" ]]; then
        return 0
    fi
    echo "installing the oci CLI ($pin) into .cache/oci-cli ..."
    rm -rf "$venv"
    mkdir -p "$ROOT/.cache"
    if ! python3 -m venv "$venv" >"$log" 2>&1; then
        rm -rf "$venv"
        tail -n 30 "$log" >&2
        eventfn_fail "python3 -m venv $venv failed; on Debian: apt-get install -y python3-venv"
    fi
    if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check \
        "$pin" >>"$log" 2>&1; then
        tail -n 30 "$log" >&2
        eventfn_fail "pip install $pin failed (full log: $log)"
    fi
    echo "$pin" >"$stamp"
}

eventfn_setup_clients() {
    eventfn_setup_fn_cli
    eventfn_setup_oci_cli
}
