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
#   FUZZ_SANITIZER  address (default) or none. ASan needs no extra package: the stable
#                   toolchain ships its runtime.
#   FUZZ_BUILD      release (default: optimised, one codegen unit, what finds the most per
#                   second) or dev (unoptimised, debug assertions and overflow checks on,
#                   no debug info: a cold build needs far less CPU, the fuzzer runs
#                   slower; what `make test`'s 30 s smoke uses, figures in
#                   docs/performance.md).
#   FUZZ_ARGS       extra libFuzzer flags, e.g. "-seed=1 -max_len=65536".
#   FUZZ_TARGET_DIR Cargo target directory for the fuzz build (default fuzz/target). A
#                   cold build takes about 20 minutes on 2 cores; pointing this outside
#                   the work tree lets fresh clones on the same machine (CI) reuse it.
#   TOOLS_DIR       where cargo-fuzz is installed (default .tools, as scripts/tools.sh).
# The fuzzer runs on the stable toolchain with RUSTC_BOOTSTRAP=1 (cargo fuzz passes -Z
# flags); on a nightly toolchain that variable is harmless.
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
SANITIZER=${FUZZ_SANITIZER:-address}
BUILD=${FUZZ_BUILD:-release}
TARGET_DIR_ARGS=()
[[ -n ${FUZZ_TARGET_DIR:-} ]] && TARGET_DIR_ARGS=(--target-dir "$FUZZ_TARGET_DIR")

log() { printf 'fuzz.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

DURATION=${1:-600}
BUILD_ONLY=
if [[ $DURATION == build ]]; then BUILD_ONLY=1 DURATION=1; fi
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "usage: scripts/fuzz.sh [SECONDS | build] (SECONDS a positive whole number; got '$DURATION')"
case $SANITIZER in address | none) ;; *) die "FUZZ_SANITIZER must be address or none" ;; esac
BUILD_ARGS=()
case $BUILD in
release) ;;
dev)
    BUILD_ARGS=(--dev)
    # No debug info (fuzz/Cargo.toml's dev profile would carry it in full for every
    # crate): a fifth of the smoke's build. A crash's panic message still names its file
    # and line; `make fuzz` (release, `debug = 1`) gives the full backtrace.
    export CARGO_PROFILE_DEV_DEBUG=false
    ;;
*) die "FUZZ_BUILD must be release or dev" ;;
esac
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
install_cargo_fuzz

export RUSTC_BOOTSTRAP=1
cd "$FUZZ_DIR"

# ---- build ------------------------------------------------------------------------------
log "building $TARGET (sanitizer: $SANITIZER, build: $BUILD)"
build_start=$SECONDS
"$CARGO_FUZZ" build "${BUILD_ARGS[@]}" --sanitizer "$SANITIZER" "${TARGET_DIR_ARGS[@]}" "$TARGET"
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
set +e
# shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
"$CARGO_FUZZ" run "${BUILD_ARGS[@]}" --sanitizer "$SANITIZER" "${TARGET_DIR_ARGS[@]}" "$TARGET" "$CORPUS" -- \
    -max_total_time="$DURATION" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -dict="$DICT" -print_final_stats=1 -print_pcs=0 ${FUZZ_ARGS:-} 2>&1 | tee "$LOG" |
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
        echo "fuzz: reproduce:   RUSTC_BOOTSTRAP=1 $CARGO_FUZZ run ${BUILD_ARGS[*]} --sanitizer $SANITIZER $TARGET $f   (in fuzz/)"
        echo "fuzz: minimize:    RUSTC_BOOTSTRAP=1 $CARGO_FUZZ tmin ${BUILD_ARGS[*]} --sanitizer $SANITIZER $TARGET $f"
    done
    echo "fuzz: FAILED (libFuzzer exit code $rc)"
    exit 1
fi
echo "fuzz: ok, no crash"
