//! The binary: configuration, tracing, the clients once, then the door. From a shell the
//! command line names a command ([`CommandLine`]: `replay`, `sync`, `help`); on Lambda
//! every event goes to the door its shape asks for ([`LambdaDoor`], docs/contract.md
//! section 9), `AWS_LAMBDA_MAX_CONCURRENCY` at once (`run_concurrent`).

use clap::Parser;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use oa_webhook::app::App;
use oa_webhook::clients;
use oa_webhook::clients::sdk::AwsSettings;
use oa_webhook::clock::Clock;
use oa_webhook::config::{Config, ConfigError};
use oa_webhook::doors::cli::{self, Command, CommandLine};
use oa_webhook::doors::{sync, Door, LambdaDoor};
use oa_webhook::handoff::Queues;
use oa_webhook::logging::init_tracing;
use oa_webhook::store::Store;
use oa_webhook::telemetry::RequestLog;
use oa_webhook::token::CallbackToken;
use serde_json::value::RawValue;
use std::sync::Arc;

/// mimalloc (without transparent huge pages): less CPU per event than glibc's malloc at
/// the same peak RSS (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One thread: the invocations of one process (up to `AWS_LAMBDA_MAX_CONCURRENCY`) wait
/// on DynamoDB far longer than they compute (figures: docs/performance.md, "Managed
/// instances").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    init_tracing();
    // Help and bad arguments print and exit here (0 and 2).
    let command = (std::env::args_os().len() > 1).then(|| CommandLine::parse().command);
    let door = Door::for_handler(std::env::var("_HANDLER").ok().as_deref());
    let (mut config, aws) = Config::from_env()
        .and_then(|c| Ok((c, AwsSettings::from_env()?)))
        .unwrap_or_else(|e| stop(&e));
    let sdk = aws.sdk_config();
    // CALLBACK_TOKEN_ARN: never a start without signature checks (contract section 1).
    if let Some(arn) = &config.callback_token_arn {
        let endpoint = config.secrets_manager_endpoint.as_deref();
        match CallbackToken::from_secret(&sdk, arn, endpoint, Clock::system().now_secs()).await {
            Ok(token) => config.callback_token = Some(token),
            Err(e) => stop(&ConfigError {
                variable: "CALLBACK_TOKEN_ARN",
                problem: e,
            }),
        }
    }
    // The consumer and the commands are free of the webhook's 2-second limit: longer
    // DynamoDB timeouts (clients::consumer_dynamodb).
    let dynamodb = match (&command, &door) {
        (None, Door::Http) => clients::webhook_dynamodb(&sdk),
        _ => clients::consumer_dynamodb(&sdk),
    };
    let store = Store::new(dynamodb, config.table_name.clone());
    let queues = match (
        &command,
        config.handoff_queue_url.is_some() || config.dead_letter_queue_url.is_some(),
    ) {
        (_, false) => Queues::none(),
        (Some(_), true) => Queues::new(clients::operator_sqs(&aws.sqs_sdk_config()), &config),
        (None, true) => Queues::new(clients::webhook_sqs(&aws.sqs_sdk_config()), &config),
    };
    match command {
        Some(Command::Sync(args)) => {
            std::process::exit(sync::cli(&args, &config, &sdk, store).await)
        }
        Some(Command::Replay(args)) => {
            let mut app = App::new(config, store);
            app.queues = queues;
            std::process::exit(cli::replay_command(&app, &args).await)
        }
        None => {}
    }
    let sync = match door {
        Door::Sync => Some(Arc::new(
            sync::from_env(&config, &sdk, store.clone(), None)
                .await
                .unwrap_or_else(|e| stop(&e)),
        )),
        _ => None,
    };
    let mut app = App::new(config, store);
    app.queues = queues;
    app.log = RequestLog::stdout();
    let lambda = LambdaDoor {
        app,
        intended: door,
        sync,
    };
    lambda_runtime::run_concurrent(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        // Boxed: the future is large and the runtime's layers move it by value several
        // times per invocation; a box moves a pointer.
        Box::pin(lambda.clone().serve(event))
    }))
    .await
}

/// Missing or invalid configuration: one log line naming the variable, and the start
/// fails (docs/contract.md section 1).
fn stop(e: &ConfigError) -> ! {
    tracing::error!(variable = e.variable, "{e}");
    std::process::exit(2)
}
