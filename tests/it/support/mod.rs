//! Test-only stand-ins for what the local services do not show (`../shared/spec/aws.md`):
//! DynamoDB's contention rules in front of the local DynamoDB ([`contention`], [`ddb_model`]),
//! and a fast in-memory SQS for benchmarks ([`sqs_fast`]).
//!
//! Shared by this test binary and the benchmark examples (`#[path]`), each of which uses
//! part of it: hence no dead-code warnings here.
#![allow(dead_code)]

pub mod contention;
pub mod ddb_model;
pub mod serve;
pub mod sqs_fast;

pub use contention::ModelConfig;
pub use ddb_model::ContentionModel;

/// Starts the contention model in front of the local DynamoDB the tests use
/// (`AWS_ENDPOINT_URL_DYNAMODB`) and returns it; give [`ContentionModel::endpoint`] to the
/// SDK config under test (`common::sdk_config_at`). Panics when the local DynamoDB is not
/// configured or the model cannot start: the tests that use it never skip.
pub fn model_in_front_of_local(config: ModelConfig) -> ContentionModel {
    let upstream = match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        Ok(e) if !e.is_empty() => e,
        _ => panic!(
            "AWS_ENDPOINT_URL_DYNAMODB is not set: the contention model sits in front of \
             the local DynamoDB. Run the tests with `make test`, which starts one."
        ),
    };
    match ContentionModel::start(&upstream, config) {
        Ok(model) => model,
        Err(e) => panic!("cannot start the contention model: {e}"),
    }
}
