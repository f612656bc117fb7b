//! The Lambda's door: configuration, tracing, the SDK client once, then the runtime loop.

#![recursion_limit = "256"]

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use oa_webhook::config::Config;
use oa_webhook::handler::{init_tracing, ApiEvent, App};
use oa_webhook::store::sdk::AwsSettings;
use oa_webhook::store::{client_from, Store};
use oa_webhook::telemetry::RequestLog;

/// mimalloc (without transparent huge pages): ~13% less CPU per event than glibc's
/// malloc at the same peak RSS (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    init_tracing();
    let (config, aws) = match Config::from_env().and_then(|c| Ok((c, AwsSettings::from_env()?))) {
        Ok(read) => read,
        Err(e) => {
            tracing::error!(variable = e.variable, "{e}");
            std::process::exit(2);
        }
    };
    let store = Store::new(client_from(&aws.sdk_config()), config.table_name.clone());
    let mut app = App::new(config, store);
    app.log = RequestLog::stdout();
    let app = &app;
    // Boxed: the handler's future is large (~17 KB) and the runtime's layers move it by
    // value several times per invocation; a box moves a pointer.
    run(service_fn(move |event: LambdaEvent<ApiEvent>| {
        Box::pin(app.handle_lambda(event))
    }))
    .await
}
