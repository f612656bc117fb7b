//! The binary's door: configuration, tracing, the SDK client once, then the door this
//! invocation asks for ([`Door::select`]).

#![recursion_limit = "256"]

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use oa_webhook::app::App;
use oa_webhook::config::Config;
use oa_webhook::doors::http::ApiEvent;
use oa_webhook::doors::{Door, USAGE};
use oa_webhook::logging::init_tracing;
use oa_webhook::store::sdk::AwsSettings;
use oa_webhook::store::{client_from, Store};
use oa_webhook::telemetry::RequestLog;

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
    // `oa-webhook sync ...` and the scheduled sync (Handler `sync`): src/doors/sync.rs.
    let sync_args = match &door {
        Door::Cli(a) if a.first().is_some_and(|c| c == "sync") => Some(a[1..].to_vec()),
        _ => None,
    };
    if sync_args
        .as_ref()
        .is_some_and(|a| a.iter().any(|x| x == "--help" || x == "-h"))
    {
        eprintln!("{}", oa_webhook::doors::sync::USAGE);
        std::process::exit(0);
    }
    if let (Door::Cli(args), None) = (&door, &sync_args) {
        let help = matches!(
            args.first().map(String::as_str),
            Some("help" | "--help" | "-h")
        );
        eprintln!("{USAGE}");
        std::process::exit(if help { 0 } else { 2 });
    }
    let (config, aws) = match Config::from_env().and_then(|c| Ok((c, AwsSettings::from_env()?))) {
        Ok(read) => read,
        Err(e) => {
            tracing::error!(variable = e.variable, "{e}");
            std::process::exit(2);
        }
    };
    let sdk = aws.sdk_config();
    let store = Store::new(client_from(&sdk), config.table_name.clone());
    if let Some(args) = sync_args {
        std::process::exit(oa_webhook::doors::sync::cli(&args, &config, &sdk, store).await);
    }
    if std::env::var("_HANDLER").is_ok_and(|h| h == "sync") {
        use oa_webhook::doors::sync::{from_env, scheduled};
        let door = match from_env(&config, &sdk, store, None).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(variable = e.variable, "{e}");
                std::process::exit(2);
            }
        };
        let door = &door;
        return run(service_fn(move |e| scheduled(door, e))).await;
    }
    let mut app = App::new(config, store);
    app.log = RequestLog::stdout();
    let app = &app;
    // Boxed: the handler's future is large and the runtime's layers move it by value
    // several times per invocation; a box moves a pointer.
    run(service_fn(move |event: LambdaEvent<ApiEvent>| {
        Box::pin(app.handle_lambda(event))
    }))
    .await
}
