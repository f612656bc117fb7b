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
    let sdk = aws_config::load_from_env().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    if let Err(e) = create_table(&client, &table).await {
        eprintln!("create_table: {table}: {e}");
        std::process::exit(1);
    }
    println!("table {table} is ready");
}
