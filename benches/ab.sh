#!/usr/bin/env bash
# `make bench-ab BASE=<rev>`: the release binary of BASE_REV against this tree's and the
# floor's (examples/floor.rs), through the Runtime API emulator (benches/lambda.rs), one
# instance, against one local DynamoDB (moto), interleaved: ROUNDS rounds of the three, the order
# rotated every round so that drift on a shared machine falls on each alike. Prints a table
# of medians with the change of this tree against BASE_REV (also target/bench-ab/table.md).
#
#   benches/ab.sh BASE_REV
#
# BASE_REV is built in a temporary `git worktree` (removed afterwards) with its own target
# dir, target/bench-ab/base (kept: the next A/B rebuilds only what changed); this tree is
# built in target/ as `make bench` builds it. The binaries are copied to
# target/bench-ab/bin/ before measuring, so edits made meanwhile change nothing. Uncommitted
# changes in this tree are measured as "current".
#
# Environment (all optional):
#   AB_ROUNDS (3)    rounds of base, current, floor
#   AB_FLOOR=0       leave the floor out
#   AB_BASE_BIN      a release binary of BASE_REV built already: measured instead of
#                    building one (BASE_REV then only names it)
#   AB_ZIP=arm64     also build the deployable arm64 zip of both (cargo lambda, zig; two
#                    more full release builds); by default the zip row is the x86-64 binary
#                    deflated as `bootstrap`, the way cargo lambda zips it
#   BENCH_QUICK=1    a smoke run: 3 cold starts, 300 creates, 30 adds of 100 per run
#   BENCH_COLD_RUNS (10), BENCH_CREATES (3000), BENCH_ADD100 (400), BENCH_TOTAL (0: no
#   mix phase), BENCH_LOG_LEVEL, BENCH_CHILD_ENV: passed to benches/lambda.rs
#
# Output: the table on stdout and in target/bench-ab/table.md; each run's JSON and log in
# target/bench-ab/runs/; build logs in target/bench-ab/*.log.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
log() { printf 'bench-ab: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

(($# == 1)) || die "usage: benches/ab.sh BASE_REV"
base_rev=$(git rev-parse --verify --quiet "$1^{commit}") || die "$1 is not a commit"
base_name="$1 ($(git log -1 --format='%h %s' "$base_rev" | cut -c1-60))"
dirty=""
[[ -z $(git status --porcelain -- src examples Cargo.toml Cargo.lock) ]] || dirty=", uncommitted changes"
current_name="this tree ($(git log -1 --format='%h' HEAD)$dirty)"

OUT=$ROOT/target/bench-ab
BIN=$OUT/bin
RUNS=$OUT/runs
rm -rf "$RUNS" "$BIN"
mkdir -p "$OUT" "$BIN" "$RUNS" "$ROOT/.run"
ROUNDS=${AB_ROUNDS:-3}
if [[ ${BENCH_QUICK:-} == 1 ]]; then
    export BENCH_COLD_RUNS=${BENCH_COLD_RUNS:-3} BENCH_CREATES=${BENCH_CREATES:-300}
    export BENCH_ADD100=${BENCH_ADD100:-30}
fi
export BENCH_COLD_RUNS=${BENCH_COLD_RUNS:-10} BENCH_CREATES=${BENCH_CREATES:-3000}
export BENCH_ADD100=${BENCH_ADD100:-400} BENCH_TOTAL=${BENCH_TOTAL:-0}
export BENCH_INSTANCES=1 BENCH_IN_PROCESS=0
VARIANTS=(base current)
[[ ${AB_FLOOR:-1} == 0 ]] || VARIANTS+=(floor)

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

parts=(moto)
[[ ${AB_ZIP:-} == arm64 ]] && parts+=(python zig)
scripts/tools.sh "${parts[@]}"

# ---- builds (all before any measuring) --------------------------------------------------
# An earlier AB_ZIP=arm64 run's zips (of another base, another tree) must not show up in
# this run's table.
rm -rf "$OUT/zip-base" "$OUT/zip-current"
build_zip() { # SRC_DIR TARGET_DIR LAMBDA_DIR
    (cd "$1" && CARGO_TARGET_DIR=$2 PATH="$ROOT/.tools/venv/bin:$PATH" \
        "$ROOT/.tools/venv/bin/cargo-lambda" lambda build --release --arm64 --bin oa-webhook \
        --output-format zip --lambda-dir "$3")
}
# Two invocations: building an example turns on the dev-dependencies' features (Cargo's
# feature unification), and the function must be built as `make package` builds it.
step "current: cargo build --release" "$OUT/build-current.log" \
    cargo build --release --bin oa-webhook
step "floor: cargo build --release --example floor" "$OUT/build-floor.log" \
    cargo build --release --example floor
cp target/release/oa-webhook "$BIN/current"
cp target/release/examples/floor "$BIN/floor"

# BASE_REV in a worktree of its own. A first A/B seeds its target dir with a copy of
# target/release: Cargo then rebuilds only what differs (at least the crate itself).
worktree=""
remove_worktree() {
    [[ -n $worktree ]] || return 0
    git worktree remove --force "$worktree" 2>/dev/null || true
    rm -rf "$worktree"
    git worktree prune
}
build_base() {
    worktree=$(mktemp -d "${TMPDIR:-/tmp}/oa-webhook-ab.XXXXXX")
    trap remove_worktree EXIT
    git worktree add --quiet --detach "$worktree" "$base_rev"
    if [[ ! -d $OUT/base/release ]]; then
        log "seeding target/bench-ab/base with a copy of target/release"
        mkdir -p "$OUT/base"
        cp -a target/release "$OUT/base/"
    fi
    step "base: cargo build --release (${base_rev:0:9}, target/bench-ab/base)" \
        "$OUT/build-base.log" \
        bash -c "cd '$worktree' && CARGO_TARGET_DIR='$OUT/base' cargo build --release --bin oa-webhook"
    cp "$OUT/base/release/oa-webhook" "$BIN/base"
    if [[ ${AB_ZIP:-} == arm64 ]]; then
        step "base: cargo lambda build --release --arm64" "$OUT/build-zip-base.log" \
            build_zip "$worktree" "$OUT/base" "$OUT/zip-base"
        step "current: cargo lambda build --release --arm64" "$OUT/build-zip-current.log" \
            build_zip "$ROOT" "$ROOT/target" "$OUT/zip-current"
    fi
    remove_worktree
    trap - EXIT
}
if [[ -n ${AB_BASE_BIN:-} ]]; then
    [[ -x $AB_BASE_BIN ]] || die "AB_BASE_BIN=$AB_BASE_BIN is not an executable"
    [[ ${AB_ZIP:-} != arm64 ]] || die "AB_ZIP=arm64 builds BASE_REV: leave AB_BASE_BIN out"
    log "base: $AB_BASE_BIN (not built here)"
    cp "$AB_BASE_BIN" "$BIN/base"
else
    build_base
fi

driver=$(cargo bench --no-run --bench lambda --message-format=json 2>"$OUT/build-driver.log" |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "lambda" and m.get("executable"):
        print(m["executable"])')
[[ -x $driver ]] || die "cannot find the driver (benches/lambda.rs); see $OUT/build-driver.log"

# ---- runs -------------------------------------------------------------------------------
export DDB_STATE_DIR=$ROOT/.run/bench-ab
source scripts/ddb-env.sh
ddb_local_up
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t_runs=$(date +%s)
# The local DynamoDB warms up first (the driver's in-process phase), not counted.
step "warm-up of the local DynamoDB" "$RUNS/warmup.log" \
    env BENCH_BIN="$BIN/current" BENCH_OUT="$RUNS/warmup.json" BENCH_IN_PROCESS=1 \
    BENCH_BARE=100 BENCH_COLD_RUNS=1 BENCH_CREATES=100 BENCH_ADD100=10 "$driver" --bench
for ((r = 1; r <= ROUNDS; r++)); do
    order=("${VARIANTS[@]:$(((r - 1) % ${#VARIANTS[@]}))}" "${VARIANTS[@]:0:$(((r - 1) % ${#VARIANTS[@]}))}")
    for v in "${order[@]}"; do
        floor=0
        [[ $v == floor ]] && floor=1
        step "round $r/$ROUNDS: $v" "$RUNS/$v-$r.log" \
            env BENCH_BIN="$BIN/$v" BENCH_OUT="$RUNS/$v-$r.json" BENCH_FLOOR=$floor "$driver" --bench
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
log "runs done in $(($(date +%s) - t_runs)) s"

# ---- the table --------------------------------------------------------------------------
python3 - "$OUT" "$ROUNDS" "$base_name" "$current_name" "$load_before" "$load_after" \
    "${VARIANTS[@]}" <<'EOF' | tee "$OUT/table.md"
import glob, io, json, os, statistics, sys, time, zipfile

out, rounds, base_name, current_name, load0, load1 = sys.argv[1:7]
rounds, variants = int(rounds), sys.argv[7:]
MB = 1_000_000


def phase(run, name):
    inst = run["runs"][0]["per_instance"][0]
    return next(p for p in inst["phases"] if p["name"] == name)


metrics = [  # label, unit, how to read one run, decimals
    ("ready: start → first GET /next (median of the run's cold starts)", "ms",
     lambda j: j["cold"]["ready_ms"]["median"], 3),
    ("first reply: start → first response, a create (median of the cold starts)", "ms",
     lambda j: j["cold"]["first_reply_ms"]["median"], 3),
    ("CPU per warm create, whole process", "µs", lambda j: phase(j, "create")["cpu_us_per_event"], 1),
    ("CPU per warm add of 100 (the floor: its one write)", "µs",
     lambda j: phase(j, "add100")["cpu_us_per_event"], 1),
    ("warm create p50", "ms", lambda j: phase(j, "create")["p50_ms"], 3),
    ("peak RSS (VmHWM) at the end", "MB",
     lambda j: j["runs"][0]["per_instance"][0]["vmhwm_kb"] * 1024 / MB, 2),
]
runs = {v: [json.load(open(os.path.join(out, "runs", f"{v}-{r}.json"))) for r in range(1, rounds + 1)]
        for v in variants}
s = runs["base"][0]["settings"]
cold = runs["base"][0]["cold"]["runs"]


def fmt(x, d):
    return "—" if x is None else f"{x:,.{d}f}"


def change(cur, base):
    """The change in percent; every figure here is better lower, and more than +10% is
    flagged (the tolerance a change of layout is held to)."""
    if cur is None or not base:
        return "—"
    pct = (cur - base) / base * 100
    return f"**{pct:+.1f}%**" if pct > 10 else f"{pct:+.1f}%"


def times(cur, floor):
    return "—" if cur is None or not floor else f"× {cur / floor:.2f}"


head = ["What", "base", "current", "current vs base"]
if "floor" in variants:
    head += ["floor", "current × floor"]
rows = []
for label, unit, get, d in metrics:
    vals = {v: [get(j) for j in runs[v]] for v in variants}
    med = {v: statistics.median(vals[v]) for v in variants}
    cells = [f"{label} ({unit})"]
    for v in ("base", "current"):
        cells.append(f"{fmt(med[v], d)} ({', '.join(fmt(x, d) for x in vals[v])})")
    cells.append(change(med["current"], med["base"]))
    if "floor" in variants:
        cells += [f"{fmt(med['floor'], d)} ({', '.join(fmt(x, d) for x in vals['floor'])})",
                  times(med["current"], med["floor"])]
    rows.append(cells)


def zipped(path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(path, "bootstrap")
    return len(buf.getvalue())


size = {v: os.path.getsize(os.path.join(out, "bin", v)) for v in variants}
zsize = {v: zipped(os.path.join(out, "bin", v)) for v in variants}
for label, vals in [("release binary, x86-64", size), ("x86-64 binary zipped (deflate)", zsize)]:
    cells = [f"{label} (MB)", fmt(vals["base"] / MB, 2), fmt(vals["current"] / MB, 2),
             change(vals["current"], vals["base"])]
    if "floor" in variants:
        cells += [fmt(vals["floor"] / MB, 2), times(vals["current"], vals["floor"])]
    rows.append(cells)
arm = {}
for v in ("base", "current"):
    found = glob.glob(os.path.join(out, f"zip-{v}", "**", "*.zip"), recursive=True)
    if found:
        arm[v] = os.path.getsize(found[0])
if len(arm) == 2:
    cells = ["deployable zip, arm64 (cargo lambda build --release --arm64) (MB)",
             fmt(arm["base"] / MB, 2), fmt(arm["current"] / MB, 2), change(arm["current"], arm["base"])]
    if "floor" in variants:
        cells += ["—", "—"]
    rows.append(cells)

print(f"### oa-webhook `make bench-ab` — {time.strftime('%Y-%m-%d %H:%M %Z')}")
print()
print(f"- base: {base_name}")
print(f"- current: {current_name}")
if "floor" in variants:
    print("- floor: examples/floor.rs (same runtime, SDK configuration and allocator; one "
          "conditional UpdateItem per invocation; no protocol, logging or metrics)")
print(f"- {rounds} rounds, order rotated each round; 1 instance; per run {cold} cold starts, "
      f"{s['creates']} creates, {s['add100']} adds of 100; medians over the rounds, "
      "each round's figure in brackets; a change over +10% in bold")
print(f"- {os.cpu_count()} CPUs; load average {load0} before the runs, {load1} after")
print()
print("| " + " | ".join(head) + " |")
print("| --- |" + " ---: |" * (len(head) - 1))
for r in rows:
    print("| " + " | ".join(r) + " |")
EOF
