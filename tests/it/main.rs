//! The integration tests: one test binary, a module per area, over the public doors with
//! real event JSON, against the local services `make test` starts (a local DynamoDB and a
//! local SQS; docs/development.md). One binary links the AWS SDK once instead of once per
//! file. `tests/credentials.rs` stays a binary of its own: it changes the process
//! environment, which would leak into every other test here.

mod common;
mod support;

mod allow_list;
mod catalogue;
mod concurrency;
mod consistency;
mod cost;
mod deadline;
mod doors;
mod engine;
mod faults;
mod handoff;
mod hot;
mod http_face;
mod intake;
mod limits;
mod logs;
mod metrics;
mod model;
mod relay;
mod seeds;
mod standin;
mod sync;
mod template;
mod tls;
mod token;
