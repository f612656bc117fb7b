#!/usr/bin/env bash
# Coverage-guided fuzzing of the request-to-reply path: `cargo fuzz` (libFuzzer) on the
# fuzz/ crate's target `handle_event` (API Gateway event JSON in, reply out, invariants
# asserted; see fuzz/README.md).
#
#   scripts/fuzz.sh [SECONDS]        fuzz for SECONDS (default 600), then print the figures
#   scripts/fuzz.sh build            only install cargo-fuzz and build the target (make test
#                                    builds it beside the tests, then runs the smoke)
#
# Steps: install cargo-fuzz into .tools/cargo if missing (pinned, idempotent); build the
# target; write the seeds (events/*.json, compact and signed twins, hostile inputs, and
# fuzz/regressions/*.json) into the git-ignored corpus fuzz/corpus/handle_event, which
# keeps what earlier runs found; run libFuzzer for SECONDS; print executions, exec/s,
# coverage and crashes. Exits non-zero if the fuzzer found a crash (the input is in
# fuzz/artifacts/handle_event/) or could not run.
#
# Environment:
#   FUZZ_BUILD      release (default) or dev.
#                   release: `cargo fuzz` (pinned, installed into .tools/cargo), optimised,
#                   one codegen unit, every crate instrumented, in fuzz/target: what finds
#                   the most per second.
#                   dev: what `make test`'s 30 s smoke runs. Plain cargo builds the target
#                   unoptimised (debug assertions and overflow checks on) into the main
#                   crate's target/, instrumenting only this project's crate and the target
#                   (scripts/fuzz-rustc.sh): every dependency is the one `cargo test` built
#                   there, so after the test build it costs about half a minute of CPU,
#                   not six (docs/performance.md, "The test loop and the build"). Then the binary
#                   is run as libFuzzer's own command line.
#   FUZZ_SANITIZER  address or none, for release (default address; ASan needs no extra
#                   package: the stable toolchain ships its runtime); dev has none (the
#                   crate has no `unsafe`, Cargo.toml's lints).
#   FUZZ_PREBUILT=1 dev only: the build is made (`scripts/fuzz.sh build` earlier in the same
#                   run, as `make test` does): run it without calling cargo, which would
#                   wait for the lock on target/ while clippy (started after that build)
#                   holds it.
#   FUZZ_ARGS       extra libFuzzer flags, e.g. "-seed=1 -max_len=65536".
#   FUZZ_TARGET_DIR Cargo target directory for the release build (default fuzz/target). A
#                   cold build takes about 20 minutes on 2 cores; pointing this outside
#                   the work tree lets fresh clones on the same machine (CI) reuse it.
#   TOOLS_DIR       where cargo-fuzz is installed (default .tools, as scripts/tools.sh).
# cargo fuzz runs on the stable toolchain with RUSTC_BOOTSTRAP=1 (it passes -Z flags); on
# a nightly toolchain that variable is harmless. The dev build does not set it: a
# dependency's build script that sees it (proc-macro2's) would make that dependency, and
# all above it, another build than the test build's.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CARGO_FUZZ_VERSION=0.13.2
TOOLS_DIR=${TOOLS_DIR:-$ROOT/.tools}
CARGO_FUZZ=$TOOLS_DIR/cargo/bin/cargo-fuzz
TARGET=handle_event
FUZZ_DIR=$ROOT/fuzz
CORPUS=$FUZZ_DIR/corpus/$TARGET
DICT=$FUZZ_DIR/corpus/$TARGET.dict
ARTIFACTS=$FUZZ_DIR/artifacts/$TARGET

log() { printf 'fuzz.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

BUILD=${FUZZ_BUILD:-release}
case $BUILD in
release) SANITIZER=${FUZZ_SANITIZER:-address} ;;
dev) SANITIZER=${FUZZ_SANITIZER:-none} ;;
*) die "FUZZ_BUILD must be release or dev" ;;
esac
TARGET_DIR_ARGS=()
[[ -n ${FUZZ_TARGET_DIR:-} ]] && TARGET_DIR_ARGS=(--target-dir "$FUZZ_TARGET_DIR")

