//! The bad-input catalogue: malformed and hostile requests, each with its expected
//! status and envelope, and a check that nothing was written (or, for the few that are
//! valid after all, exactly what was written).

use crate::common::vectors::{ADD, CREATE, SEND, VECTOR_SIGN, VECTOR_TOKEN, WITHDRAW};
use crate::common::*;
use base64::Engine;
use serde_json::{json, Value};

/// One catalogue entry.
struct Case {
    name: String,
    query: String,
    body: Vec<u8>,
    base64: bool,
    raw_body: Option<String>,
    status: u16,
    /// Items the table holds afterwards (0 for every rejection).
    items: usize,
}

/// The expected "status" of a request the door never answers: a body marked base64 that
/// is not fails the invocation (only a forged direct invoke carries one; `lambda_http`'s
/// conversion panics and `lambda_runtime` reports the invocation's error).
const INVOCATION_ERROR: u16 = 0;

fn case(name: &str, query: &str, body: impl Into<Vec<u8>>, status: u16) -> Case {
    Case {
        name: name.to_owned(),
        query: query.to_owned(),
        body: body.into(),
        base64: false,
        raw_body: None,
        status,
        items: 0,
    }
}

fn with(cmd: &str, fields: Value) -> Vec<u8> {
    let mut b = fields;
    b["CallbackCommand"] = json!(cmd);
    b.to_string().into_bytes()
}

