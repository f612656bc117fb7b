#!/usr/bin/env bash
# The project's whole check, as CI runs it (`make test`, `.ci/run`):
# lint the SAM template, rustfmt, clippy, every Rust test against a local DynamoDB and a
# local SQS of its own (two moto processes, scripts/moto_server.py) on free ports, which are
# stopped on every exit path, then a 30 s fuzz smoke (FUZZ_SMOKE_SECONDS=).
#
# The order, for a 2-core machine (docs/performance.md, "The test loop and the build"):
# the test build starts at once, beside the tools' install, the services and the template
# lint; the fuzz build (on the test build's dependencies) and clippy run beside the tests
# under SCHED_IDLE (`chrt --idle`: only the CPU the tests leave; they wait on the local
# DynamoDB, a single Python process, and leave a core mostly idle); the fuzz smoke runs
# last, clippy finishing beside it.
# Each background step's output is printed when it is joined; any failure fails the run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Each step says what it cost when it ends (bash's `time`: wall, and the CPU of the step
# and its children), the figures docs/performance.md ("The test loop") reads.
export TIMEFORMAT='    (%R s wall, %U s user + %S s sys)'
step() { current=$*; printf '\n==> %s\n' "$*" >&2; time "$@"; }

# Room to build in: a clean run needs about 2.5 GB (target/ 1.5 GB, .tools/ 0.35 GB, Cargo
# registry 0.5 GB), and the linker some room beside it.
# Said up front, so that a full disk is not first seen as a linker's Bus error.
free_kb=$(df -Pk "$ROOT" | awk 'NR == 2 { print $4 }')
printf 'test.sh: %s MB free on the disk of %s\n' "$((free_kb / 1024))" "$ROOT" >&2
if ((free_kb < 3 * 1024 * 1024)); then
    echo "test.sh: warning: less than 3 GB free; the build may fail for want of disk" >&2
fi
# A one-off build (CI) gains nothing from incremental state; it only takes disk.
if [[ -n ${CI:-} ]]; then export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}; fi

# ---- background steps: a log each, killed (with their children) on any exit ---------------
mkdir -p .run
BG_DIR=$(mktemp -d "$ROOT/.run/steps.XXXXXX")
declare -A bg_pid=()
# The step under way, named in the last line when the run fails or is interrupted.
current="the set-up"
bg() { # NAME LABEL CMD...: start CMD in a process group of its own, output to its log
    local name=$1 label=$2
    shift 2
    printf '\n==> %s (in the background: %s)\n' "$label" "$name" >&2
    setsid bash -c 'time "$@"' "$name" "$@" >"$BG_DIR/$name.log" 2>&1 &
    bg_pid[$name]=$!
}
# A background step's log as printed: without cargo's progress lines.
quiet_log() { grep -vE '^ +(Compiling|Checking|Downloaded|Downloading|Updating|Installing|Blocking waiting) ' "$1" || true; }
join() { # NAME: wait for it, print its output, fail as it failed
    local name=$1 rc=0
    current="$name (background)"
    wait "${bg_pid[$name]}" || rc=$?
    unset "bg_pid[$name]"
    printf '\n==> %s: joined (exit %d)\n' "$name" "$rc" >&2
    quiet_log "$BG_DIR/$name.log" >&2
    return "$rc"
}
_bg_down() {
    local name
    for name in "${!bg_pid[@]}"; do
        kill -TERM -- "-${bg_pid[$name]}" 2>/dev/null || true
        printf 'test.sh: %s stopped unfinished; its last lines:\n' "$name" >&2
        quiet_log "$BG_DIR/$name.log" | tail -n 15 >&2
    done
    rm -rf "$BG_DIR"
}
_report() {
    local rc=${_exit_rc:-0}
    if ((rc == 130 || rc == 143)); then
        echo "test.sh: interrupted during: $current" >&2
    elif ((rc != 0)); then
        echo "test.sh: FAILED (exit $rc) in: $current" >&2
    fi
}

# The ddb-env.sh exit trap (below) runs this too; it must be registered through it.
source scripts/ddb-env.sh
# Clean-ups run last registered first: the services', then these two, the report last.
on_exit _report
on_exit _bg_down