DURATION=${1:-600}
BUILD_ONLY=
if [[ $DURATION == build ]]; then BUILD_ONLY=1 DURATION=1; fi
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "usage: scripts/fuzz.sh [SECONDS | build] (SECONDS a positive whole number; got '$DURATION')"
case $BUILD/$SANITIZER in
release/address | release/none | dev/none) ;;
dev/*) die "FUZZ_BUILD=dev is built without a sanitizer (FUZZ_SANITIZER=none)" ;;
*) die "FUZZ_SANITIZER must be address or none" ;;
esac
[[ $BUILD == dev || ${FUZZ_PREBUILT:-} != 1 ]] || die "FUZZ_PREBUILT=1 is for FUZZ_BUILD=dev only"
command -v cargo >/dev/null || die "cargo not found"
command -v python3 >/dev/null || die "python3 not found (fuzz/seeds.py builds the seed corpus)"

# ---- cargo-fuzz, pinned, into .tools/cargo ----------------------------------------------
install_cargo_fuzz() {
    local want="cargo-fuzz $CARGO_FUZZ_VERSION"
    [[ -x $CARGO_FUZZ && "$("$CARGO_FUZZ" --version 2>/dev/null)" == "$want" ]] && return 0
    mkdir -p "$TOOLS_DIR"
    exec 9>"$TOOLS_DIR/.cargo-fuzz.lock"
    flock 9
    if ! [[ -x $CARGO_FUZZ && "$("$CARGO_FUZZ" --version 2>/dev/null)" == "$want" ]]; then
        log "cargo install cargo-fuzz@$CARGO_FUZZ_VERSION -> $TOOLS_DIR/cargo (about a minute)"
        # --debug: a third less CPU to build; cargo-fuzz only starts cargo and libFuzzer.
        cargo install --quiet --locked --force --debug --root "$TOOLS_DIR/cargo" --version "=$CARGO_FUZZ_VERSION" cargo-fuzz
    fi
    exec 9>&-
}

# ---- build ------------------------------------------------------------------------------
log "building $TARGET (sanitizer: $SANITIZER, build: $BUILD)"
build_start=$SECONDS
if [[ $BUILD == dev && ${FUZZ_PREBUILT:-} == 1 ]]; then
    BIN=$ROOT/target/debug/$TARGET
    [[ -x $BIN ]] || die "FUZZ_PREBUILT=1 but $BIN is not built"
elif [[ $BUILD == dev ]]; then
    BIN=$ROOT/target/debug/$TARGET
    build_log=$(mktemp)
    trap 'rm -f "$build_log"' EXIT
    RUSTC_WRAPPER=$ROOT/scripts/fuzz-rustc.sh cargo build --manifest-path "$FUZZ_DIR/Cargo.toml" \
        --target-dir "$ROOT/target" --bin "$TARGET" 2>&1 | tee "$build_log" >&2
    # What it compiled: the two instrumented crates and libFuzzer's, after a test build.
    # Any other crate has features (fuzz/Cargo.toml) or versions (fuzz/Cargo.lock) that
    # differ from the main crate's, and costs its CPU again.
    compiled=$(sed -n 's/^ *Compiling \([^ ]*\) v\([^ ]*\).*/\1@\2/p' "$build_log" | sort -u)
    count=$(grep -c . <<<"$compiled" || true)
    if ((count > 3)); then
        log "compiled $count crates: is there no test build in target/ yet, or do fuzz/Cargo.toml's features or fuzz/Cargo.lock's versions differ from the main crate's? (fuzz/README.md)"
    else
        log "compiled: $(tr '\n' ' ' <<<"${compiled:-nothing}")"
    fi
else
    install_cargo_fuzz
    export RUSTC_BOOTSTRAP=1
    (cd "$FUZZ_DIR" && "$CARGO_FUZZ" build --sanitizer "$SANITIZER" "${TARGET_DIR_ARGS[@]}" "$TARGET")
fi
log "build took $((SECONDS - build_start)) s"
[[ -z $BUILD_ONLY ]] || exit 0

