//! oa-webhook: receives Tencent Cloud Chat's Official Account webhooks on AWS Lambda and
//! keeps a DynamoDB table in sync. What it promises is `docs/contract.md`.
//!
//! The core knows no door:
//! - [`events`]: the event model (the one list of after-commands, typed events);
//! - [`outcome`]: the typed outcome of a request, and [`reply`]: the reply it becomes;
//! - [`state`]: how events fold into state, order-free;
//! - [`store`]: the DynamoDB table, its limits and the writes;
//! - [`clock`]: the one injected clock, and [`retry`]: the one backoff rule.
//!
//! Around it:
//! - [`protocol`]: Tencent's webhook protocol (query, signature, body reading, reply,
//!   admission); no AWS;
//! - [`app`]: the service the doors call, and its delivery decisions (write, hand off,
//!   dead-letter, last resort, consume a queue batch per account);
//! - [`handoff`]: the SQS adapter (envelopes, the hand-off and dead-letter queues);
//! - [`clients`]: every SDK client's timeout and retry profile, and the one HTTPS connector;
//! - [`relay`]: the callbacks not stored here, relayed to the app's backend (`FORWARD_URL`);
//! - [`doors`]: one small module per entry point (the webhook on `lambda_http`, the
//!   queue, the schedule, the command line), and the door chosen by what arrives;
//! - [`start`]: a process's start (configuration, clients, the app, then the door);
//! - [`tencent`]: Tencent's REST API (UserSig, client, secret key) and [`sync`]: backfill and repair from it;
//! - [`config`] (with [`allow_list`] and [`token`]), [`logging`], [`telemetry`] (the
//!   request line: log + EMF metrics).

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
