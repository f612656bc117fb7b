#!/usr/bin/env bash
# Starts and stops a local AWS service in the background, for tests, benches and `make run`:
#
#   ddb   the local DynamoDB: moto, in memory, through the project's launcher
#         scripts/moto_server.py (waitress, a lock around DynamoDB requests, a small rollback
#         for transactions; scripts/tools.sh moto installs it into .tools/venv)
#   sqs   the local SQS (and Secrets Manager): moto through the same launcher, a process of
#         its own
#
#   scripts/local-service.sh SERVICE start [PORT]  start it; without PORT a free port is
#                                       picked. Waits until it answers, then prints its
#                                       endpoint URL (only that) on stdout.
#   scripts/local-service.sh SERVICE stop    stop the instance this state dir started
#                                       (no-op if none): SIGTERM, then SIGKILL after 10 s
#   scripts/local-service.sh SERVICE status  print the endpoint and exit 0 if running, else 1
#   scripts/local-service.sh SERVICE logs    print its log
#   scripts/local-service.sh SERVICE stats   print the launcher's counters (JSON: requests,
#                                       transactions, items saved for rollbacks, peak memory)
#   scripts/local-service.sh sqs queue NAME  create queue NAME on the running instance
#                                       (idempotent) and print its URL
#
# Environment:
#   DDB_STATE_DIR / SQS_STATE_DIR  where pid, port and log files live (default .run/ddb,
#                        .run/sqs); give every concurrent user its own (make test and make
#                        run do). Both services may share one dir: the files are named apart.
#   DDB_START_TIMEOUT / SQS_START_TIMEOUT  seconds to wait for it to answer (default 30)
#
# Two processes, not one: moto's DynamoDB is pure Python under one lock, so it gets a core's
# worth of interpreter of its own, and nothing on the SQS side (long polls of up to 20 s, the
# hand-off tests run several) ever waits behind it. Both listen on 127.0.0.1 only.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${TOOLS_DIR:-$ROOT/.tools}
SERVICE=${1:-}
shift || true

usage() {
    sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

case $SERVICE in
ddb)
    NAME="local DynamoDB (moto)"
    STATE_DIR=${DDB_STATE_DIR:-$ROOT/.run/ddb}
    START_TIMEOUT=${DDB_START_TIMEOUT:-30}
    BIND_HOST=127.0.0.1
    # Requests wait for the DynamoDB lock, not for a thread.
    THREADS=16
    TARGET=DynamoDB_20120810.ListTables
    SIGNING=dynamodb
    ;;
sqs)
    NAME="local SQS (moto)"
    STATE_DIR=${SQS_STATE_DIR:-$ROOT/.run/sqs}
    START_TIMEOUT=${SQS_START_TIMEOUT:-30}
    BIND_HOST=127.0.0.1
    TARGET=AmazonSQS.ListQueues
    SIGNING=sqs
    # Each long poll holds a thread for up to its wait time.
    THREADS=64
    ;;
