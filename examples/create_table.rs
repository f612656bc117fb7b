//! Creates the table (`TABLE_NAME`) with the contract's layout, if it does not exist.
//! For local runs against DynamoDB Local: `make run` calls it. In AWS, `template.yaml`
//! creates the table.

use oa_webhook::store::schema::create_table;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Ok(table) = std::env::var("TABLE_NAME") else {
        eprintln!("create_table: TABLE_NAME is required");
        std::process::exit(2);
    };
    // The function's own settings and HTTPS client (`AWS_REGION`, the keys,
    // `AWS_ENDPOINT_URL_DYNAMODB`): the crate builds the SDK without a default one.
    let settings = match oa_webhook::clients::sdk::AwsSettings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("create_table: {e}");
            std::process::exit(2);
        }
    };
    let client = aws_sdk_dynamodb::Client::new(&settings.sdk_config());
    if let Err(e) = create_table(&client, &table).await {
        eprintln!("create_table: {table}: {e}");
        std::process::exit(1);
    }
    println!("table {table} is ready");
}
