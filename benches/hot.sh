#!/usr/bin/env bash
# `make bench-hot`: a campaign on one Official Account through the DynamoDB contention
# model (examples/bench_hot.rs; what it measures and every BENCH_* setting are in its
# header). Builds the release binary and the benchmark, starts a local DynamoDB (moto) of its own,
# runs the campaign once per point, and stops what it started.
#
#   benches/hot.sh
#
# Points (docs/contract.md section 8; issue 23), as words NAME:RATE:PARTITION_WCU:FACTOR:MS
# (FACTOR empty: the ceiling is PARTITION_WCU; PARTITION_WCU 0: no ceiling):
#   uncapped      150 events/s, no partition ceiling, 15 ms transactions (p99 billed)
#   above         150 events/s, the ceiling 1.1 times the campaign's need (bursts above it)
#   over          150 events/s, the ceiling 2.2 times below the need (as 1000 events/s are
#                 over a real partition), its bucket holding one full transaction
#   real-ceiling  BENCH_HOT_MAX_RATE events/s against the real ceiling of 1000 write units
#
# Environment (all optional):
#   BENCH_HOT_POINTS   the points to run (default: the four above)
#   BENCH_HOT_MAX_RATE the real-ceiling point's rate (default 150: the most this 2-core
#                      machine drove cleanly with the webhook's instances, the model and the
#                      local DynamoDB in one box; 250 saturated it: docs/performance.md)
#   BENCH_RATE, BENCH_SECS, BENCH_CONSUMERS, BENCH_BATCH, ...  passed to examples/bench_hot.rs;
#                    BENCH_BATCH, BENCH_BATCH_WINDOW_MS, BENCH_CONSUMERS, BENCH_VISIBILITY_SECS and
#                    BENCH_MAX_RECEIVES default to template.yaml's values (read below)
#
# Output: one summary per run on stdout; the JSON in target/bench/hot-<point>.json; the
# functions' stderr in target/bench/hot-functions-<point>.log; the builds' logs in
# target/bench/build-hot*.log. The release build goes to this tree's target/ (unset
# CARGO_TARGET_DIR), where the other benches look for it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
unset CARGO_TARGET_DIR

OUT=$ROOT/target/bench
mkdir -p "$OUT" "$ROOT/.run"
log() { printf 'bench-hot: %s\n' "$*" >&2; }
step() { # NAME LOGFILE CMD...
    local name=$1 logf=$2 rc=0
    shift 2
    log "$name ..."
    "$@" >"$logf" 2>&1 || rc=$?
    if ((rc != 0)); then
        log "$name failed (exit $rc); last lines of $logf:"
        tail -n 40 "$logf" >&2
        return "$rc"
    fi
}

scripts/tools.sh ddb
# Both builds before any measuring, so that no compiler runs beside it.
step "cargo build --release --bin oa-webhook" "$OUT/build-hot-release.log" \
    cargo build --release --bin oa-webhook
step "cargo build --release --example bench_hot" "$OUT/build-hot-bench.log" \
    cargo build --release --example bench_hot

export DDB_STATE_DIR=$ROOT/.run/bench-hot
source scripts/ddb-env.sh
ddb_local_up
export BENCH_BIN=$ROOT/target/release/oa-webhook

# The event source mapping and the hand-off queue as template.yaml deploys them, unless set:
# the first BatchSize, MaximumBatchingWindowInSeconds, MaximumConcurrency (the consumer's
# mapping), VisibilityTimeout and maxReceiveCount (the hand-off queue, the first queue).
template_value() { # KEY
    awk -v key="$1:" '$1 == key { print $2; exit }' template.yaml
}
from_template() { # VARIABLE KEY [SCALE]
    local v
    [[ -n ${!1:-} ]] && return 0
    v=$(template_value "$2")
    [[ $v =~ ^[0-9]+$ ]] || return 0
    export "$1=$((v * ${3:-1}))"
}
from_template BENCH_BATCH BatchSize
from_template BENCH_BATCH_WINDOW_MS MaximumBatchingWindowInSeconds 1000
from_template BENCH_CONSUMERS MaximumConcurrency
from_template BENCH_VISIBILITY_SECS VisibilityTimeout
from_template BENCH_MAX_RECEIVES maxReceiveCount
log "event source: batch ${BENCH_BATCH:-10}, window ${BENCH_BATCH_WINDOW_MS:-1000} ms, ${BENCH_CONSUMERS:-5} pollers; queue: visibility ${BENCH_VISIBILITY_SECS:-180} s, dead letters after ${BENCH_MAX_RECEIVES:-5} receives"

max_rate=${BENCH_HOT_MAX_RATE:-150}
points=${BENCH_HOT_POINTS:-"uncapped:150:0::15 above:150:1000:1.1:15 over:150:1000:0.4545:15 real-ceiling:$max_rate:1000::15"}
for point in $points; do
    IFS=: read -r name rate wcu factor ms <<<"$point"
    log "point $name: $rate events/s, partition ${wcu} WCU/s${factor:+ x need $factor}, ${ms} ms transactions (rev $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
    BENCH_RATE=$rate BENCH_PARTITION_WCU=$wcu BENCH_CEILING_FACTOR=$factor BENCH_TRANSACTION_MS=$ms \
        BENCH_OUT=$OUT/hot-$name.json BENCH_LOG=$OUT/hot-functions-$name.log \
        target/release/examples/bench_hot
done