*) usage ;;
esac
[[ $STATE_DIR == /* ]] || STATE_DIR=$PWD/$STATE_DIR
PID_FILE=$STATE_DIR/$SERVICE.pid
PORT_FILE=$STATE_DIR/$SERVICE.port
LOG_FILE=$STATE_DIR/$SERVICE.log

log() { printf '%s-local: %s\n' "$SERVICE" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---- what differs per service: the command line, and how to recognise it ----------------

# Sets the array `cmd` to the service's command line on PORT.
service_command() { # PORT
    local port=$1 py=$TOOLS_DIR/venv/bin/python
    [[ -x $py ]] && "$py" -c 'import moto, waitress' 2>/dev/null ||
        die "moto is not installed in $TOOLS_DIR/venv; run scripts/tools.sh moto"
    # -u: its start-up line reaches the log at once.
    cmd=("$py" -u "$ROOT/scripts/moto_server.py" --host 127.0.0.1 --port "$port" --threads "$THREADS")
}

# True when PID's command line is the one we started on PORT (guards against a recycled pid).
is_ours() { # PID PORT
    local pattern="scripts/moto_server.py --host 127.0.0.1 --port $2\b"
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$pattern"
}

# ---- the same for both -------------------------------------------------------------------

# A pid that exists and is not a zombie.
alive() {
    local pid=$1 state
    kill -0 "$pid" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo '?')
    [[ $state != Z ]]
}

# The pid in our pid file, if it is alive and really is the service we started.
running_pid() {
    [[ -f $PID_FILE && -f $PORT_FILE ]] || return 1
    local pid port
    pid=$(<"$PID_FILE")
    port=$(<"$PORT_FILE")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    is_ours "$pid" "$port" || return 1
    echo "$pid"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

port_free() { # PORT
    python3 - "$BIND_HOST" "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
EOF
}

# One call in the JSON protocol the SDK speaks; prints the response body.
aws_call() { # PORT TARGET JSON
    curl -s --max-time 5 -X POST "http://127.0.0.1:$1/" \
        -H 'Content-Type: application/x-amz-json-1.0' \
        -H "X-Amz-Target: $2" \
        -H "Authorization: AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/$SIGNING/aws4_request, SignedHeaders=host, Signature=x" \
        -d "$3"
}

# HTTP status of a listing call (200 once the service serves requests).
probe() { # PORT
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST "http://127.0.0.1:$1/" \
        -H 'Content-Type: application/x-amz-json-1.0' \
        -H "X-Amz-Target: $TARGET" \
        -H "Authorization: AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/$SIGNING/aws4_request, SignedHeaders=host, Signature=x" \
        -d '{}' 2>/dev/null || true
}

log_tail() {
    log "last lines of $LOG_FILE:"
    tail -n 30 "$LOG_FILE" >&2 2>/dev/null || true
}

# SIGTERM, up to 10 s; then SIGKILL and up to 5 s more: returns only once the process is
# gone (its port free again), else fails.
kill_pid() { # PID
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    log "pid $pid ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    die "could not stop pid $pid"
}

# Launch once on PORT; returns 0 when up, 2 when the port was taken, 1 on other failures.
launch() { # PORT
    local port=$1 pid i code t0 cmd
    service_command "$port"
    t0=$(date +%s%N)
    # Run from the state dir so nothing the service writes lands in the work tree.
    (cd "$STATE_DIR" && exec "${cmd[@]}" </dev/null >"$LOG_FILE" 2>&1) &
    pid=$!
    echo "$pid" >"$PID_FILE"
    echo "$port" >"$PORT_FILE"
    for ((i = 0; i < START_TIMEOUT * 5; i++)); do
        if ! alive "$pid"; then
            rm -f "$PID_FILE" "$PORT_FILE"
            if grep -q -E 'Address already in use' "$LOG_FILE" 2>/dev/null; then
                log "port $port is already in use"
                return 2
            fi
            log "$NAME exited during start-up"
            log_tail
            return 1
        fi
        code=$(probe "$port")
        if [[ $code == 200 ]]; then
            log "$NAME up on port $port (pid $pid, $((($(date +%s%N) - t0) / 1000000)) ms, state $STATE_DIR)"
            return 0
        fi
        sleep 0.2
    done
    log "$NAME did not answer on port $port within ${START_TIMEOUT}s (last HTTP status: ${code:-none})"
    log_tail
    kill_pid "$pid" || true
    rm -f "$PID_FILE" "$PORT_FILE"
    return 1
}

cmd_start() { # [PORT]
    local want_port=${1:-} pid port rc tries
    mkdir -p "$STATE_DIR"
    if pid=$(running_pid); then
        port=$(<"$PORT_FILE")
        if [[ -z $want_port || $want_port == "$port" ]]; then
            log "already running on port $port (pid $pid, state $STATE_DIR)"
            echo "http://127.0.0.1:$port"
            return 0
        fi
        die "already running on port $port (pid $pid); stop it first or use another state dir"
    fi
    rm -f "$PID_FILE" "$PORT_FILE"
    if [[ -n $want_port ]]; then
        [[ $want_port =~ ^[0-9]+$ ]] || die "invalid port '$want_port'"
        port_free "$want_port" || die "$NAME: port $want_port is already in use (its log would be $LOG_FILE)"
        launch "$want_port" || die "could not start $NAME on port $want_port; its log: $LOG_FILE"
        port=$want_port
    else
        # A free port can be taken by someone else between picking and binding: retry.
        for ((tries = 1; ; tries++)); do
            port=$(free_port)
            rc=0
            launch "$port" || rc=$?
            ((rc == 0)) && break
            ((rc == 2 && tries < 5)) || die "could not start $NAME; its log: $LOG_FILE"
        done
    fi
    echo "http://127.0.0.1:$port"
}

cmd_stop() {
    local pid
    if pid=$(running_pid); then
        kill_pid "$pid"
    elif [[ -f $PID_FILE ]]; then
        log "stale pid file in $STATE_DIR (process gone); removing it"
    fi
    rm -f "$PID_FILE" "$PORT_FILE"
}

cmd_status() {
    local pid
    if pid=$(running_pid); then
        echo "http://127.0.0.1:$(<"$PORT_FILE")"
        log "running (pid $pid, state $STATE_DIR)"
    else
        log "not running (state $STATE_DIR)"
        return 1
    fi
}

cmd_queue() { # NAME
    local name=${1:-} out url
    [[ $SERVICE == sqs ]] || usage
    [[ $name =~ ^[A-Za-z0-9_-]{1,80}$ ]] || die "invalid queue name '$name'"
    running_pid >/dev/null || die "not running (state $STATE_DIR)"
    out=$(aws_call "$(<"$PORT_FILE")" AmazonSQS.CreateQueue "{\"QueueName\":\"$name\"}")
    url=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["QueueUrl"])') ||
        die "CreateQueue $name failed: $out"
    echo "$url"
}

case ${1:-} in
start) shift; cmd_start "$@" ;;
stop) cmd_stop ;;
status) cmd_status ;;
logs) cat "$LOG_FILE" ;;
stats)
    running_pid >/dev/null || die "not running (state $STATE_DIR)"
    curl -sf --max-time 5 "http://127.0.0.1:$(<"$PORT_FILE")/_oa_moto/stats" || die "no stats from $NAME"
    echo
    ;;
queue) shift; cmd_queue "$@" ;;
*) usage ;;
esac
