//! The binary's door: configuration, tracing, the SDK client once, then the door this
//! invocation asks for ([`Door::select`]).

#![recursion_limit = "256"]

use lambda_runtime::{service_fn, Error, LambdaEvent};
use oa_webhook::app::App;
use oa_webhook::config::Config;
use oa_webhook::doors::cli::{self, ReplayArgs};
use oa_webhook::doors::{Door, LambdaDoor, USAGE};
use oa_webhook::handoff::{self, Queues};
use oa_webhook::logging::init_tracing;
use oa_webhook::store::sdk::AwsSettings;
use oa_webhook::store::{client_from, Store};
use oa_webhook::telemetry::RequestLog;
use oa_webhook::token::CallbackToken;
use serde_json::value::RawValue;

/// mimalloc (without transparent huge pages): less CPU per event than glibc's malloc at
/// the same peak RSS (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    init_tracing();
    let door = Door::select(
        std::env::args().skip(1).collect(),
        std::env::var("_HANDLER").ok().as_deref(),
    );
    let command = match &door {
        Door::Cli(args) => match args.first().map(String::as_str) {
            Some("replay") => match ReplayArgs::parse(&args[1..]) {
                Ok(a) => Some(Command::Replay(a)),
                Err(e) => {
                    eprintln!("oa-webhook replay: {e}\n{USAGE}");
                    std::process::exit(2);
                }
            },
            // For `make run`: the local stand-in for Lambda's event source mapping.
            Some("poll-queue") => Some(Command::PollQueue),
            Some("sync") => Some(Command::Sync(args[1..].to_vec())),
            first => {
                eprintln!("{USAGE}");
                let help = matches!(first, Some("help" | "--help" | "-h"));
                std::process::exit(if help { 0 } else { 2 });
            }
        },
        _ => None,
    };
    let (mut config, aws) = match Config::from_env().and_then(|c| Ok((c, AwsSettings::from_env()?)))
    {
        Ok(read) => read,
        Err(e) => {
            tracing::error!(variable = e.variable, "{e}");
            std::process::exit(2);
        }
    };
    // CALLBACK_TOKEN_ARN: never a start without signature checks (contract section 1).
    if let Some(arn) = &config.callback_token_arn {
        let endpoint = config.secrets_manager_endpoint.as_deref();
        let now = (oa_webhook::app::system_clock())();
        match CallbackToken::from_secret(&aws.sdk_config(), arn, endpoint, now).await {
            Ok(token) => config.callback_token = Some(token),
            Err(e) => {
                tracing::error!(variable = "CALLBACK_TOKEN_ARN", "CALLBACK_TOKEN_ARN {e}");
                std::process::exit(2);
            }
        }
    }
    // The consumer and replay are free of the webhook's 2-second limit: longer DynamoDB
    // timeouts (handoff::consumer_dynamodb_client).
    let dynamodb = if command.is_some() || door == Door::Queue {
        handoff::consumer_dynamodb_client(&aws.sdk_config())
    } else {
        client_from(&aws.sdk_config())
    };
    let store = Store::new(dynamodb, config.table_name.clone());
    // The sync (src/doors/sync.rs): `oa-webhook sync ...` and the scheduled Lambda.
    if let Some(Command::Sync(args)) = &command {
        let sdk = aws.sdk_config();
        std::process::exit(oa_webhook::doors::sync::cli(args, &config, &sdk, store).await);
    }
    let sync = if door == Door::Sync {
        match oa_webhook::doors::sync::from_env(&config, &aws.sdk_config(), store.clone(), None)
            .await
        {
            Ok(d) => Some(std::sync::Arc::new(d)),
            Err(e) => {
                tracing::error!(variable = e.variable, "{e}");
                std::process::exit(2);
            }
        }
    } else {
        None
    };
    let queue_urls = config.handoff_queue_url.is_some() || config.dead_letter_queue_url.is_some();
    let queues = match (&command, queue_urls) {
        (_, false) => Queues::none(),
        (Some(_), true) => Queues::new(
            handoff::operator_sqs_client_from(&aws.sqs_sdk_config()),
            &config,
        ),
        (None, true) => Queues::new(handoff::sqs_client_from(&aws.sqs_sdk_config()), &config),
    };
    let mut app = App::new(config, store);
    app.queues = queues;
    match command {
        Some(Command::Replay(args)) => {
            let mut out = std::io::stdout();
            match cli::replay(&app, &args, &mut out).await {
                Ok(sum) => std::process::exit(if sum.failed > 0 { 1 } else { 0 }),
                Err(e) => {
                    eprintln!("oa-webhook replay: {e}");
                    std::process::exit(1);
                }
            }
        }
        Some(Command::PollQueue) => {
            app.log = RequestLog::stdout();
            if let Err(e) = cli::poll_queue(&app).await {
                eprintln!("oa-webhook poll-queue: {e}");
                std::process::exit(2);
            }
            return Ok(());
        }
        Some(Command::Sync(_)) | None => {}
    }
    app.log = RequestLog::stdout();
    // Every Lambda door, chosen per event by its shape (docs/contract.md section 9); with
    // AWS_LAMBDA_MAX_CONCURRENCY > 1 (Lambda Managed Instances) that many at once.
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

/// A command-line door's command.
enum Command {
    Replay(ReplayArgs),
    PollQueue,
    Sync(Vec<String>),
}
