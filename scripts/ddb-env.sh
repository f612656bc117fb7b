# Sourced by the scripts that talk to the local services (test.sh, run.sh, table.sh,
# benches/*.sh): points the AWS SDK at them, starts them (scripts/local-service.sh) and stops
# them on every exit path.

# ---- one EXIT trap for the sourcing script ----------------------------------------------
# `trap CMD EXIT` replaces whatever was there, so nothing here sets it twice: clean-ups are
# registered with `on_exit` and run last registered first, after any EXIT trap the caller
# had set before its first `on_exit`. Callers add theirs with `on_exit` too, not `trap`.
_on_exit_cmds=()
_on_exit_installed=
on_exit() { # CMD
    if [[ -z $_on_exit_installed ]]; then
        local previous
        previous=$(trap -p EXIT)
        if [[ -n $previous ]]; then
            # `trap -p` prints: trap -- 'CMD' EXIT
            eval "_on_exit_cmds+=($(sed -e "s/^trap -- //" -e "s/ EXIT$//" <<<"$previous"))"
        fi
        trap _on_exit_run EXIT
        # A signal still runs the EXIT trap: exit with the shell's code for it.
        trap 'exit 130' INT
        trap 'exit 143' TERM
        _on_exit_installed=1
    fi
    _on_exit_cmds+=("$1")
}

_on_exit_run() {
    local rc=$? i
    # The script's exit status, for the clean-ups that depend on it.
    _exit_rc=$rc
    for ((i = ${#_on_exit_cmds[@]} - 1; i >= 0; i--)); do
        eval "${_on_exit_cmds[i]}" || true
    done
    return "$rc"
}

# ---- the local DynamoDB (moto, scripts/moto_server.py) --------------------------------------

# Points the AWS SDK at the local DynamoDB at ENDPOINT with dummy credentials and region,
# and keeps any real credentials, profiles and instance metadata out of reach.
use_ddb_local() { # ENDPOINT
    unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE
    export AWS_ENDPOINT_URL_DYNAMODB=$1
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
    export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
    export AWS_EC2_METADATA_DISABLED=true
}

# Starts a local DynamoDB in $DDB_STATE_DIR (on PORT, or a free one), stops it on every
# exit path (and, when DDB_REMOVE_STATE=1, removes $DDB_STATE_DIR too if the script
# succeeded: after a failure the logs stay for reading), sets `endpoint`, and points the
# SDK at it with `use_ddb_local`.
ddb_local_up() { # [PORT]
    on_exit _ddb_local_down
    endpoint=$(scripts/local-service.sh ddb start "$@")
    use_ddb_local "$endpoint"
}

_ddb_local_down() {
    local rc=${_exit_rc:-0}
    if [[ -n ${DDB_REPORT_STATS:-} ]]; then ddb_local_stats || true; fi
    scripts/local-service.sh ddb stop || true
    if [[ ${DDB_REMOVE_STATE:-} == 1 ]]; then
        if ((rc == 0)); then
            rm -rf "$DDB_STATE_DIR"
        else
            echo "ddb-env.sh: exit status $rc: the local services' logs are kept in $DDB_STATE_DIR (they matter when a test failed against them)" >&2
        fi
    fi
}

# One line on what the local DynamoDB did: requests, transactions, peak memory.
ddb_local_stats() {
    local stats
    stats=$(scripts/local-service.sh ddb stats 2>/dev/null) || return 0
    python3 -c '
import json, sys
s = json.loads(sys.argv[1])
print("local DynamoDB (moto %s): %d requests, %d transactions (%d rolled back, %d items saved"
      " for rollbacks), peak memory %d MB" % (s["moto_version"], s["dynamodb_requests"],
      s["transactions"], s["rollbacks"], s["items_saved"], s["max_rss_kb"] // 1024),
      file=sys.stderr)' "$stats"
}

# ---- the local SQS (moto) ------------------------------------------------------------------

# The SDK's SQS calls go to ENDPOINT.
use_sqs_local() { # ENDPOINT
    export AWS_ENDPOINT_URL_SQS=$1
}

# Starts a local SQS (and Secrets Manager) in $SQS_STATE_DIR (default: $DDB_STATE_DIR, so
# that one state dir holds both) on PORT or a free one, sets `sqs_endpoint`, points the SDK
# at it, and stops it on every exit path (before the local DynamoDB when started after it,
# which removes the shared state dir).
sqs_local_up() { # [PORT]
    export SQS_STATE_DIR=${SQS_STATE_DIR:-$DDB_STATE_DIR}
    on_exit _sqs_local_down
    sqs_endpoint=$(scripts/local-service.sh sqs start "$@")
    use_sqs_local "$sqs_endpoint"
}

_sqs_local_down() {
    scripts/local-service.sh sqs stop || true
}
