#!/usr/bin/env bash
# Starts and stops a local SQS endpoint (moto's server mode, installed by
# scripts/tools.sh moto into .tools/venv) in the background.
#
#   scripts/sqs-local.sh start [PORT]   start it (in memory) on 127.0.0.1; without PORT a
#                                       free port is picked. Waits until it answers, then
#                                       prints its endpoint URL (only that) on stdout.
#   scripts/sqs-local.sh stop           stop the instance this state dir started (no-op if none)
#   scripts/sqs-local.sh status         print the endpoint and exit 0 if running, else exit 1
#   scripts/sqs-local.sh queue NAME     create queue NAME on the running instance (idempotent)
#                                       and print its URL
#   scripts/sqs-local.sh logs           print its log
#
# Environment:
#   SQS_STATE_DIR        where pid, port and log files live (default .run/sqs); give every
#                        concurrent user its own (make test and make run do)
#   SQS_START_TIMEOUT    seconds to wait for it to answer (default 30)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${TOOLS_DIR:-$ROOT/.tools}
STATE_DIR=${SQS_STATE_DIR:-$ROOT/.run/sqs}
[[ $STATE_DIR == /* ]] || STATE_DIR=$PWD/$STATE_DIR
START_TIMEOUT=${SQS_START_TIMEOUT:-30}
PID_FILE=$STATE_DIR/sqs.pid
PORT_FILE=$STATE_DIR/sqs.port
LOG_FILE=$STATE_DIR/sqs.log
MOTO=$TOOLS_DIR/venv/bin/moto_server

log() { printf 'sqs-local: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

alive() {
    local pid=$1 state
    kill -0 "$pid" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo '?')
    [[ $state != Z ]]
}

# The pid in our pid file, if it is alive and really is the moto server we started.
running_pid() {
    [[ -f $PID_FILE && -f $PORT_FILE ]] || return 1
    local pid port
    pid=$(<"$PID_FILE")
    port=$(<"$PORT_FILE")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "moto_server .*-p $port\b" || return 1
    echo "$pid"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

port_free() {
    python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

# One SQS call in the JSON protocol the SDK speaks; prints the response body.
sqs_call() { # PORT ACTION JSON
    curl -s --max-time 5 -X POST "http://127.0.0.1:$1/" \
        -H 'Content-Type: application/x-amz-json-1.0' \
        -H "X-Amz-Target: AmazonSQS.$2" \
        -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=x' \
        -d "$3"
}

probe() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST "http://127.0.0.1:$1/" \
        -H 'Content-Type: application/x-amz-json-1.0' \
        -H 'X-Amz-Target: AmazonSQS.ListQueues' \
        -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=x' \
        -d '{}' 2>/dev/null || true
}

kill_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    log "pid $pid ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

# Launch once on PORT; returns 0 when up, 2 when the port was taken, 1 on other failures.
launch() {
    local port=$1 pid i code t0
    [[ -x $MOTO ]] || die "moto is not installed; run scripts/tools.sh moto"
    t0=$(date +%s%N)
    (cd "$STATE_DIR" && exec "$MOTO" -H 127.0.0.1 -p "$port" </dev/null >"$LOG_FILE" 2>&1) &
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
            log "moto exited during start-up; last lines of $LOG_FILE:"
            tail -n 30 "$LOG_FILE" >&2 || true
            return 1
        fi
        code=$(probe "$port")
        if [[ $code == 200 ]]; then
            log "local SQS (moto) up on port $port (pid $pid, $((($(date +%s%N) - t0) / 1000000)) ms, state $STATE_DIR)"
            return 0
        fi
        sleep 0.2
    done
    log "moto did not answer on port $port within ${START_TIMEOUT}s (last HTTP status: ${code:-none})"
    tail -n 30 "$LOG_FILE" >&2 || true
    kill_pid "$pid" || true
    rm -f "$PID_FILE" "$PORT_FILE"
    return 1
}

cmd_start() {
    local want_port=${1:-} pid port rc tries
    mkdir -p "$STATE_DIR"
    if pid=$(running_pid); then
        port=$(<"$PORT_FILE")
        if [[ -z $want_port || $want_port == "$port" ]]; then
            log "already running on port $port (pid $pid, state $STATE_DIR)"
            echo "http://127.0.0.1:$port"
            return 0
        fi
        die "already running on port $port (pid $pid); stop it first or use another SQS_STATE_DIR"
    fi
    rm -f "$PID_FILE" "$PORT_FILE"
    if [[ -n $want_port ]]; then
        [[ $want_port =~ ^[0-9]+$ ]] || die "invalid port '$want_port'"
        port_free "$want_port" || die "port $want_port is already in use"
        launch "$want_port" || die "could not start moto on port $want_port"
        port=$want_port
    else
        for ((tries = 1; ; tries++)); do
            port=$(free_port)
            rc=0
            launch "$port" || rc=$?
            ((rc == 0)) && break
            ((rc == 2 && tries < 5)) || die "could not start moto"
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

cmd_queue() {
    local name=${1:-} pid out url
    [[ $name =~ ^[A-Za-z0-9_-]{1,80}$ ]] || die "invalid queue name '$name'"
    pid=$(running_pid) || die "not running (state $STATE_DIR)"
    out=$(sqs_call "$(<"$PORT_FILE")" CreateQueue "{\"QueueName\":\"$name\"}")
    url=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["QueueUrl"])') ||
        die "CreateQueue $name failed: $out"
    echo "$url"
}

case ${1:-} in
start) shift; cmd_start "$@" ;;
stop) cmd_stop ;;
status) cmd_status ;;
queue) shift; cmd_queue "$@" ;;
logs) cat "$LOG_FILE" ;;
*)
    sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
