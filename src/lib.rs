//! oa-webhook: receives Tencent Cloud Chat's Official Account webhooks on AWS Lambda and
//! keeps a DynamoDB table in sync. What it promises is `docs/contract.md`; the modules,
//! and which of them are the core that knows no door, are listed in docs/development.md.

pub mod allow_list;
pub mod app;
pub mod clients;
pub mod clock;
pub mod config;
pub mod doors;
pub mod events;
pub mod handoff;
pub mod logging;
pub mod outcome;
pub mod protocol;
pub mod relay;
pub mod reply;
pub mod retry;
pub mod start;
pub mod state;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod tencent;
pub mod token;
