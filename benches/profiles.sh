#!/usr/bin/env bash
# `make bench-profiles`: builds the release binary under several release-profile variants
# (each in its own target dir, target/profiles/NAME, with every knob given explicitly by
# --config, so Cargo.toml's [profile.release] does not leak in) and runs each through the
# Runtime API emulator (benches/lambda.rs, one instance) against one local DynamoDB (moto).
# Prints a table (also target/bench/profiles.md). Slow: one full build per variant.
#
#   benches/profiles.sh [VARIANT...]     (default: all of them, in the order below)
#
# Environment: BENCH_CREATES (3000), BENCH_ADD100 (300), BENCH_TOTAL (4000) per variant;
# PROFILE_REPEAT (2): runs per variant, alternating variants, the median is reported.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=$ROOT/target/bench/profiles
mkdir -p "$OUT"
log() { printf 'profiles: %s\n' "$*" >&2; }

# name: opt-level lto codegen-units   (panic = "unwind", debug = false, strip = "debuginfo",
# cargo's release default, in all). A NAME-strip variant is NAME's binary through
# `objcopy --strip-all`, which is what strip = true does (strip only touches the final link).
declare -A VARIANTS=(
    [default]='3 false 16'
    [thin]='3 "thin" 16'
    [fat]='3 "fat" 16'
    [cgu1]='3 false 1'
    [thin-cgu1]='3 "thin" 1'
    [fat-cgu1]='3 "fat" 1'
    [s-fat-cgu1]='"s" "fat" 1'
    [z-fat-cgu1]='"z" "fat" 1'
)
ORDER=(default thin fat cgu1 fat-cgu1 fat-cgu1-strip s-fat-cgu1 s-fat-cgu1-strip)
(($#)) && ORDER=("$@")
# The source tree to build (default: this one). Point it at a snapshot to keep the
# variants comparable while someone edits src/.
SRC=${PROFILE_SRC:-$ROOT}

scripts/tools.sh moto

# ---- builds -----------------------------------------------------------------------------
for v in "${ORDER[@]}"; do
    base=${v%-strip}
    [[ -n ${VARIANTS[$base]:-} ]] || { log "unknown variant $v"; exit 2; }
    dir=$ROOT/target/profiles/$v
    mkdir -p "$dir"
    if [[ $v != "$base" ]]; then
        [[ -x $ROOT/target/profiles/$base/release/oa-webhook ]] ||
            { log "$v needs $base built first (list it before $v)"; exit 2; }
        mkdir -p "$dir/release"
        objcopy --strip-all "$ROOT/target/profiles/$base/release/oa-webhook" "$dir/release/oa-webhook"
        cp "$OUT/build-$base.seconds" "$OUT/build-$v.seconds"
        continue
    fi
    read -r opt lto cgu <<<"${VARIANTS[$v]}"
    t0=$(date +%s)
    log "building $v (opt-level=$opt lto=$lto codegen-units=$cgu) from $SRC"
    (cd "$SRC" && CARGO_TARGET_DIR=$dir cargo build --release --bin oa-webhook \
        --config "profile.release.opt-level=$opt" --config "profile.release.lto=$lto" \
        --config "profile.release.codegen-units=$cgu" --config 'profile.release.strip="debuginfo"' \
        --config 'profile.release.panic="unwind"' --config 'profile.release.debug=false') \
        >"$OUT/build-$v.log" 2>&1 || { log "build $v failed: see $OUT/build-$v.log"; exit 1; }
    echo $(($(date +%s) - t0)) >"$OUT/build-$v.seconds"
    log "built $v in $(<"$OUT/build-$v.seconds") s"
done
# The driver (benches/lambda.rs), built once.
driver=${BENCH_DRIVER:-}
if [[ -z $driver ]]; then
    driver=$(cargo bench --no-run --bench lambda --message-format=json 2>"$OUT/build-driver.log" |
        python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "lambda" and m.get("executable"):
        print(m["executable"])')
fi
[[ -x $driver ]] || { log "cannot find the driver binary (see $OUT/build-driver.log)"; exit 1; }

# ---- runs -------------------------------------------------------------------------------
export DDB_STATE_DIR=$ROOT/.run/bench-profiles
source scripts/ddb-env.sh
ddb_local_up
export BENCH_INSTANCES=1 BENCH_COLD_RUNS=${BENCH_COLD_RUNS:-5} BENCH_BARE=${BENCH_BARE:-500}
export BENCH_CREATES=${BENCH_CREATES:-3000} BENCH_ADD100=${BENCH_ADD100:-300}
export BENCH_TOTAL=${BENCH_TOTAL:-4000}
for ((r = 1; r <= ${PROFILE_REPEAT:-2}; r++)); do
    for v in "${ORDER[@]}"; do
        log "run $r: $v"
        BENCH_BIN=$ROOT/target/profiles/$v/release/oa-webhook BENCH_OUT=$OUT/run-$v-$r.json \
            "$driver" --bench >"$OUT/run-$v-$r.log" 2>&1 ||
            { log "run $v failed: see $OUT/run-$v-$r.log"; exit 1; }
    done
done

python3 - "$ROOT" "${PROFILE_REPEAT:-2}" "${ORDER[@]}" <<'EOF' | tee "$ROOT/target/bench/profiles.md"
import io, json, os, statistics, sys, zipfile
root, repeat, order = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
out = os.path.join(root, "target", "bench", "profiles")
print("| variant | binary (B) | zipped (B) | build (s) | CPU/create (µs) | CPU/add100 (µs) "
      "| create p50 (ms) | ready (ms) | first reply (ms) | VmHWM (kB) |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for v in order:
    binary = os.path.join(root, "target", "profiles", v, "release", "oa-webhook")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(binary, "bootstrap")
    runs = [json.load(open(os.path.join(out, f"run-{v}-{r}.json"))) for r in range(1, repeat + 1)]
    def ph(run, name):
        return next(p for p in run["runs"][0]["per_instance"][0]["phases"] if p["name"] == name)
    med = lambda xs: statistics.median(xs)
    cpu_c = [ph(r, "create")["cpu_us_per_event"] for r in runs]
    cpu_a = [ph(r, "add100")["cpu_us_per_event"] for r in runs]
    p50 = med([ph(r, "create")["p50_ms"] for r in runs])
    ready = med([r["cold"]["ready_ms"]["median"] for r in runs])
    first = med([r["cold"]["first_reply_ms"]["median"] for r in runs])
    hwm = max(r["runs"][0]["per_instance"][0]["vmhwm_kb"] for r in runs)
    secs = open(os.path.join(out, f"build-{v}.seconds")).read().strip()
    print(f"| {v} | {os.path.getsize(binary):,} | {len(buf.getvalue()):,} | {secs} "
          f"| {med(cpu_c):.1f} ({', '.join(f'{x:.0f}' for x in cpu_c)}) "
          f"| {med(cpu_a):.0f} ({', '.join(f'{x:.0f}' for x in cpu_a)}) "
          f"| {p50:.3f} | {ready:.2f} | {first:.2f} | {hwm} |")
EOF
