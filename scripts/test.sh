#!/usr/bin/env bash
# The project's whole check, as CI runs it (`make test`, `.ci/run`):
# lint the SAM template, rustfmt, clippy, then every Rust test against a local DynamoDB and
# a local SQS of its own (two moto processes, scripts/moto_server.py) on free ports, which are
# stopped on every exit path; then a 30 s fuzz smoke (FUZZ_SMOKE_SECONDS=).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

step() { printf '\n==> %s\n' "$*" >&2; "$@"; }

# Room to build in: a clean run needs about 3 GB (target/ 1.4 GB, fuzz/target 1.2 GB,
# .tools/ 0.3 GB, Cargo registry 0.5 GB).
# Said up front, so that a full disk is not first seen as a linker's Bus error.
free_kb=$(df -Pk "$ROOT" | awk 'NR == 2 { print $4 }')
printf 'test.sh: %s MB free on the disk of %s\n' "$((free_kb / 1024))" "$ROOT" >&2
if ((free_kb < 3 * 1024 * 1024)); then
    echo "test.sh: warning: less than 3 GB free; the build may fail for want of disk" >&2
fi
# A one-off build (CI) gains nothing from incremental state; it only takes disk.
if [[ -n ${CI:-} ]]; then export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}; fi

scripts/tools.sh python moto

[[ -f template.yaml ]] || { echo "test.sh: error: template.yaml is missing" >&2; exit 1; }

# A state dir of our own, so `make test` never touches the instance of `make run`
# (or of a second `make test`).
mkdir -p .run
export DDB_STATE_DIR
DDB_STATE_DIR=$(mktemp -d "$ROOT/.run/test.XXXXXX")
# Started here, stopped (and its state dir removed) on every exit path; the AWS SDK points
# at it with dummy credentials, and any real ones are kept out.
source scripts/ddb-env.sh
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
step cargo clippy --workspace --all-targets -- -D warnings
step cargo test --all-targets
# A short run of the coverage-guided fuzzer over the request-to-reply path (fuzz/README.md):
# the seeds and 30 s of new inputs through the same invariants. The cold build is the cost
# here, so the smoke builds unoptimised (FUZZ_BUILD=dev: debug assertions on, no
# one-codegen-unit release build of the AWS SDK) and without AddressSanitizer (the code has
# no `unsafe`); `make fuzz` keeps both. Figures: docs/performance.md, "The test loop".
FUZZ_SANITIZER=${FUZZ_SANITIZER:-none} FUZZ_BUILD=${FUZZ_BUILD:-dev} \
    step scripts/fuzz.sh "${FUZZ_SMOKE_SECONDS:-30}"
