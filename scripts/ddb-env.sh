# Sourced by the scripts that talk to a DynamoDB Local (test.sh, run.sh, benches/*.sh).

# Points the AWS SDK at the DynamoDB Local at ENDPOINT with dummy credentials and region,
# and keeps any real credentials, profiles and instance metadata out of reach.
use_ddb_local() { # ENDPOINT
    unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE
    export AWS_ENDPOINT_URL_DYNAMODB=$1
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
    export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
    export AWS_EC2_METADATA_DISABLED=true
}

# Starts a DynamoDB Local in $DDB_STATE_DIR (on PORT, or a free one), stops it on every
# exit path (and removes $DDB_STATE_DIR too when DDB_REMOVE_STATE=1), sets `endpoint`,
# and points the SDK at it with `use_ddb_local`.
ddb_local_up() { # [PORT]
    trap _ddb_local_down EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    endpoint=$(scripts/ddb-local.sh start "$@")
    use_ddb_local "$endpoint"
}

_ddb_local_down() {
    scripts/ddb-local.sh stop || true
    if [[ ${DDB_REMOVE_STATE:-} == 1 ]]; then rm -rf "$DDB_STATE_DIR"; fi
}

# The local SQS (moto, scripts/sqs-local.sh) beside it: the SDK's SQS calls go to ENDPOINT.
use_sqs_local() { # ENDPOINT
    export AWS_ENDPOINT_URL_SQS=$1
}

# Starts a local SQS in $SQS_STATE_DIR (default: $DDB_STATE_DIR, so that one state dir
# holds both) on PORT or a free one, sets `sqs_endpoint`, points the SDK at it, and stops
# it on every exit path, before DynamoDB Local's own clean-up (call after ddb_local_up).
sqs_local_up() { # [PORT]
    export SQS_STATE_DIR=${SQS_STATE_DIR:-$DDB_STATE_DIR}
    trap '_sqs_local_down; _ddb_local_down' EXIT
    sqs_endpoint=$(scripts/sqs-local.sh start "$@")
    use_sqs_local "$sqs_endpoint"
}

_sqs_local_down() {
    scripts/sqs-local.sh stop || true
}
