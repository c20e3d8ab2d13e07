# shellcheck shell=bash
# Docker Compose v2, so that `docker compose -f infra/docker-compose.yml config`
# can check the compose file on a machine whose docker CLI has no compose
# plugin (no Docker engine is needed for that). Source it after setup.sh (it
# needs ROOT and eventfn_fail), then call eventfn_setup_compose.
#
# - .cache/docker/cli-plugins/docker-compose: Compose built with `go build`
#   from its module on the Go module proxy (`go install ...@version` refuses
#   it: its go.mod has exclude directives); Go's module and build caches stay
#   under .cache/go. With DOCKER_CONFIG=.cache/docker, `docker compose` runs
#   it, which is what tests/images does. Rebuilt only when the binary is
#   missing or reports another version; about two minutes on two cores.
# - Nothing to do when `docker compose` already works on the machine.
# - Without Go, or when the proxy refuses the module, set-up says so and goes
#   on: the compose test is then skipped, and fails under CI=true.
# Quiet when there is nothing to do; says what failed when something does.

EVENTFN_COMPOSE_VERSION=2.40.3

# Prints the version the compose binary $1 reports ("2.40.3"), or nothing.
eventfn_compose_version() {
    local out
    out="$("$1" version --short 2>/dev/null)" || out=""
    echo "${out#v}"
}

eventfn_setup_compose() {
    local want="$EVENTFN_COMPOSE_VERSION" plugins="$ROOT/.cache/docker/cli-plugins"
    local godir="$ROOT/.cache/go" log="$ROOT/.cache/compose-install.log" module src tmp
    if [[ -x "$plugins/docker-compose" &&
        "$(eventfn_compose_version "$plugins/docker-compose")" == "$want" ]]; then
        return 0
    fi
    if docker compose version >/dev/null 2>&1; then
        return 0
    fi
    if ! command -v go >/dev/null 2>&1; then
        echo "eventfn set-up: Docker Compose is not installed: it needs Go (go not on PATH)" >&2
        return 0
    fi
    echo "building Docker Compose $want into .cache/docker/cli-plugins (go build) ..."
    mkdir -p "$plugins" "$godir"
    module="github.com/docker/compose/v2"
    # -modcacherw leaves the module cache deletable with a plain rm -rf.
    local goenv=(env GOPATH="$godir" GOMODCACHE="$godir/pkg/mod" GOCACHE="$godir/cache"
        GOFLAGS=-modcacherw GOTOOLCHAIN=local)
    # -json reports where the module's source is, or its error, on stdout.
    "${goenv[@]}" go mod download -json "$module@v$want" >"$log" 2>&1 || true
    src="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$log")"
    if [[ -z "$src" || ! -d "$src" ]]; then
        echo "eventfn set-up: Docker Compose is not installed; the compose test will be" \
            "skipped. go mod download $module@v$want said:" >&2
        grep -m 3 -E '"Error"|go: |server response' "$log" >&2 || tail -n 3 "$log" >&2
        return 0
    fi
    tmp="$(mktemp "$plugins/docker-compose.XXXXXX")"
    # As Compose's Makefile builds it: the version stamped in, symbols stripped.
    if ! (cd "$src" && "${goenv[@]}" go build -trimpath \
        -ldflags "-s -w -X $module/internal.Version=v$want" -o "$tmp" ./cmd) >>"$log" 2>&1; then
        rm -f "$tmp"
        echo "eventfn set-up: building Docker Compose $want failed; the compose test will be" \
            "skipped (log: $log)" >&2
        tail -n 3 "$log" >&2
        return 0
    fi
    mv -f "$tmp" "$plugins/docker-compose"
    local got
    got="$(eventfn_compose_version "$plugins/docker-compose")"
    [[ "$got" == "$want" ]] ||
        eventfn_fail "the Docker Compose just built reports version '${got:-?}', not $want"
}
