//! Prints the items of a table readably: one block per partition (an Official Account),
//! one line per item, times also shown as UTC. `make table` runs it against the DynamoDB
//! Local of `make run`; with AWS credentials in the environment it reads a real table.
//!
//! ```text
//! cargo run --example table [-- [--json] [PK-PREFIX]]
//! ```
//!
//! `TABLE_NAME` names the table; the AWS settings are the function's own
//! (`AwsSettings::from_env`: `AWS_REGION`, the keys, `AWS_ENDPOINT_URL_DYNAMODB`). A
//! PK-PREFIX (`OA#1400000001#@TOA#_a`) keeps only the partitions that start with it;
//! `--json` prints one JSON object per item instead.
//!
//! This is a development tool: it reads the whole table with Scan, which the function
//! itself never does (docs/table.md has the queries to use in production).

use aws_sdk_dynamodb::types::AttributeValue;
use oa_webhook::clients;
use oa_webhook::clients::sdk::AwsSettings;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// Attributes shown first, in this order; the others follow alphabetically.
const FIRST: &[&str] = &[
    "status",
    "name",
    "owner_account",
    "subscriber_count",
    "subscriber_account",
    "msg_key",
    "withdrawn",
];
/// Shown in the block's header or implied by the keys.
const HIDDEN: &[&str] = &["pk", "sk", "entity", "sdk_app_id", "official_account"];
/// Milliseconds since the epoch.
const MILLIS: &[&str] = &[
    "created_at",
    "destroyed_at",
    "full_at",
    "event_time",
    "withdrawn_at",
];
/// Seconds since the epoch.
const SECONDS: &[&str] = &["msg_time"];

/// One item: its sort key and its attributes as JSON.
type Row = (String, Map<String, Value>);

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut json_out = false;
    let mut prefix = String::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--json" => json_out = true,
            "-h" | "--help" => {
                eprintln!("usage: table [--json] [PK-PREFIX]   (TABLE_NAME names the table)");
                return;
            }
            other => prefix = other.to_owned(),
        }
    }
    let Some(table) = std::env::var("TABLE_NAME").ok().filter(|t| !t.is_empty()) else {
        eprintln!("table: TABLE_NAME is required");
        std::process::exit(2);
    };
    let settings = match AwsSettings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("table: {e}");
            std::process::exit(2);
        }
    };
    let client = clients::webhook_dynamodb(&settings.sdk_config());

    let mut items: Vec<HashMap<String, AttributeValue>> = Vec::new();
    let mut start = None;
    loop {
        let page = match client
            .scan()
            .table_name(&table)
            .set_exclusive_start_key(start)
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) => {
                let endpoint = settings.endpoint_url.as_deref().unwrap_or("AWS");
                eprintln!(
                    "table: cannot scan {table} at {endpoint}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                );
                eprintln!("       (is `make run` going? DDB_PORT and TABLE_NAME as given to it)");
                std::process::exit(1);
            }
        };
        items.extend(page.items.unwrap_or_default());
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => break,
        }
    }

    let mut by_pk: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for item in &items {
        let key = |k: &str| match item.get(k) {
            Some(AttributeValue::S(s)) => s.clone(),
            _ => String::new(),
        };
        let (pk, sk) = (key("pk"), key("sk"));
        if !pk.starts_with(&prefix) {
            continue;
        }
        let fields: Map<String, Value> = item.iter().map(|(k, v)| (k.clone(), attr(v))).collect();
        by_pk.entry(pk).or_default().push((sk, fields));
    }
    let shown: usize = by_pk.values().map(Vec::len).sum();

    for (pk, mut rows) in by_pk {
        // PROFILE first, then subscriptions, then messages, each sorted.
        rows.sort_by(|a, b| (rank(&a.0), &a.0).cmp(&(rank(&b.0), &b.0)));
        if json_out {
            for (_, fields) in rows {
                println!("{}", Value::Object(fields));
            }
            continue;
        }
        println!("{pk}");
        let width = rows.iter().map(|(sk, _)| sk.len()).max().unwrap_or(0);
        for (sk, fields) in rows {
            println!("  {sk:<width$}  {}", describe(&fields));
        }
        println!();
    }
    if !json_out {
        println!(
            "{shown} item(s) in {table}{}",
            if prefix.is_empty() {
                String::new()
            } else {
                format!(" under {prefix} ({} in all)", items.len())
            }
        );
    }
}

fn rank(sk: &str) -> u8 {
    match sk {
        "PROFILE" => 0,
        s if s.starts_with("SUB#") => 1,
        s if s.starts_with("MSG#") => 2,
        _ => 3,
    }
}

/// One item's attributes as `name=value` pairs, the interesting ones first.
fn describe(fields: &Map<String, Value>) -> String {
    let mut names: Vec<&String> = fields
        .keys()
        .filter(|k| !HIDDEN.contains(&k.as_str()))
        .collect();
    names.sort_by_key(|k| {
        (
            FIRST.iter().position(|f| f == k).unwrap_or(FIRST.len()),
            k.as_str(),
        )
    });
    names
        .into_iter()
        .map(|k| format!("{k}={}", value_text(k, &fields[k])))
        .collect::<Vec<_>>()
        .join("  ")
}

fn value_text(name: &str, v: &Value) -> String {
    let text = match v {
        Value::String(s) if !s.is_empty() && !s.contains([' ', '"', '=']) => s.clone(),
        other => other.to_string(),
    };
    let when = match (v.as_i64(), name) {
        (Some(ms), n) if MILLIS.contains(&n) => utc(ms.div_euclid(1000), ms.rem_euclid(1000)),
        (Some(s), n) if SECONDS.contains(&n) => utc(s, -1),
        _ => return text,
    };
    format!("{text} ({when})")
}

/// `2022-12-09T08:26:54.123Z` (milliseconds when `ms` is not negative).
fn utc(secs: i64, ms: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if ms >= 0 {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
    }
}

/// An attribute as JSON: numbers as numbers (their text when JSON cannot hold them
/// exactly), lists and maps natively.
fn attr(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => json!(s),
        AttributeValue::N(n) => match serde_json::from_str::<Value>(n) {
            Ok(Value::Number(num)) if num.to_string() == *n => Value::Number(num),
            _ => json!(n),
        },
        AttributeValue::Bool(b) => json!(b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(l) => Value::Array(l.iter().map(attr).collect()),
        AttributeValue::M(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), attr(v))).collect())
        }
        AttributeValue::Ss(s) => json!(s),
        AttributeValue::Ns(n) => json!(n),
        other => json!(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(1_670_574_414, 123), "2022-12-09T08:26:54.123Z");
        assert_eq!(utc(951_782_400, -1), "2000-02-29T00:00:00Z");
    }
}
