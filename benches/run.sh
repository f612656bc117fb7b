#!/usr/bin/env bash
# `make bench`: builds the release binary, the benches and the deployable zip, runs the
# criterion benches (no I/O) and the release binary through a Lambda Runtime API
# emulator against a local DynamoDB (moto) of its own, then the floor (examples/floor.rs: the
# same runtime, SDK configuration and allocator, the one DynamoDB call of a create, no
# protocol, logging or metrics) the same way, and prints one table with our figures as
# multiples of the floor's.
#
#   benches/run.sh
#
# Environment (all optional):
#   BENCH_ZIP        arm64 (default): the zip as deployed (cargo lambda build --arm64, needs
#                    ziglang: installed into .tools/venv); x86_64: cargo lambda build for
#                    x86-64; none: skip the zip build
#   BENCH_QUICK=1    smaller event counts (a smoke run; the figures are noisier)
#   BENCH_CREATES, BENCH_ADD100, BENCH_TOTAL, BENCH_BARE, BENCH_COLD_RUNS, BENCH_INSTANCES,
#   BENCH_LOG_LEVEL  passed to benches/lambda.rs (see its header)
#   BENCH_CRITERION=0  skip the criterion benches (the table then has no no-I/O rows)
#   BENCH_FLOOR=0    skip the floor (the table then has no "× floor" rows)
#
# Output: the table on stdout, also in target/bench/table.md; the raw figures in
# target/bench/*.json; logs of the builds and runs in target/bench/*.log.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

OUT=$ROOT/target/bench
mkdir -p "$OUT" "$ROOT/.run"
ZIP_ARCH=${BENCH_ZIP:-arm64}
log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# Runs a step with its output in a log file; shows the log's tail if it fails.
step() { # NAME LOGFILE CMD...
    local name=$1 logf=$2 t0 rc=0
    shift 2
    t0=$(date +%s)
    log "$name ..."
    "$@" >"$logf" 2>&1 || rc=$?
    if ((rc != 0)); then
        log "$name failed (exit $rc); last lines of $logf:"
        tail -n 40 "$logf" >&2
        return "$rc"
    fi
    log "$name done in $(($(date +%s) - t0)) s"
}

if [[ ${BENCH_QUICK:-} == 1 ]]; then
    export BENCH_CREATES=${BENCH_CREATES:-600} BENCH_ADD100=${BENCH_ADD100:-100}
    export BENCH_TOTAL=${BENCH_TOTAL:-2000} BENCH_BARE=${BENCH_BARE:-500}
    export BENCH_COLD_RUNS=${BENCH_COLD_RUNS:-3}
fi

# ---- tools ------------------------------------------------------------------------------
parts=(python moto)
[[ $ZIP_ARCH == arm64 ]] && parts+=(zig)
scripts/tools.sh "${parts[@]}"

# ---- builds (all before any measuring, so that no compiler runs beside it) --------------
step "cargo build --release" "$OUT/build-release.log" cargo build --release --bin oa-webhook
[[ ${BENCH_FLOOR:-1} == 0 ]] ||
    step "cargo build --release --example floor" "$OUT/build-floor.log" \
        cargo build --release --example floor
benches=(--bench lambda)
[[ ${BENCH_CRITERION:-1} == 0 ]] || benches+=(--bench protocol)
step "cargo bench --no-run" "$OUT/build-benches.log" cargo bench --no-run "${benches[@]}"

zip_note=""
zip_file=""
build_zip() { # ARCH-FLAG
    rm -rf "$OUT/lambda"
    PATH="$ROOT/.tools/venv/bin:$PATH" .tools/venv/bin/cargo-lambda lambda build --release \
        "$1" --bin oa-webhook --output-format zip --lambda-dir "$OUT/lambda"
}
case $ZIP_ARCH in
arm64)
    if step "cargo lambda build --release --arm64" "$OUT/build-zip.log" build_zip --arm64; then
        zip_note="arm64 (aarch64-unknown-linux-gnu), cargo lambda build --release --arm64"
    else
        log "the arm64 build failed; building the zip for x86-64 instead"
        step "cargo lambda build --release --x86-64" "$OUT/build-zip.log" build_zip --x86-64
        zip_note="x86-64 ONLY: the arm64 build failed (see target/bench/build-zip.log)"
    fi
    ;;
x86_64)
    step "cargo lambda build --release --x86-64" "$OUT/build-zip.log" build_zip --x86-64
    zip_note="x86-64 (BENCH_ZIP=x86_64), not the arm64 artifact the target is for"
    ;;
none) zip_note="not built (BENCH_ZIP=none)" ;;
*) die "BENCH_ZIP must be arm64, x86_64 or none" ;;
esac
[[ $ZIP_ARCH == none ]] || zip_file=$(find "$OUT/lambda" -name '*.zip' | head -n1)

# ---- sizes ------------------------------------------------------------------------------
bin=$ROOT/target/release/oa-webhook
python3 - "$bin" "$zip_file" "$zip_note" "$OUT/sizes.json" <<'EOF'
import io, json, os, sys, zipfile
binary, zip_file, note, out = sys.argv[1:5]
# The x86-64 release binary zipped the way cargo lambda zips (deflate, as `bootstrap`).
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    z.write(binary, "bootstrap")
sizes = {
    "binary": binary,
    "binary_bytes": os.path.getsize(binary),
    "binary_zip_bytes": len(buf.getvalue()),
    "zip": zip_file or None,
    "zip_bytes": os.path.getsize(zip_file) if zip_file else None,
    "zip_note": note,
}
if zip_file:
    with zipfile.ZipFile(zip_file) as z:
        sizes["zip_unpacked_bytes"] = sum(i.file_size for i in z.infolist())
json.dump(sizes, open(out, "w"), indent=2)
EOF

# ---- criterion (no I/O) -----------------------------------------------------------------
if [[ ${BENCH_CRITERION:-1} != 0 ]]; then
    step "criterion benches (benches/protocol.rs)" "$OUT/criterion.log" \
        cargo bench --bench protocol
fi

# ---- the release binary against the local DynamoDB (moto) ------------------------------
export DDB_STATE_DIR=$ROOT/.run/bench
source scripts/ddb-env.sh
ddb_local_up
export BENCH_BIN=$bin BENCH_OUT=$OUT/lambda.json
rm -f "$BENCH_OUT" "$OUT/floor.json"
step "release binary via the Runtime API emulator (benches/lambda.rs)" "$OUT/lambda.log" \
    cargo bench --bench lambda
# The floor: one instance, the same cold starts, creates and adds of 100 (no mix).
if [[ ${BENCH_FLOOR:-1} != 0 ]]; then
    BENCH_BIN=$ROOT/target/release/examples/floor BENCH_OUT=$OUT/floor.json BENCH_FLOOR=1 \
        BENCH_INSTANCES=1 BENCH_TOTAL=0 \
        step "the floor via the Runtime API emulator (examples/floor.rs)" "$OUT/floor.log" \
        cargo bench --bench lambda
fi

# ---- the table --------------------------------------------------------------------------
python3 benches/report.py "$ROOT" | tee "$OUT/table.md"
