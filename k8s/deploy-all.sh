#!/usr/bin/env bash
# Deploy eventfn to the cluster of the current kubectl context:
#
#   k8s/deploy-all.sh [--overlay dev|prod|eventing] [--dry-run] [--timeout 600s]
#
# Renders the overlay (kubectl kustomize), checks that the cluster has the
# operators its resources need (Knative Serving, Strimzi, CloudNativePG, KEDA;
# Knative Eventing's Kafka source and sink for the eventing overlay) and says
# which are missing, then applies in order: the namespace, config and secrets;
# Kafka, its topics and PostgreSQL, waiting until they are ready; then the
# functions and what feeds them (bridge or KafkaSources), waiting for those.
# --dry-run prints the rendered YAML and needs no cluster.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
# The namespace k8s/base puts everything in.
NAMESPACE=event-system
OVERLAY=dev
DRY_RUN=0
TIMEOUT=600s

# kind|apiVersion|resource|what provides it: every custom resource an overlay
# may hold, and the operator a cluster needs for it.
REQUIREMENTS=(
    "Service|serving.knative.dev/v1|services.serving.knative.dev|Knative Serving"
    "Kafka|kafka.strimzi.io/v1|kafkas.kafka.strimzi.io|Strimzi 1.2 or later (API kafka.strimzi.io/v1, Kafka 4.3.1)"
    "KafkaNodePool|kafka.strimzi.io/v1|kafkanodepools.kafka.strimzi.io|Strimzi 1.2 or later (API kafka.strimzi.io/v1, Kafka 4.3.1)"
    "KafkaTopic|kafka.strimzi.io/v1|kafkatopics.kafka.strimzi.io|Strimzi 1.2 or later (API kafka.strimzi.io/v1, Kafka 4.3.1)"
    "Cluster|postgresql.cnpg.io/v1|clusters.postgresql.cnpg.io|CloudNativePG"
    "ScaledObject|keda.sh/v1alpha1|scaledobjects.keda.sh|KEDA 2.13 or later"
    "PingSource|sources.knative.dev/v1|pingsources.sources.knative.dev|Knative Eventing (its PingSource lets time pass for the alert rules)"
    "KafkaSource|sources.knative.dev/v1|kafkasources.sources.knative.dev|Knative Eventing with the Kafka source (eventing-kafka-broker)"
    "KafkaSink|eventing.knative.dev/v1alpha1|kafkasinks.eventing.knative.dev|Knative Eventing with the Kafka sink (eventing-kafka-broker)"
)
FIRST_KINDS="Namespace ConfigMap Secret"
DATA_KINDS="Kafka KafkaNodePool KafkaTopic Cluster"

usage() {
    cat <<EOF
usage: k8s/deploy-all.sh [--overlay NAME] [--dry-run] [--timeout DURATION]

  --overlay NAME   one of: $(overlays) (default: dev)
  --dry-run        print the YAML it would apply; needs no cluster
  --timeout D      how long to wait for each kind to be ready (default: 600s)
EOF
}