fn create(fields: Value) -> Vec<u8> {
    let mut b = json!({"Official_Account": "@TOA#_cat", "Owner_Account": "107867", "EventTime": 1670574414123u64});
    if let (Some(base), Some(extra)) = (b.as_object_mut(), fields.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    with(CREATE, b)
}

fn add(list: Value) -> Vec<u8> {
    with(
        ADD,
        json!({"Official_Account": "@TOA#_cat", "EventTime": 1, "SubscribeAccountList": list}),
    )
}

fn send(fields: Value) -> Vec<u8> {
    let mut b = json!({"Official_Account": "@TOA#_cat", "EventTime": 1, "MsgKey": "k"});
    if let (Some(base), Some(extra)) = (b.as_object_mut(), fields.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    with(SEND, b)
}

fn catalogue() -> Vec<Case> {
    let q = query_for(CREATE);
    let qa = query_for(ADD);
    let qs = query_for(SEND);
    let qw = query_for(WITHDRAW);
    let deep_array = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let mut c = vec![
        // Body shapes.
        case("body null", &q, "null", 400),
        case("body array", &q, "[]", 400),
        case("body string", &q, "\"hello\"", 400),
        case("body number", &q, "42", 400),
        case("body true", &q, "true", 400),
        case("body empty", &q, "", 400),
        case("body whitespace", &q, " \n\t", 400),
        case("body truncated", &q, "{\"Official_Account\":", 400),
        case(
            "body trailing garbage",
            &q,
            &*String::from_utf8_lossy(&create(json!({}))).replace('}', "}}"),
            400,
        ),
        Case {
            items: 1,
            ..case(
                "body with BOM",
                &q,
                [b"\xef\xbb\xbf".as_slice(), &create(json!({}))].concat(),
                200,
            )
        },
        case("body 10 000 levels deep", &q, deep_array.as_bytes(), 400),
        Case {
            items: 1,
            ..case(
                "body repeats a field",
                &q,
                r#"{"Official_Account":"a","Official_Account":"b","EventTime":1}"#,
                200,
            )
        },
        case("body single quotes", &q, "{'Official_Account':'a'}", 400),
        case(
            "body 1 MiB + 1",
            &q,
            {
                let mut b = create(json!({"x": ""}));
                let pad = 1024 * 1024 + 1 - b.len();
                let at = b.len() - 2;
                b.splice(at..at, std::iter::repeat_n(b'a', pad));
                b
            },
            413,
        ),
        // Required fields: missing, null, wrong type.
        case(
            "Official_Account missing",
            &q,
            with(CREATE, json!({"EventTime": 1})),
            400,
        ),
        case(
            "Official_Account null",
            &q,
            create(json!({"Official_Account": null})),
            400,
        ),
        Case {
            items: 1,
            ..case(
                "Official_Account number",
                &q,
                create(json!({"Official_Account": 107867})),
                200,
            )
        },
        case(
            "Official_Account array",
            &q,
            create(json!({"Official_Account": ["a"]})),
            400,
        ),
        case(
            "Official_Account object",
            &q,
            create(json!({"Official_Account": {"a": 1}})),
            400,
        ),
        case(
            "Official_Account bool",
            &q,
            create(json!({"Official_Account": true})),
            400,
        ),
        case(
            "Official_Account empty",
            &q,
            create(json!({"Official_Account": ""})),
            400,
        ),
        case(
            "EventTime missing",
            &q,
            with(CREATE, json!({"Official_Account": "@TOA#_cat"})),
            400,
        ),
        case(
            "EventTime null",
            &q,
            create(json!({"EventTime": null})),
            400,
        ),
        case(
            "EventTime huge",
            &q,
            create(json!({"EventTime": 1e30})),
            400,
        ),
        case(
            "EventTime past u64",
            &q,
            create(json!({})).pipe_replace("1670574414123", "18446744073709551616"),
            400,
        ),
        case(
            "EventTime negative",
            &q,
            create(json!({"EventTime": -1})),
            400,
        ),
        case(
            "EventTime fractional",
            &q,
            create(json!({"EventTime": 1.5})),
            400,
        ),
        case(
            "EventTime non-numeric string",
            &q,
            create(json!({"EventTime": "yesterday"})),
            400,
        ),
        case(
            "EventTime negative string",
            &q,
            create(json!({"EventTime": "-5"})),
            400,
        ),
        case(
            "EventTime bool",
            &q,
            create(json!({"EventTime": true})),
            400,
        ),
        Case {
            items: 1,
            ..case(
                "Owner_Account number",
                &q,
                create(json!({"Owner_Account": 107867})),
                200,
            )
        },
        Case {
            items: 1,
            ..case("Name object", &q, create(json!({"Name": {"x": 1}})), 200)
        },
        Case {
            items: 1,
            ..case(
                "Name too long",
                &q,
                create(json!({"Name": "n".repeat(4097)})),
                200,
            )
        },
        // Identifiers past DynamoDB key limits, or with control characters.
        case(
            "account past the sort-key limit",
            &q,
            create(json!({"Official_Account": "a".repeat(1020)})),
            400,
        ),
        case(
            "account 100 KB",
            &q,
            create(json!({"Official_Account": "a".repeat(100_000)})),
            400,
        ),
        case(
            "account with NUL",
            &q,
            create(json!({"Official_Account": "@TOA#_a\u{0}b"})),
            400,
        ),
        case(
            "account with newline",
            &q,
            create(json!({"Official_Account": "@TOA#_a\nb"})),
            400,
        ),
        case(
            "account with escape",
            &q,
            create(json!({"Official_Account": "@TOA#_\u{1b}[31m"})),
            400,
        ),
        Case {
            items: 1,
            ..case(
                "owner with control char",
                &q,
                create(json!({"Owner_Account": "own\u{7}er"})),
                200,
            )
        },
        // Subscriber lists. (Lists have no length limit: a list the time budget cannot
        // carry is handed off, docs/contract.md row 12.)
        case(
            "SubscribeAccountList missing",
            &qa,
            with(
                ADD,
                json!({"Official_Account": "@TOA#_cat", "EventTime": 1}),
            ),
            400,
        ),
        case("SubscribeAccountList null", &qa, add(Value::Null), 400),
        case(
            "SubscribeAccountList object",
            &qa,
            add(json!({"Subscriber_Account": "a"})),
            400,
        ),
        case("SubscribeAccountList string", &qa, add(json!("jared")), 400),
        case(
            "SubscribeAccountList of strings",
            &qa,
            add(json!(["jared"])),
            400,
        ),
        Case {
            items: 2,
            ..case(
                "Subscriber_Account number",
                &qa,
                add(json!([{"Subscriber_Account": 1}])),
                200,
            )
        },
        case(
            "Subscriber_Account missing",
            &qa,
            add(json!([{"Subscriber": "a"}])),
            400,
        ),
        case(
            "Subscriber_Account null",
            &qa,
            add(json!([{"Subscriber_Account": null}])),
            400,
        ),
        case(
            "Subscriber_Account past the key limit",
            &qa,
            add(json!([{"Subscriber_Account": "u".repeat(1021)}])),
            400,
        ),
        case(
            "Subscriber_Account with NUL",
            &qa,
            add(json!([{"Subscriber_Account": "u\u{0}"}])),
            400,
        ),
        // Messages.
        case(
            "MsgKey missing",
            &qs,
            with(
                SEND,
                json!({"Official_Account": "@TOA#_cat", "EventTime": 1}),
            ),
            400,
        ),
        Case {
            items: 1,
            ..case("MsgKey number", &qs, send(json!({"MsgKey": 71})), 200)
        },
        case(
            "MsgKey past the key limit",
            &qs,
            send(json!({"MsgKey": "k".repeat(1021)})),
            400,
        ),
        Case {
            items: 1,
            ..case("MsgBody string", &qs, send(json!({"MsgBody": "hi"})), 200)
        },
        Case {
            items: 1,
            ..case(
                "MsgBody of numbers",
                &qs,
                send(json!({"MsgBody": [1, 2]})),
                200,
            )
        },
        case(
            "MsgBody 40 levels deep",
            &qs,
            send(
                json!({"MsgBody": [serde_json::from_str::<Value>(&format!("{}1{}", "{\"a\":".repeat(40), "}".repeat(40))).unwrap_or_default()]}),
            ),
            400,
        ),
        Case {
            items: 1,
            ..case(
                "MsgBody number DynamoDB cannot store",
                &qs,
                send(json!({"MsgBody": [{"n": 1e200}]})),
                200,
            )
        },
        case(
            "MsgBody empty key",
            &qs,
            send(json!({"MsgBody": [{"": 1}]})),
            400,
        ),
        Case {
            items: 1,
            ..case(
                "OnlineOnlyFlag string",
                &qs,
                send(json!({"OnlineOnlyFlag": "yes"})),
                200,
            )
        },
        Case {
            items: 1,
            ..case("MsgTime negative", &qs, send(json!({"MsgTime": -3})), 200)
        },
        Case {
            items: 1,
            ..case(
                "CloudCustomData number",
                &qs,
                send(json!({"CloudCustomData": 5})),
                200,
            )
        },
        case(
            "WithdrawMsgList string",
            &qw,
            with(
                WITHDRAW,
                json!({"Official_Account": "@TOA#_cat", "EventTime": 1, "WithdrawMsgList": "k"}),
            ),
            400,
        ),
        // The query.
        case(
            "SdkAppid missing",
            &format!("CallbackCommand={CREATE}"),
            create(json!({})),
            403,
        ),
        case(
            "SdkAppid twice, differing",
            &format!("SdkAppid={APP}&SdkAppid=1400000009&CallbackCommand={CREATE}"),
            create(json!({})),
            403,
        ),
        case(
            "SdkAppid with a space",
            &format!("SdkAppid=%20{APP}&CallbackCommand={CREATE}"),
            create(json!({})),
            403,
        ),
        case(
            "SdkAppid with plus",
            &format!("SdkAppid={APP}+&CallbackCommand={CREATE}"),
            create(json!({})),
            403,
        ),
        case(
            "SdkAppid with %2B",
            &format!("SdkAppid=%2B{APP}&CallbackCommand={CREATE}"),
            create(json!({})),
            403,
        ),
        case(
            "SdkAppid unknown",
            &format!("SdkAppid=1&CallbackCommand={CREATE}"),
            create(json!({})),
            403,
        ),
        case(
            "SdkAppid empty",
            &format!("SdkAppid=&CallbackCommand={CREATE}"),
            create(json!({})),
            403,
        ),
        case(
            "CallbackCommand twice, differing",
            &format!("SdkAppid={APP}&CallbackCommand={CREATE}&callbackcommand={ADD}"),
            create(json!({})),
            400,
        ),
        case(
            "query and body commands differ",
            &qa,
            create(json!({})),
            400,
        ),
        case(
            "command with + for a dot",
            &format!(
                "SdkAppid={APP}&CallbackCommand=OfficialAccount+CallbackAfterCreateOfficialAccount"
            ),
            create(json!({})),
            400,
        ),
        case(
            "body command not a string",
            &format!("SdkAppid={APP}"),
            r#"{"CallbackCommand":5}"#,
            400,
        ),
        // Valid after all: written.
        Case {
            items: 1,
            ..case(
                "SdkAppid twice, same value",
                &format!("SdkAppid={APP}&sdkappid={APP}&CallbackCommand={CREATE}"),
                create(json!({})),
                200,
            )
        },
        Case {
            items: 1,
            ..case(
                "mixed-case keys",
                &format!("SDKAPPID={APP}&callbackCOMMAND={CREATE}&ContentType=JSON"),
                create(json!({})),
                200,
            )
        },
        Case {
            items: 1,
            ..case(
                "%20 and + in informational values",
                &format!("{q}&ClientIP=127.0.0.1%20&OptPlatform=Web+App"),
                create(json!({})),
                200,
            )
        },
        Case {
            items: 1,
            ..case(
                "EventTime as digits",
                &q,
                create(json!({"EventTime": "1670574414123"})),
                200,
            )
        },
        Case {
            items: 1,
            ..case(
                "EventTime u64::MAX",
                &q,
                create(json!({"EventTime": u64::MAX})),
                200,
            )
        },
        Case {
            items: 1,
            ..case(
                "deep nesting in an unknown field",
                &q,
                create(json!({})).pipe_replace(
                    "\"EventTime\"",
                    &format!("\"x\":{deep_array},\"EventTime\""),
                ),
                200,
            )
        },
        Case {
            items: 1,
            ..case(
                "unknown fields of every type",
                &q,
                create(json!({"a": null, "b": [1, {"c": 2}], "Name2": 5})),
                200,
            )
        },
        Case {
            items: 2,
            ..case(
                "1000 copies of one subscriber",
                &qa,
                add(Value::Array(vec![
                    json!({"Subscriber_Account": "same"});
                    1000
                ])),
                200,
            )
        },
        Case {
            items: 2,
            ..case(
                "unicode ids",
                &qa,
                add(json!([{"Subscriber_Account": "用户#@1"}])),
                200,
            )
        },
    ];
    // Bodies that only base64 can carry.
    c.push(Case {
        base64: true,
        items: 1,
        ..case(
            "invalid UTF-8 (base64)",
            &q,
            b"{\"Official_Account\":\"\xff\xfe\",\"EventTime\":1}".to_vec(),
            200,
        )
    });
    c.push(Case {
        raw_body: Some("!!!not base64!!!".to_owned()),
        ..case("invalid base64", &q, Vec::new(), INVOCATION_ERROR)
    });
    c.push(Case {
        raw_body: Some("eyJh".to_owned() + "=" + "x"),
        ..case(
            "base64 with junk after padding",
            &q,
            Vec::new(),
            INVOCATION_ERROR,
        )
    });
    c.push(Case {
        base64: true,
        items: 1,
        ..case("valid base64 body", &q, create(json!({})), 200)
    });
    c
}

trait PipeReplace {
    fn pipe_replace(self, from: &str, to: &str) -> Vec<u8>;
}

impl PipeReplace for Vec<u8> {
    fn pipe_replace(self, from: &str, to: &str) -> Vec<u8> {
        String::from_utf8_lossy(&self)
            .replacen(from, to, 1)
            .into_bytes()
    }
}

#[tokio::test]
async fn every_hostile_request_gets_its_documented_reply() {
    let cases = catalogue();
    assert!(
        cases.len() >= 60,
        "the catalogue holds {} requests",
        cases.len()
    );
    let mut failures = Vec::new();
    for c in cases {
        let f = Fixture::new().await;
        let event = if let Some(raw) = &c.raw_body {
            let mut e: Value =
                serde_json::from_str(&http_event_json("POST", &c.query, raw)).expect("JSON");
            e["isBase64Encoded"] = json!(true);
            let failed = fails_the_invocation(&e.to_string());
            if !failed || c.status != INVOCATION_ERROR {
                failures.push(format!(
                    "{}: expected {}, failed the invocation: {failed}",
                    c.name, c.status
                ));
            }
            continue;
        } else if c.base64 {
            let encoded = base64::engine::general_purpose::STANDARD.encode(&c.body);
            http_event_base64("POST", &c.query, &encoded)
        } else {
            match String::from_utf8(c.body.clone()) {
                Ok(s) => http_event("POST", &c.query, &s),
                Err(_) => panic!("{}: non-UTF-8 bodies need base64", c.name),
            }
        };
        let r = f.send(event).await;
        let v = envelope(&r);
        let items = f.dump().await.len();
        if r.status_code != c.status || items != c.items {
            failures.push(format!(
                "{}: expected {} with {} items, got {} with {} items: {v}",
                c.name, c.status, c.items, r.status_code, items
            ));
        }
        if c.status != 200 {
            let info = v["ErrorInfo"].as_str().unwrap_or_default();
            if info.is_empty() || info.len() >= 200 {
                failures.push(format!("{}: ErrorInfo {info:?}", c.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn signature_catalogue() {
    let base = query_for(CREATE);
    let body = String::from_utf8(create(json!({}))).unwrap_or_default();
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "valid",
            format!("{base}&Sign={VECTOR_SIGN}&RequestTime=1669872112"),
            200,
        ),
        (
            "uppercase hex",
            format!(
                "{base}&Sign={}&RequestTime=1669872112",
                VECTOR_SIGN.to_uppercase()
            ),
            200,
        ),
        (
            "keys in other case",
            format!("{base}&sign={VECTOR_SIGN}&requesttime=1669872112"),
            200,
        ),
        (
            "missing Sign",
            format!("{base}&RequestTime=1669872112"),
            401,
        ),
        (
            "missing RequestTime",
            format!("{base}&Sign={VECTOR_SIGN}"),
            401,
        ),
        ("missing both (a probe)", format!("SdkAppid={APP}"), 401),
        (
            "one character short",
            format!("{base}&Sign={}&RequestTime=1669872112", &VECTOR_SIGN[1..]),
            401,
        ),
        (
            "one character extra",
            format!("{base}&Sign={VECTOR_SIGN}0&RequestTime=1669872112"),
            401,
        ),
        (
            "non-hex",
            format!(
                "{base}&Sign={}&RequestTime=1669872112",
                VECTOR_SIGN.replace('a', "z")
            ),
            401,
        ),
        (
            "Sign of another time",
            format!("{base}&Sign={VECTOR_SIGN}&RequestTime=1669872113"),
            401,
        ),
        (
            "RequestTime not a number",
            format!("{base}&Sign={VECTOR_SIGN}&RequestTime=now"),
            401,
        ),
        (
            "RequestTime in ms",
            format!("{base}&Sign={VECTOR_SIGN}&RequestTime=1669872112000"),
            401,
        ),
        (
            "RequestTime with a space",
            format!("{base}&Sign={VECTOR_SIGN}&RequestTime=%201669872112"),
            401,
        ),
        (
            "Sign twice, differing",
            format!("{base}&Sign={VECTOR_SIGN}&Sign=00&RequestTime=1669872112"),
            401,
        ),
        (
            "empty Sign",
            format!("{base}&Sign=&RequestTime=1669872112"),
            401,
        ),
    ];
    for (name, query, status) in cases {
        let f = Fixture::with_token(Some(VECTOR_TOKEN)).await;
        let r = f.post(&query, &body).await;
        envelope(&r);
        assert_eq!(r.status_code, status, "{name}: {}", r.body);
        assert_eq!(f.dump().await.len(), usize::from(status == 200), "{name}");
    }
    // Token unset: a Sign present is ignored, even a wrong one.
    let f = Fixture::new().await;
    let r = f
        .post(&format!("{base}&Sign=00&RequestTime=1"), &body)
        .await;
    assert_ok(&r);
}