bg build "cargo test --all-targets --no-run" cargo test --all-targets --no-run
# A short run of the coverage-guided fuzzer over the request-to-reply path (fuzz/README.md)
# ends the run: the seeds and 30 s of new inputs through the same invariants. Its build
# (FUZZ_BUILD=dev: unoptimised, debug assertions on, no sanitizer; the code has no
# `unsafe`) instruments only this crate and the target and takes every dependency from
# the test build in target/, so it starts once that build is done; `make fuzz` keeps the
# release build with AddressSanitizer. Figures: docs/performance.md, "The test loop and
# the build".
export FUZZ_BUILD=dev
scripts/tools.sh python moto

[[ -f template.yaml ]] || { echo "test.sh: error: template.yaml is missing" >&2; exit 1; }

# A state dir of our own, so `make test` never touches the instance of `make run`
# (or of a second `make test`).
export DDB_STATE_DIR
DDB_STATE_DIR=$(mktemp -d "$ROOT/.run/test.XXXXXX")
# Started here, stopped (and its state dir removed) on every exit path; the AWS SDK points
# at it with dummy credentials, and any real ones are kept out.
DDB_REMOVE_STATE=1
# At the end, one line on the local DynamoDB's work and peak memory.
DDB_REPORT_STATS=1
ddb_local_up
# The local SQS for the hand-off tests (AWS_ENDPOINT_URL_SQS), in the same state dir.
sqs_local_up
# cargo-lambda (and cfn-lint) for the tests that need them.
export PATH="$ROOT/.tools/venv/bin:$PATH"

step cfn-lint template.yaml -a cfn_lint_serverless.rules
# The other front door (the default above is the HTTP API).
step cfn-lint template.yaml -a cfn_lint_serverless.rules \
    --parameters SdkAppIds=1400000001 FrontDoor=FunctionUrl ReservedConcurrency=20
# Lambda Managed Instances (a capacity provider) with the token in a given secret.
step cfn-lint template.yaml -a cfn_lint_serverless.rules \
    --parameters SdkAppIds=1400000001 ManagedInstancesSubnetIds=subnet-0a1b2c3d,subnet-4e5f6a7b \
    ManagedInstancesSecurityGroupIds=sg-0a1b2c3d \
    CallbackTokenSecretArn=arn:aws:secretsmanager:us-east-1:123456789012:secret:oa-token-AbCdEf
# The token given as a parameter: the template creates its secret.
step cfn-lint template.yaml -a cfn_lint_serverless.rules \
    --parameters SdkAppIds=1400000001 CallbackToken=xxxxyyyy
step cargo fmt --all -- --check
join build
# The fuzz build and clippy share the target directory, whose lock cargo holds while it
# builds (not while tests run): the fuzz build starts once the tests are running, and
# clippy (check units of its own) once the fuzz build is done, which the smoke waits for.
bg fuzz-build "scripts/fuzz.sh build, under SCHED_IDLE once the tests run" \
    bash -c 'until grep -qs "^     Running" "$0"; do sleep 1; done
    rc=0; chrt --idle 0 scripts/fuzz.sh build || rc=$?; touch "$1"; exit "$rc"' \
    "$BG_DIR/tests.out" "$BG_DIR/fuzz-build.done"
bg clippy "cargo clippy --workspace --all-targets -- -D warnings, under SCHED_IDLE after the fuzz build" \
    bash -c 'until [[ -e $0 ]]; do sleep 1; done
    exec chrt --idle 0 cargo clippy --workspace --all-targets -- -D warnings' "$BG_DIR/fuzz-build.done"
step cargo test --all-targets 2>&1 | tee "$BG_DIR/tests.out"
# A clippy that has finished is reported now, before the fuzz smoke; one still running
# takes the core the fuzzer leaves.
if ! kill -0 "${bg_pid[clippy]}" 2>/dev/null; then join clippy; fi
join fuzz-build
FUZZ_PREBUILT=1 step scripts/fuzz.sh "${FUZZ_SMOKE_SECONDS:-30}"
if [[ -n ${bg_pid[clippy]:-} ]]; then join clippy; fi
