//! The Lambda's door: configuration, tracing, the SDK client once, then the runtime loop.

#![recursion_limit = "256"]

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use oa_webhook::config::Config;
use oa_webhook::handler::{init_tracing, ApiEvent, App};
use oa_webhook::store::{client_from, Store};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(variable = e.variable, "{e}");
            std::process::exit(2);
        }
    };
    let sdk = aws_config::load_from_env().await;
    let store = Store::new(client_from(&sdk), config.table_name.clone());
    let mut app = App::new(config, store);
    app.metrics = oa_webhook::telemetry::install();
    let app = &app;
    run(service_fn(move |event: LambdaEvent<ApiEvent>| async move {
        app.handle_lambda(event).await
    }))
    .await
}
