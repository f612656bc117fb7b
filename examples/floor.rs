//! The floor `make bench` compares the function with: the least a function on this stack
//! can do per create. Same `lambda_runtime`, same SDK configuration
//! (`AwsSettings::from_env` + `clients::webhook_dynamodb`, as `main.rs`), same global allocator; per
//! invocation the one DynamoDB call a create makes (the conditional UpdateItem of a
//! `PROFILE` item, in the shape `store/profile.rs` sends for a create) and the same
//! reply. No protocol reading (the event is skipped over, not parsed into anything), no
//! logging, no metrics.
//!
//! ```sh
//! cargo build --release --example floor     # target/release/examples/floor
//! ```
//!
//! The account id is the invocation's request id, so that every invocation writes a new
//! item as a create of a new account does. Every event gets the same write, whatever it
//! is: an add of 100 costs the floor what a create does. Environment: `TABLE_NAME`,
//! `SDKAPPID` (its first id; default `1400000001`) and the SDK's variables, as the
//! function reads them.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use oa_webhook::clients;
use oa_webhook::clients::sdk::AwsSettings;
use serde::de::IgnoredAny;
use serde::Serialize;
use std::collections::HashMap;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The function's reply to a stored create (payload format 2.0).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    status_code: u16,
    headers: Headers,
    body: &'static str,
    is_base64_encoded: bool,
    cookies: [(); 0],
}

#[derive(Serialize)]
struct Headers {
    #[serde(rename = "content-type")]
    content_type: &'static str,
}

const OK: &str = r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"#;
/// The sample create's fields (events/after-create-official-account.json).
const OWNER: &str = "107867";
const NAME: &str = "TestOfficialAccount";
const EVENT_TIME: &str = "1670574414123";

struct Floor {
    client: aws_sdk_dynamodb::Client,
    table: String,
    app: String,
}

impl Floor {
    async fn create(&self, account: &str) -> Result<Reply, Error> {
        let s = |v: String| AttributeValue::S(v);
        let n = |v: &str| AttributeValue::N(v.to_owned());
        let key = HashMap::from([
            ("pk".to_owned(), s(format!("OA#{}#{account}", self.app))),
            ("sk".to_owned(), s("PROFILE".to_owned())),
        ]);
        // As UpdateBuilder lays a create out: the absent optional attributes removed
        // first, the item's attributes set in name order, the counter if absent, the
        // condition on `rev`.
        let removed = [
            "destroyed_at",
            "introduction",
            "face_url",
            "organization",
            "full_at",
        ];
        let set: [(&str, AttributeValue); 12] = [
            ("created_at", n(EVENT_TIME)),
            ("created_by", s(OWNER.to_owned())),
            ("entity", s("official_account".to_owned())),
            (
                "field_times",
                AttributeValue::M(HashMap::from([
                    ("name".to_owned(), n(EVENT_TIME)),
                    ("owner_account".to_owned(), n(EVENT_TIME)),
                ])),
            ),
            ("gsi1pk", s(format!("USER#{}#{OWNER}", self.app))),
            ("gsi1sk", s(format!("OWNS#{account}"))),
            ("name", s(NAME.to_owned())),
            ("official_account", s(account.to_owned())),
            ("owner_account", s(OWNER.to_owned())),
            ("rev", n("1")),
            ("sdk_app_id", s(self.app.clone())),
            ("status", s("ACTIVE".to_owned())),
        ];
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut remove = String::new();
        for (i, attr) in removed.iter().enumerate() {
            names.insert(format!("#a{i}"), (*attr).to_owned());
            remove.push_str(&format!("{}#a{i}", if i == 0 { "" } else { ", " }));
        }
        let mut sets = String::new();
        let mut rev = String::new();
        for (i, (attr, value)) in set.into_iter().enumerate() {
            let a = removed.len() + i;
            names.insert(format!("#a{a}"), attr.to_owned());
            values.insert(format!(":v{i}"), value);
            sets.push_str(&format!("{}#a{a} = :v{i}", if i == 0 { "" } else { ", " }));
            if attr == "rev" {
                rev = format!("#a{a}");
            }
        }
        let (a, v) = (names.len(), values.len());
        names.insert(format!("#a{a}"), "subscriber_count".to_owned());
        values.insert(format!(":v{v}"), n("0"));
        sets.push_str(&format!(", #a{a} = if_not_exists(#a{a}, :v{v})"));
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(format!("SET {sets} REMOVE {remove}"))
            .condition_expression(format!("attribute_not_exists({rev})"))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await?;
        Ok(Reply {
            status_code: 200,
            headers: Headers {
                content_type: "application/json",
            },
            body: OK,
            is_base64_encoded: false,
            cookies: [],
        })
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let aws = AwsSettings::from_env()?;
    let floor = Floor {
        client: clients::webhook_dynamodb(&aws.sdk_config()),
        table: std::env::var("TABLE_NAME")?,
        app: std::env::var("SDKAPPID")
            .ok()
            .and_then(|v| v.split(',').next().map(|a| a.trim().to_owned()))
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "1400000001".to_owned()),
    };
    let floor = &floor;
    run(service_fn(
        move |event: LambdaEvent<IgnoredAny>| async move {
            floor
                .create(&format!("@TOA#_{}", event.context.request_id))
                .await
        },
    ))
    .await
}
