//! oa-webhook: receives Tencent Cloud Chat's Official Account webhooks on AWS Lambda and
//! keeps a DynamoDB table in sync.
//!
//! - [`protocol`]: the Chat webhook protocol (query, signature, commands, reply); no AWS.
//! - [`state`]: how events fold into state, order-free; no AWS.
//! - [`store`]: the DynamoDB table and the writes; no HTTP.
//! - [`handler`]: the adapter from API Gateway / function URL events to the two.
//! - [`config`]: the environment.
//! - [`tencent`]: Tencent's REST API (UserSig, client, stand-in) for the sync.
//! - [`telemetry`]: the request line: one JSON log line per request that is also its CloudWatch metrics (EMF).

pub mod config;
pub mod handler;
pub mod protocol;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tencent;
