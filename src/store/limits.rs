//! What DynamoDB can hold (docs/contract.md section 3, and row 12a of section 2), and the
//! exact conversion of `MsgBody` into a DynamoDB document. The protocol reader knows
//! nothing of these; [`check`] runs before any write, so an event DynamoDB would refuse
//! is answered at once, naming the field, instead of failing after the time budget.
//! Each limit below is DynamoDB's (Amazon DynamoDB Developer Guide, "Service, account,
//! and table quotas", "Data types" and "Naming rules").
//!
//! The local DynamoDB of the tests (moto) accepts documents nested deeper, empty map keys
//! and keys of 64 KB or more (../shared/spec/aws.md, "The local DynamoDB"), so nothing but
//! this check keeps those from being written there: tests/it/engine.rs shows what moto
//! accepts, and DynamoDB's own refusal is tested with `aws-smithy-mocks`.

use crate::events::{Event, EventKind, FieldError};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

/// Longest `Official_Account`, in bytes: it appears in sort keys as `OWNS#{oa}`.
pub(crate) const MAX_ACCOUNT_BYTES: usize = 1024 - "OWNS#".len();
/// Longest subscriber account or `MsgKey`, in bytes (`SUB#{user}`, `MSG#{key}` sort keys).
pub(crate) const MAX_MEMBER_BYTES: usize = 1024 - "SUB#".len();
/// Longest owner account, in bytes: it appears in `gsi1pk` as `USER#{app}#{owner}`
/// (2048 bytes at most), kept to a sort key's size like the others.
pub(crate) const MAX_OPERATOR_BYTES: usize = MAX_MEMBER_BYTES;
/// The largest item, in bytes.
pub(crate) const MAX_ITEM_BYTES: usize = 400 * 1024;
/// Room kept in an item for its keys, names and the other attributes.
const ITEM_OVERHEAD_BYTES: usize = 4 * 1024;
/// DynamoDB nests documents at most 32 levels deep; the item's `msg_body` list is one of
/// them, and each element another.
pub(crate) const MAX_MSG_BODY_DEPTH: usize = 30;
/// A name, a map's keys among them, is less than 64 KB.
pub(crate) const MAX_NAME_BYTES: usize = 64 * 1024 - 1;
/// Significant digits a DynamoDB number holds.
const MAX_NUMBER_DIGITS: usize = 38;

/// Why an event cannot be written as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unfit {
    /// An identifier too long for a key (row 11: "short enough for a DynamoDB key").
    #[error("{0}")]
    Invalid(FieldError),
    /// An item DynamoDB would refuse (row 12a).
    #[error("{0}")]
    Unstorable(FieldError),
}

/// Whether every item the event writes fits DynamoDB.
pub fn check(event: &Event) -> Result<(), Unfit> {
    let id = |name: &str, value: &str, max: usize| {
        if value.len() <= max {
            return Ok(());
        }
        let why = format!("is longer than {max} bytes");
        Err(Unfit::Invalid(FieldError::new(name, &why)))
    };
    id("Official_Account", &event.account, MAX_ACCOUNT_BYTES)?;
    // Each field of a list, named by its index.
    let ids = |list: &str, field: &str, values: &[String]| {
        values
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| id(&format!("{list}[{i}].{field}"), v, MAX_MEMBER_BYTES))
    };
    // Whether fields of these sizes fit one item; else the largest is named (the last of
    // equals).
    let fits = |fields: &[(&str, usize)]| {
        let total: usize = fields.iter().map(|(_, size)| size).sum();
        if total + ITEM_OVERHEAD_BYTES <= MAX_ITEM_BYTES {
            return Ok(());
        }
        let largest = fields
            .iter()
            .max_by_key(|(_, size)| *size)
            .map_or("the item", |(name, _)| *name);
        Err(Unfit::Unstorable(FieldError::new(
            largest,
            "is too large to store (a DynamoDB item holds at most 400 KB)",
        )))
    };
    let len = |text: &Option<String>| text.as_ref().map_or(0, String::len);
    match &event.kind {
        EventKind::Created { owner, name, .. } | EventKind::Destroyed { owner, name } => {
            if let Some(o) = owner {
                id("Owner_Account", o, MAX_OPERATOR_BYTES)?;
            }
            fits(&[("Name", len(name))])
        }
        EventKind::InfoChanged { fields, .. } => fits(&[
            ("Name", len(&fields.name)),
            ("Introduction", len(&fields.introduction)),
            ("FaceUrl", len(&fields.face_url)),
            ("Organization", len(&fields.organization)),
        ]),
        EventKind::Full => Ok(()),
        EventKind::SubscribersAdded { subscribers, .. }
        | EventKind::SubscribersDeleted { subscribers, .. } => {
            ids("SubscribeAccountList", "Subscriber_Account", subscribers)
        }
        EventKind::MessageSent(m) => {
            id("MsgKey", &m.msg_key, MAX_MEMBER_BYTES)?;
            if let Some(Value::Array(elements)) = &m.msg_body {
                for (i, e) in elements.iter().enumerate() {
                    check_document(e, 1).map_err(|what| {
                        Unfit::Unstorable(FieldError::new(&format!("MsgBody[{i}]"), what))
                    })?;
                }
            }
            // MsgBody last: it is named when the two are equal.
            fits(&[
                ("CloudCustomData", len(&m.cloud_custom_data)),
                ("MsgBody", m.msg_body.as_ref().map_or(0, document_bytes)),
            ])
        }
        EventKind::MessagesWithdrawn { msg_keys } => ids("WithdrawMsgList", "MsgKey", msg_keys),
    }
}

