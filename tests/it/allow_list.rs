//! Contract row 1a through the public handler: `ALLOWED_SOURCE_CIDRS` against the source
//! address each front door reports (HTTP API 2.0, REST API 1.0, function URL), never a
//! header; refused requests write nothing.

use crate::common::vectors::CREATE;
use crate::common::*;
use oa_webhook::protocol::source::SourceAllowList;
use serde_json::{json, Value};
use std::sync::Arc;

/// A fixture whose app allows only `cidrs`.
async fn allowing(cidrs: &str) -> Fixture {
    let mut f = Fixture::new().await;
    let mut config = (*f.app.config).clone();
    config.allowed_sources = SourceAllowList::parse(cidrs).expect("valid CIDRs");
    f.app.config = Arc::new(config);
    f
}

fn sample(name: &str) -> Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("sample event")).expect("JSON")
}

/// The sample `name` with its source address (wherever that front door puts it) set to `ip`.
fn from(name: &str, ip: Option<&str>) -> String {
    let mut e = sample(name);
    let ctx = &mut e["requestContext"];
    let slot = if ctx["http"].is_object() {
        &mut ctx["http"]["sourceIp"]
    } else {
        &mut ctx["identity"]["sourceIp"]
    };
    *slot = ip.map_or(Value::Null, |ip| json!(ip));
    e.to_string()
}

fn http_from(ip: Option<&str>, forwarded_for: Option<&str>) -> String {
    let mut e: Value = serde_json::from_str(&http_event_json(
        "POST",
        &query_for(CREATE),
        &json!({"CallbackCommand": CREATE, "Official_Account": "@TOA#_a", "EventTime": 1})
            .to_string(),
    ))
    .expect("JSON");
    e["requestContext"]["http"]["sourceIp"] = ip.map_or(Value::Null, |ip| json!(ip));
    if let Some(xff) = forwarded_for {
        e["headers"]["x-forwarded-for"] = json!(xff);
    }
    e.to_string()
}

async fn refused(f: &Fixture, event: &str) {
    let r = f.send(parse_event(event)).await;
    let info = assert_fail(&r, 403);
    assert!(info.contains("source address"), "{info}");
    assert!(f.dump().await.is_empty(), "a refused request wrote items");
}

#[tokio::test]
async fn every_front_door_reports_the_source() {
    for name in [
        "after-create-official-account.json",
        "rest-api-after-create-official-account.json",
        "function-url-after-create-official-account.json",
    ] {
        let f = allowing("198.51.100.0/24, 203.0.113.0/28").await;
        refused(&f, &from(name, Some("203.0.113.16"))).await;
        refused(&f, &from(name, None)).await;
        refused(&f, &from(name, Some("not an address"))).await;
        assert_ok(&f.send(parse_event(&from(name, Some("203.0.113.15")))).await);
        assert_eq!(
            f.dump().await.len(),
            1,
            "{name}: the allowed request stored"
        );
    }
}

#[tokio::test]
async fn a_header_cannot_claim_an_allowed_address() {
    let f = allowing("203.0.113.0/24").await;
    refused(&f, &http_from(Some("192.0.2.1"), Some("203.0.113.10"))).await;
    refused(&f, &http_from(None, Some("203.0.113.10"))).await;
    assert_ok(
        &f.send(parse_event(&http_from(
            Some("203.0.113.10"),
            Some("192.0.2.1"),
        )))
        .await,
    );
}

#[tokio::test]
async fn ipv6_sources() {
    let f = allowing("2001:db8:1::/48").await;
    refused(&f, &http_from(Some("2001:db8:2::1"), None)).await;
    refused(&f, &http_from(Some("203.0.113.10"), None)).await;
    assert_ok(
        &f.send(parse_event(&http_from(Some("2001:db8:1::7"), None)))
            .await,
    );
}

#[tokio::test]
async fn checked_after_the_method_and_before_everything_else() {
    let f = allowing("203.0.113.0/24").await;
    let mut get: Value = serde_json::from_str(&http_from(Some("192.0.2.1"), None)).expect("JSON");
    get["requestContext"]["http"]["method"] = json!("GET");
    assert_fail(&f.send(parse_event(&get.to_string())).await, 405);
    // A probe (no command) and an unknown app from outside: the source decides.
    let mut probe: Value = serde_json::from_str(&http_from(Some("192.0.2.1"), None)).expect("JSON");
    probe["rawQueryString"] = json!("SdkAppid=9");
    probe["body"] = json!("");
    refused(&f, &probe.to_string()).await;
    // Unset: every source is served, as before.
    let open = Fixture::new().await;
    assert_ok(&open.send(parse_event(&http_from(None, None))).await);
}