overlays() {
    local dir names=()
    for dir in "$HERE"/overlays/*/; do
        names+=("$(basename "$dir")")
    done
    echo "${names[*]}"
}

fail() {
    echo "deploy-all: $*" >&2
    exit 1
}

say() {
    echo "deploy-all: $*" >&2
}

# kubectl's kustomize, or the standalone kustomize (scripts/lib/k8s.sh installs
# it into .cache/bin where kubectl is missing): enough for --dry-run.
render() {
    if command -v kubectl >/dev/null 2>&1; then
        kubectl kustomize "$1"
    elif command -v kustomize >/dev/null 2>&1; then
        kustomize build "$1"
    elif [[ -x "$ROOT/.cache/bin/kustomize" ]]; then
        "$ROOT/.cache/bin/kustomize" build "$1"
    else
        fail "needs kubectl (or kustomize) on PATH"
    fi
}

# "apiVersion kind" of every document of the YAML stream on stdin.
kinds() {
    awk '
        function flush() { if (kind != "") print api " " kind; api = ""; kind = "" }
        /^---$/ { flush(); next }
        /^apiVersion: / { api = $2 }
        /^kind: / { kind = $2 }
        END { flush() }
    '
}

# The documents of the YAML stream on stdin whose kind is (include) or is not
# (exclude) one of the space-separated KINDS.
pick() {
    local mode="$1" wanted="$2"
    awk -v mode="$mode" -v wanted="$wanted" '
        BEGIN { n = split(wanted, list, " "); for (i = 1; i <= n; i++) set[list[i]] = 1 }
        function flush() {
            if (doc != "" && ((kind in set) == (mode == "include"))) { printf "%s%s", sep, doc; sep = "---\n" }
            doc = ""; kind = ""
        }
        /^---$/ { flush(); next }
        /^kind: / { kind = $2 }
        { doc = doc $0 "\n" }
        END { flush() }
    '
}

apply() {
    local what="$1" docs="$2"
    [[ -n "$docs" ]] || return 0
    say "applying $what"
    printf '%s' "$docs" | kubectl apply -f -
}

wait_ready() {
    local resource="$1"
    say "waiting for $resource to be ready (up to $TIMEOUT)"
    kubectl -n "$NAMESPACE" wait "$resource" --all --for=condition=Ready --timeout="$TIMEOUT"
}

# Every operator the manifests need and the cluster lacks, one line each.
missing_operators() {
    local manifests="$1" resources versions line kind api resource what
    resources="$(kubectl api-resources -o name)" || fail "kubectl api-resources failed"
    versions="$(kubectl api-versions)" || fail "kubectl api-versions failed"
    local needed
    needed="$(printf '%s\n' "$manifests" | kinds | sort -u)"
    for line in "${REQUIREMENTS[@]}"; do
        IFS='|' read -r kind api resource what <<<"$line"
        grep -qxF "$api $kind" <<<"$needed" || continue
        if ! grep -qxF "$resource" <<<"$resources" || ! grep -qxF "$api" <<<"$versions"; then
            echo "  - $what: no $kind ($api, $resource)"
        fi
    done | sort -u
}

main() {
    while (($#)); do
        case "$1" in
        --overlay)
            [[ $# -ge 2 ]] || { usage >&2; exit 2; }
            OVERLAY="$2"
            shift 2
            ;;
        --overlay=*)
            OVERLAY="${1#*=}"
            shift
            ;;
        --dry-run)
            DRY_RUN=1
            shift
            ;;
        --timeout)
            [[ $# -ge 2 ]] || { usage >&2; exit 2; }
            TIMEOUT="$2"
            shift 2
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            echo "deploy-all: unknown argument: $1" >&2
            usage >&2
            exit 2
            ;;
        esac
    done
    local dir="$HERE/overlays/$OVERLAY"
    if [[ "$OVERLAY" == */* || ! -f "$dir/kustomization.yaml" ]]; then
        echo "deploy-all: no overlay '$OVERLAY' (overlays: $(overlays))" >&2
        exit 2
    fi

    local manifests
    manifests="$(render "$dir")" || fail "could not render $dir"
    if ((DRY_RUN)); then
        printf '%s\n' "$manifests"
        return 0
    fi

    local context
    context="$(kubectl config current-context 2>/dev/null)" || context="(none)"
    kubectl version --request-timeout=10s >/dev/null 2>&1 ||
        fail "cannot reach the cluster of kubectl context $context (--dry-run needs none)"
    local missing
    missing="$(missing_operators "$manifests")"
    if [[ -n "$missing" ]]; then
        fail "the cluster of context $context lacks what overlay $OVERLAY needs; install:
$missing"
    fi
    say "deploying overlay $OVERLAY to context $context, namespace $NAMESPACE"

    apply "the namespace, config and secrets" "$(pick include "$FIRST_KINDS" <<<"$manifests")"
    # The functions need Kafka's topics and PostgreSQL's schema (and its
    # eventfn-db-app secret) before they can start.
    apply "Kafka, its topics and PostgreSQL" "$(pick include "$DATA_KINDS" <<<"$manifests")"
    wait_ready kafkas.kafka.strimzi.io
    wait_ready kafkatopics.kafka.strimzi.io
    wait_ready clusters.postgresql.cnpg.io

    local rest
    rest="$(pick exclude "$FIRST_KINDS $DATA_KINDS" <<<"$manifests")"
    apply "the functions and what feeds them" "$rest"
    wait_ready services.serving.knative.dev
    if grep -qx "kind: StatefulSet" <<<"$rest"; then
        say "waiting for the bridge (up to $TIMEOUT)"
        kubectl -n "$NAMESPACE" rollout status statefulset/eventfn-bridge --timeout="$TIMEOUT"
    fi
    if grep -qx "kind: KafkaSource" <<<"$rest"; then
        wait_ready kafkasources.sources.knative.dev
    fi
    local url
    url="$(kubectl -n "$NAMESPACE" get services.serving.knative.dev publish \
        -o jsonpath='{.status.url}' 2>/dev/null)" || url=""
    say "done; publish events with: curl -X POST ${url:-<publish URL>}/publish -d '{\"type\":\"TEMP\",\"value\":\"ALERT:90\"}'"
}

main "$@"