/// Whether a JSON value fits a DynamoDB document: its depth, and map keys DynamoDB
/// accepts (not empty, less than 64 KB).
fn check_document(v: &Value, depth: usize) -> Result<(), &'static str> {
    if depth > MAX_MSG_BODY_DEPTH {
        return Err("is nested too deeply to store");
    }
    match v {
        Value::Object(m) => m.iter().try_for_each(|(k, v)| {
            if k.is_empty() {
                Err("has an empty key, which DynamoDB cannot store")
            } else if k.len() > MAX_NAME_BYTES {
                Err("has a key of 64 KB or more, which DynamoDB cannot store")
            } else {
                check_document(v, depth + 1)
            }
        }),
        Value::Array(a) => a.iter().try_for_each(|v| check_document(v, depth + 1)),
        _ => Ok(()),
    }
}

/// An upper estimate of a document's size in DynamoDB (its JSON text's size is one: names
/// and strings count their bytes, numbers at most their digits, and each nesting level
/// a few bytes, less than JSON's punctuation and quotes).
fn document_bytes(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(n) => n.to_string().len() + 1,
        Value::String(s) => s.len() + 2,
        Value::Array(a) => 3 + a.iter().map(|e| document_bytes(e) + 1).sum::<usize>(),
        Value::Object(m) => {
            3 + m
                .iter()
                .map(|(k, e)| k.len() + 3 + document_bytes(e) + 1)
                .sum::<usize>()
        }
    }
}

/// A JSON value as a DynamoDB document: objects as maps, arrays as lists, and numbers
/// digit for digit (a number DynamoDB cannot hold, as its text).
pub(crate) fn to_attribute(v: &Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => {
            let text = n.to_string();
            if fits_number(&text) {
                AttributeValue::N(text)
            } else {
                AttributeValue::S(text)
            }
        }
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(to_attribute).collect()),
        Value::Object(m) => AttributeValue::M(
            m.iter()
                .map(|(k, v)| (k.clone(), to_attribute(v)))
                .collect(),
        ),
    }
}

/// Whether a JSON number's text is a number DynamoDB holds: at most 38 significant
/// digits, and zero or a magnitude from 1E-130 to below 1E+126.
pub(crate) fn fits_number(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => match unsigned[i + 1..].parse::<i64>() {
            Ok(e) => (&unsigned[..i], e),
            Err(_) => return false,
        },
        None => (unsigned, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = [int, frac].concat();
    let Some(first) = digits.find(|c: char| c != '0') else {
        return true; // zero
    };
    let last = digits.rfind(|c: char| c != '0').unwrap_or(first);
    if last - first + 1 > MAX_NUMBER_DIGITS {
        return false;
    }
    // The power of ten of the first significant digit.
    let (Ok(int_len), Ok(first)) = (i64::try_from(int.len()), i64::try_from(first)) else {
        return false;
    };
    let magnitude = exponent.saturating_add(int_len - 1 - first);
    (-130..126).contains(&magnitude)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_dynamodb_holds() {
        for ok in [
            "0",
            "-0.0",
            "171717171717171717171",
            "1584097275961.1234",
            "12345678901234567890123456789012345678",
            "1E-130",
            "9.9999999999999999999999999999999999999E+125",
            "100000000000000000000000000000000000000000000000",
            "-0.000001",
        ] {
            assert!(fits_number(ok), "{ok}");
        }
        for too in [
            "123456789012345678901234567890123456789",
            "1E+126",
            "1e-131",
            "1e400",
            "0.1234567890123456789012345678901234567891",
        ] {
            assert!(!fits_number(too), "{too}");
        }
    }

    /// What moto stores and DynamoDB refuses (module doc): refused here, naming why; the
    /// largest of each that DynamoDB holds passes.
    #[test]
    fn documents_dynamodb_refuses() {
        let nested = |levels: usize| (0..levels).fold(Value::from(1), |v, _| json!({ "a": v }));
        let long_key = "k".repeat(MAX_NAME_BYTES + 1);
        let longest_key = "k".repeat(MAX_NAME_BYTES);
        for (what, doc, error) in [
            (
                "too deep",
                nested(MAX_MSG_BODY_DEPTH),
                Some("nested too deeply"),
            ),
            ("deep enough", nested(MAX_MSG_BODY_DEPTH - 1), None),
            ("empty key", json!({"a": [{"": 1}]}), Some("empty key")),
            (
                "64 KB key",
                json!({ long_key.as_str(): 1 }),
                Some("64 KB or more"),
            ),
            ("longest key", json!({ longest_key.as_str(): 1 }), None),
            ("empty string", json!({"a": ""}), None),
        ] {
            match (check_document(&doc, 1), error) {
                (Ok(()), None) => {}
                (Err(e), Some(want)) => assert!(e.contains(want), "{what}: {e}"),
                (got, want) => panic!("{what}: got {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn numbers_are_converted_digit_for_digit() {
        let v: Value =
            serde_json::from_str(r#"{"a":171717171717171717171,"b":1e400,"c":[true,null,"x"]}"#)
                .expect("json");
        let AttributeValue::M(m) = to_attribute(&v) else {
            panic!("a map")
        };
        assert_eq!(m["a"], AttributeValue::N("171717171717171717171".into()));
        // serde_json writes the exponent with its sign.
        assert_eq!(m["b"], AttributeValue::S("1e+400".into()));
        assert_eq!(
            m["c"],
            AttributeValue::L(vec![
                AttributeValue::Bool(true),
                AttributeValue::Null(true),
                AttributeValue::S("x".into())
            ])
        );
    }
}
