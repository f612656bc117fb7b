#!/usr/bin/env bash
# Runs the function locally (`make run`): a local DynamoDB (moto, scripts/moto_server.py) on
# DDB_PORT (default 8000) with the table created, a local SQS (moto) on SQS_PORT (default: a
# free port) with the hand-off and dead-letter queues, the queue consumer fed by
# `examples/poll_queue.rs` (as Lambda's event source mapping would), then `cargo lambda
# watch` on 127.0.0.1:WATCH_PORT (default 9000) in the foreground. Ctrl-C stops them all.
#
# Environment (all optional): DDB_PORT, WATCH_PORT, SQS_PORT (a free port), STANDIN_PORT
# (9100), TABLE_NAME (oa-webhook-local), SDKAPPID (1400000001), CALLBACK_TOKEN,
# CALLBACK_MAX_SKEW_SECS, RUST_LOG (info).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DDB_PORT=${DDB_PORT:-8000}
WATCH_PORT=${WATCH_PORT:-9000}
STANDIN_PORT=${STANDIN_PORT:-9100}
# The ports this script binds itself (cargo lambda watch, the REST stand-in) are checked
# before anything starts: taken, watch would exit 0 and the stand-in die unseen. The
# local services check their own (scripts/local-service.sh).
for named in "WATCH_PORT $WATCH_PORT cargo-lambda watch" "STANDIN_PORT $STANDIN_PORT the REST stand-in"; do
    read -r var port what <<<"$named"
    python3 - "$port" <<'PY' || { echo "run.sh: error: $var $port (for $what) is already in use; choose another ($var=...)" >&2; exit 2; }
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except (OSError, ValueError):
    sys.exit(1)
PY
done
export TABLE_NAME=${TABLE_NAME:-oa-webhook-local}
export SDKAPPID=${SDKAPPID:-1400000001}
export RUST_LOG=${RUST_LOG:-info}
# An empty CALLBACK_TOKEN would mean "signature required with an empty token": drop it.
[[ -n ${CALLBACK_TOKEN:-} ]] || unset CALLBACK_TOKEN

scripts/tools.sh python moto

# Own state dir, apart from `make test` and from `make ddb-start`.
export DDB_STATE_DIR=${DDB_STATE_DIR:-$ROOT/.run/run}
# Stopped on every exit path; the AWS SDK points at it with dummy credentials.
source scripts/ddb-env.sh
ddb_local_up "$DDB_PORT"
sqs_local_up ${SQS_PORT:+"$SQS_PORT"}
HANDOFF_QUEUE_URL=$(scripts/local-service.sh sqs queue oa-webhook-handoff)
DEAD_LETTER_QUEUE_URL=$(scripts/local-service.sh sqs queue oa-webhook-dead-letters)
export HANDOFF_QUEUE_URL DEAD_LETTER_QUEUE_URL

cargo build
cargo run --quiet --example create_table
# The queue consumer, as Lambda's event source mapping would run it; stopped on exit.
cargo build --quiet --example poll_queue
target/debug/examples/poll_queue &
poller=$!
on_exit 'kill "$poller" 2>/dev/null'

# The REST stand-in (tests/standin) for `oa-webhook sync` (docs/sync.md), stopped on exit.
cargo build --quiet --example tencent_standin
STANDIN_ADDR=127.0.0.1:$STANDIN_PORT TENCENT_ADMIN_IDENTIFIER=administrator \
    TENCENT_SECRET_KEY=standin-secret-key target/debug/examples/tencent_standin \
    examples/standin/accounts.json &
standin_pid=$!
on_exit 'kill "$standin_pid" 2>/dev/null'

# One app id for the sample request: the first configured one.
app=${SDKAPPID%%,*}
token_state="unset"
[[ -z ${CALLBACK_TOKEN:-} ]] || token_state="set"
cat >&2 <<MSG

Local DynamoDB (moto): $endpoint  table: $TABLE_NAME  SDKAPPID: $SDKAPPID  CALLBACK_TOKEN: $token_state
Local SQS: $sqs_endpoint  hand-off queue: $HANDOFF_QUEUE_URL (consumed by examples/poll_queue, pid $poller)
Dead letters: $DEAD_LETTER_QUEUE_URL
  replay them, in another shell: AWS_ENDPOINT_URL_SQS=$sqs_endpoint AWS_ENDPOINT_URL_DYNAMODB=$endpoint AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 TABLE_NAME=$TABLE_NAME SDKAPPID=$SDKAPPID DEAD_LETTER_QUEUE_URL=$DEAD_LETTER_QUEUE_URL target/debug/oa-webhook replay --dry-run
The function answers on any path of http://127.0.0.1:$WATCH_PORT/ (also /lambda-url/oa-webhook/...). Try:

curl -sS -X POST 'http://127.0.0.1:$WATCH_PORT/?SdkAppid=$app&CallbackCommand=OfficialAccount.CallbackAfterCreateOfficialAccount&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI' -H 'Content-Type: application/json' -d '{"CallbackCommand":"OfficialAccount.CallbackAfterCreateOfficialAccount","Official_Account":"@TOA#_test_OA_for_penn","Operator_Account":"107867","Owner_Account":"107867","Name":"TestOfficialAccount","EventTime":1670574414123}'

To backfill from the REST stand-in on 127.0.0.1:$STANDIN_PORT (docs/sync.md), in another shell:

AWS_ENDPOINT_URL_DYNAMODB=$endpoint AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 TABLE_NAME=$TABLE_NAME SDKAPPID=$app TENCENT_API_BASE_URL=http://127.0.0.1:$STANDIN_PORT TENCENT_ADMIN_IDENTIFIER=administrator TENCENT_SECRET_KEY=standin-secret-key target/debug/oa-webhook sync --account '@TOA#_test_OA_for_penn'

MSG
[[ -z ${CALLBACK_TOKEN:-} ]] ||
    echo "(CALLBACK_TOKEN is set: add &Sign=...&RequestTime=... to the query, or unset it to try.)" >&2

# RUST_LOG goes to the function only (through an env file, which keeps commas intact):
# cargo-lambda reads it too and would flood the terminal with its own internals.
printf "RUST_LOG='%s'\n" "$RUST_LOG" >"$DDB_STATE_DIR/function.env"
export PATH="$ROOT/.tools/venv/bin:$PATH"
# Not exec: the EXIT trap must stop the local services when watch ends.
env -u RUST_LOG cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$WATCH_PORT" \
    --env-file "$DDB_STATE_DIR/function.env"
