//! A process's start, the binary's `main` after tracing and the command line: the
//! configuration (a missing or invalid variable stops the start, docs/contract.md
//! section 1), the SDK clients once, the [`App`], then the command or the Lambda doors
//! ([`LambdaDoor`], `AWS_LAMBDA_MAX_CONCURRENCY` invocations at once: `run_concurrent`).

use crate::app::App;
use crate::clients;
use crate::clients::sdk::AwsSettings;
use crate::clock::Clock;
use crate::config::{Config, ConfigError, Env};
use crate::doors::cli::{self, Command};
use crate::doors::{sync, Door, LambdaDoor};
use crate::handoff::Queues;
use crate::store::Store;
use crate::telemetry::RequestLog;
use crate::token::CallbackToken;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::value::RawValue;
use std::sync::Arc;

/// Runs `command` (from a shell), or serves Lambda's invocations until the process ends;
/// the door is `_HANDLER`'s ([`Door::for_handler`]).
pub async fn run(command: Option<Command>) -> Result<(), Error> {
    let door = Door::for_handler(Env::process().get("_HANDLER").as_deref());
    let (mut config, aws) = Config::from_env()
        .and_then(|c| Ok((c, AwsSettings::from_env()?)))
        .unwrap_or_else(|e| stop(&e));
    let sdk = aws.sdk_config();
    // CALLBACK_TOKEN_ARN: never a start without signature checks (contract section 1).
    if let Some(arn) = &config.callback_token_arn {
        let endpoint = config.secrets_manager_endpoint.as_deref();
        match CallbackToken::from_secret(&sdk, arn, endpoint, Clock::system().now_secs()).await {
            Ok(token) => config.callback_token = Some(token),
            Err(e) => stop(&ConfigError::new("CALLBACK_TOKEN_ARN", e.to_string())),
        }
    }
    // The consumer and the commands are free of the webhook's 2-second limit: longer
    // DynamoDB timeouts (clients::consumer_dynamodb).
    let webhook = command.is_none() && door == Door::Http;
    let dynamodb = match webhook {
        true => clients::webhook_dynamodb(&sdk),
        false => clients::consumer_dynamodb(&sdk),
    };
    let store = Store::new(dynamodb, config.table_name.clone());
    let queued = config.handoff_queue_url.is_some() || config.dead_letter_queue_url.is_some();
    let queues = match (command.is_some(), queued) {
        (_, false) => Queues::none(),
        (true, true) => Queues::new(clients::operator_sqs(&aws.sqs_sdk_config()), &config),
        (false, true) => Queues::new(clients::webhook_sqs(&aws.sqs_sdk_config()), &config),
    };
    match command {
        Some(Command::Sync(args)) => {
            std::process::exit(sync::cli(&args, &config, &sdk, store).await)
        }
        Some(Command::Replay(args)) => {
            let app = App::new(config, store).with_queues(queues);
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
    let lambda = LambdaDoor {
        app: App::new(config, store)
            .with_queues(queues)
            .with_log(RequestLog::stdout(&Env::process())),
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
