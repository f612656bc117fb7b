# Sourced by the scripts that talk to a DynamoDB Local (test.sh, run.sh, bench/*.sh):
#   source scripts/ddb-env.sh; use_ddb_local "$endpoint"
# Points the AWS SDK at the DynamoDB Local at ENDPOINT with dummy credentials and region,
# and keeps any real credentials, profiles and instance metadata out of reach.
use_ddb_local() { # ENDPOINT
    unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE
    export AWS_ENDPOINT_URL_DYNAMODB=$1
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
    export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
    export AWS_EC2_METADATA_DISABLED=true
}