# ---- seeds ------------------------------------------------------------------------------
mkdir -p "$CORPUS" "$ARTIFACTS"
python3 "$FUZZ_DIR/seeds.py" "$CORPUS" "$DICT" >&2
shopt -s nullglob
regressions=("$FUZZ_DIR"/regressions/*)
for f in "${regressions[@]}"; do
    cp "$f" "$CORPUS/regression-$(basename "$f")"
done
((${#regressions[@]})) && log "${#regressions[@]} regression input(s) added to the corpus"

# ---- run --------------------------------------------------------------------------------
LOG=$FUZZ_DIR/artifacts/$TARGET.log
before=$(find "$ARTIFACTS" -maxdepth 1 -type f | wc -l)
log "fuzzing for $DURATION s; corpus $(find "$CORPUS" -maxdepth 1 -type f | wc -l) inputs; log $LOG"
# libFuzzer's flags; `cargo fuzz run` adds the artifact prefix itself.
FLAGS=(-max_total_time="$DURATION" -timeout=10 -rss_limit_mb=2048 -max_len=16384
    -dict="$DICT" -print_final_stats=1 -print_pcs=0)
# shellcheck disable=SC2206 # FUZZ_ARGS is a list of flags
FLAGS+=(${FUZZ_ARGS:-})
if [[ $BUILD == dev ]]; then
    RUN=("$BIN" -artifact_prefix="$ARTIFACTS/" "${FLAGS[@]}" "$CORPUS")
    REPRODUCE=("$BIN")
    MINIMIZE=("$BIN" -minimize_crash=1 -runs=10000)
else
    RUN=("$CARGO_FUZZ" run --sanitizer "$SANITIZER" "${TARGET_DIR_ARGS[@]}" "$TARGET" "$CORPUS" -- "${FLAGS[@]}")
    REPRODUCE=(RUSTC_BOOTSTRAP=1 "$CARGO_FUZZ" run --sanitizer "$SANITIZER" "${TARGET_DIR_ARGS[@]}" "$TARGET")
    MINIMIZE=(RUSTC_BOOTSTRAP=1 "$CARGO_FUZZ" tmin --sanitizer "$SANITIZER" "${TARGET_DIR_ARGS[@]}" "$TARGET")
fi
set +e
(cd "$FUZZ_DIR" && "${RUN[@]}") 2>&1 | tee "$LOG" |
    grep --line-buffered -E '^(#[0-9]+[[:space:]]+(INITED|DONE|pulse)|==[0-9]+==|thread .* panicked|SUMMARY|Done )' >&2
rc=${PIPESTATUS[0]}
set -e

# ---- figures ----------------------------------------------------------------------------
stat() { sed -n "s/^stat::$1: *//p" "$LOG" | tail -n1; }
execs=$(stat number_of_executed_units)
per_sec=$(stat average_exec_per_sec)
new_units=$(stat new_units_added)
peak_rss=$(stat peak_rss_mb)
last=$(grep -E '^#[0-9]+[[:space:]]' "$LOG" | tail -n1 || true)
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
corp=$(sed -n 's/.* corp: \([0-9]*\/[^ ]*\).*/\1/p' <<<"$last")
new_artifacts=$(($(find "$ARTIFACTS" -maxdepth 1 -type f | wc -l) - before))

echo "fuzz: target=$TARGET sanitizer=$SANITIZER build=$BUILD duration=${DURATION}s"
echo "fuzz: executions=${execs:-?} exec/s=${per_sec:-?} new_units=${new_units:-?} peak_rss_mb=${peak_rss:-?}"
echo "fuzz: coverage: cov=${cov:-?} (edges) ft=${ft:-?} (features) corpus=${corp:-?}"
echo "fuzz: crashes=$new_artifacts (artifacts in fuzz/artifacts/$TARGET/)"
if ((rc != 0 || new_artifacts > 0)); then
    grep -E -A12 'panicked at|ERROR: (libFuzzer|AddressSanitizer)' "$LOG" | head -n 40 >&2 || true
    for f in $(find "$ARTIFACTS" -maxdepth 1 -type f -newer "$DICT"); do
        echo "fuzz: crash input: $f"
        echo "fuzz: reproduce:   ${REPRODUCE[*]} $f   (in fuzz/)"
        echo "fuzz: minimize:    ${MINIMIZE[*]} $f   (in fuzz/)"
    done
    echo "fuzz: FAILED (libFuzzer exit code $rc)"
    exit 1
fi
echo "fuzz: ok, no crash"
