//! Creates the table (`TABLE_NAME`) with the contract's layout, if it does not exist.
//! For local runs against the local DynamoDB (moto): `make run` calls it. In AWS, `template.yaml`
//! creates the table.

use tencent_standin::table::create_table;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Ok(table) = std::env::var("TABLE_NAME") else {
        eprintln!("create_table: TABLE_NAME is required");
        std::process::exit(2);
    };
    // The SDK's default chains (environment, profile files, SSO tokens already on disk;
    // `AWS_ENDPOINT_URL_DYNAMODB`), as `aws` would find your credentials, with the
    // project's HTTPS client: the crate builds the SDK without a default one (Cargo.toml).
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(oa_webhook::clients::sdk::https_client(
            oa_webhook::clients::sdk::TrustRoots::System,
        ))
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    if let Err(e) = create_table(&client, &table).await {
        eprintln!("create_table: {table}: {e}");
        std::process::exit(1);
    }
    println!("table {table} is ready");
}
