# shellcheck shell=bash
# What the offline Kubernetes checks (tests/k8s) need. Source it after
# setup.sh (it needs ROOT and eventfn_fail), then call eventfn_setup_k8s.
#
# - kustomize: kubectl's own (`kubectl kustomize`) when kubectl is on PATH;
#   otherwise the standalone kustomize, built with `go install` from the Go
#   module proxy into .cache/bin (Go's caches under .cache/go), rebuilt only
#   when missing or another version.
# - the CRD validators: the @kubernetes-models npm packages below, compiled
#   from the Knative, Strimzi, KEDA and CloudNativePG CRD schemas, installed
#   into .cache/k8s-schemas; reinstalled only when the pins change.
# Quiet when there is nothing to do; says what failed when something does.

EVENTFN_KUSTOMIZE_VERSION=v5.5.0
EVENTFN_K8S_SCHEMA_PACKAGES=(
    @kubernetes-models/knative@2.4.4
    @kubernetes-models/strimzi-kafka-operator@1.0.1
    @kubernetes-models/keda@0.4.2
    @kubernetes-models/cloudnative-pg@0.1.4
)

# The module version a kustomize binary was built from: built with go install
# it reports "(devel)" itself, so ask Go, which records it in the binary.
eventfn_kustomize_version() {
    go version -m "$1" 2>/dev/null |
        awk '$1 == "mod" && $2 == "sigs.k8s.io/kustomize/kustomize/v5" { print $3 }'
}

eventfn_setup_kustomize() {
    local want="$EVENTFN_KUSTOMIZE_VERSION" bin="$ROOT/.cache/bin" godir="$ROOT/.cache/go"
    local log="$ROOT/.cache/kustomize-install.log"
    if command -v kubectl >/dev/null 2>&1; then
        return 0
    fi
    command -v go >/dev/null 2>&1 ||
        eventfn_fail "tests/k8s need kubectl or kustomize, and building kustomize needs Go" \
            "(go not on PATH); on Debian: apt-get install -y kubernetes-client"
    if [[ -x "$bin/kustomize" && "$(eventfn_kustomize_version "$bin/kustomize")" == "$want" ]]; then
        return 0
    fi
    echo "installing kustomize $want into .cache/bin (go install; kubectl is not on PATH) ..."
    mkdir -p "$bin" "$godir"
    # -modcacherw leaves the module cache deletable with a plain rm -rf.
    if ! env GOPATH="$godir" GOMODCACHE="$godir/pkg/mod" GOCACHE="$godir/cache" \
        GOBIN="$bin" GOFLAGS=-modcacherw \
        go install "sigs.k8s.io/kustomize/kustomize/v5@$want" >"$log" 2>&1; then
        grep -m 3 -E "go: |server response" "$log" >&2 || tail -n 3 "$log" >&2
        eventfn_fail "go install sigs.k8s.io/kustomize/kustomize/v5@$want failed (log: $log)"
    fi
    local got
    got="$(eventfn_kustomize_version "$bin/kustomize")" || true
    [[ "$got" == "$want" ]] ||
        eventfn_fail "the kustomize just built reports version '${got:-?}', not $want"
}

eventfn_setup_k8s_schemas() {
    local dir="$ROOT/.cache/k8s-schemas" log="$ROOT/.cache/k8s-schemas-install.log"
    local stamp="$ROOT/.cache/k8s-schemas/.eventfn-pins" want="${EVENTFN_K8S_SCHEMA_PACKAGES[*]}"
    if [[ -d "$dir/node_modules" && "$(cat "$stamp" 2>/dev/null)" == "$want" ]]; then
        return 0
    fi
    command -v npm >/dev/null 2>&1 ||
        eventfn_fail "tests/k8s need npm and node for the CRD validators; on Debian:" \
            "apt-get install -y nodejs npm"
    echo "installing the CRD validators (${EVENTFN_K8S_SCHEMA_PACKAGES[*]}) into .cache/k8s-schemas ..."
    rm -rf "$dir"
    mkdir -p "$dir"
    # The strimzi package asks for node >= 22 in its engines field; its
    # validators run on older node too (tests/k8s prove it), so npm's
    # warning about it only goes to the log.
    if ! npm install --prefix "$dir" --no-audit --no-fund --no-update-notifier \
        "${EVENTFN_K8S_SCHEMA_PACKAGES[@]}" >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        rm -rf "$dir"
        eventfn_fail "npm install of the CRD validators failed (full log: $log)"
    fi
    echo "$want" >"$stamp"
}

eventfn_setup_k8s() {
    eventfn_setup_kustomize
    eventfn_setup_k8s_schemas
}
