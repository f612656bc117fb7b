#!/usr/bin/env bash
# Prints the items of the local table (`make table`): the local DynamoDB (moto) that `make run`
# started, on DDB_PORT (8000), table TABLE_NAME (oa-webhook-local), read with the
# function's own SDK settings (examples/table.rs). Arguments go to the example:
# `--json` for one JSON object per item, a pk prefix to keep some partitions only
# (`make table ARGS='OA#1400000001#@TOA#_a'`).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DDB_PORT=${DDB_PORT:-8000}
export TABLE_NAME=${TABLE_NAME:-oa-webhook-local}
source scripts/ddb-env.sh
use_ddb_local "${DDB_ENDPOINT:-http://127.0.0.1:$DDB_PORT}"

if ! (exec 3<>"/dev/tcp/127.0.0.1/$DDB_PORT") 2>/dev/null && [[ -z ${DDB_ENDPOINT:-} ]]; then
    echo "table.sh: nothing listens on 127.0.0.1:$DDB_PORT: start \`make run\` (or give DDB_PORT=)" >&2
    exit 1
fi
exec cargo run --quiet --example table -- "$@"
