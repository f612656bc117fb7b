//! Reading a webhook body into a typed [`Event`] (docs/contract.md section 2, rows 7 and
//! 11). Wire rules only: what DynamoDB can hold is checked by the store
//! (`store::limits`).
//!
//! The body is tokenized once into [`RawBody`], which keeps each known field as a
//! borrowed raw JSON slice; a command then parses only the fields it uses, so an unknown
//! or irrelevant field never fails a request.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use crate::events::{AfterCommand, Event, EventKind, Message, ProfileFields};
use crate::store::limits::{
    check_storable, MAX_ACCOUNT_BYTES, MAX_CLOUD_CUSTOM_DATA_BYTES, MAX_LIST_ENTRIES,
    MAX_MEMBER_BYTES, MAX_MSG_BODY_BYTES, MAX_OPERATOR_BYTES, MAX_PROFILE_TEXT_BYTES,
};

/// Why a body was refused. The message is safe to return: it names fields, never
/// echoes their content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The body is not a JSON object (contract row 7).
    NotAnObject(&'static str),
    /// A field is missing, of the wrong type, empty or too long (contract row 11).
    Field(String),
}

impl BodyError {
    pub fn message(&self) -> Cow<'static, str> {
        match self {
            BodyError::NotAnObject(m) => Cow::Borrowed(m),
            BodyError::Field(m) => Cow::Owned(m.clone()),
        }
    }
}

/// The body's known fields, as raw JSON slices of the body. `null` reads as absent.
#[derive(Debug, Default, Deserialize)]
pub struct RawBody<'a> {
    #[serde(rename = "CallbackCommand", borrow, default)]
    callback_command: Option<&'a RawValue>,
    #[serde(rename = "Official_Account", borrow, default)]
    official_account: Option<&'a RawValue>,
    #[serde(rename = "Operator_Account", borrow, default)]
    operator_account: Option<&'a RawValue>,
    #[serde(rename = "Owner_Account", borrow, default)]
    owner_account: Option<&'a RawValue>,
    #[serde(rename = "Name", borrow, default)]
    name: Option<&'a RawValue>,
    #[serde(rename = "Introduction", borrow, default)]
    introduction: Option<&'a RawValue>,
    #[serde(rename = "FaceUrl", borrow, default)]
    face_url: Option<&'a RawValue>,
    #[serde(rename = "Organization", borrow, default)]
    organization: Option<&'a RawValue>,
    #[serde(rename = "EventTime", borrow, default)]
    event_time: Option<&'a RawValue>,
    #[serde(rename = "SubscribeAccountList", borrow, default)]
    subscribe_account_list: Option<&'a RawValue>,
    #[serde(rename = "MsgKey", borrow, default)]
    msg_key: Option<&'a RawValue>,
    #[serde(rename = "MsgTime", borrow, default)]
    msg_time: Option<&'a RawValue>,
    #[serde(rename = "OnlineOnlyFlag", borrow, default)]
    online_only_flag: Option<&'a RawValue>,
    #[serde(rename = "MsgBody", borrow, default)]
    msg_body: Option<&'a RawValue>,
    #[serde(rename = "CloudCustomData", borrow, default)]
    cloud_custom_data: Option<&'a RawValue>,
    #[serde(rename = "WithdrawMsgList", borrow, default)]
    withdraw_msg_list: Option<&'a RawValue>,
}

/// The body's `CallbackCommand`, as far as it can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyCommand<'a> {
    Absent,
    Present(Cow<'a, str>),
    /// Present but not a plain string.
    Invalid,
}

impl<'a> RawBody<'a> {
    /// Tokenizes a body. Fails if it is not valid JSON, not an object, or repeats a known
    /// field.
    pub fn parse(body: &'a [u8]) -> Result<RawBody<'a>, BodyError> {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            return Err(BodyError::NotAnObject(if first.is_none() {
                "body is empty: a JSON object is expected"
            } else {
                "body is not a JSON object"
            }));
        }
        let text = std::str::from_utf8(body)
            .map_err(|_| BodyError::NotAnObject("body is not valid UTF-8"))?;
        serde_json::from_str(text).map_err(|e| {
            BodyError::NotAnObject(if e.is_data() {
                "body repeats a field"
            } else {
                "body is not valid JSON (or nested more than 128 levels deep)"
            })
        })
    }

    pub fn command(&self) -> BodyCommand<'a> {
        match self.callback_command {
            None => BodyCommand::Absent,
            Some(raw) => match serde_json::from_str::<CowStr<'a>>(raw.get()) {
                Ok(s) => BodyCommand::Present(s.0),
                Err(_) => BodyCommand::Invalid,
            },
        }
    }

    /// Builds the typed event of an after-command, for the SdkAppid `app`.
    pub fn into_event(self, command: AfterCommand, app: &str) -> Result<Event, BodyError> {
        let account = required(self.official_account, "Official_Account")?;
        let account = id(account, "Official_Account", MAX_ACCOUNT_BYTES)?;
        let event_time = required(self.event_time, "EventTime")?;
        let EventTimeMs(event_time) = parse(event_time, "EventTime")?;
        let operator = || optional_id(self.operator_account, "Operator_Account");
        let owner = || optional_id(self.owner_account, "Owner_Account");
        let text = |raw, name| optional_text(raw, name, MAX_PROFILE_TEXT_BYTES);
        let kind = match command {
            AfterCommand::CreateOfficialAccount => EventKind::Created {
                owner: owner()?,
                operator: operator()?,
                name: text(self.name, "Name")?,
            },
            AfterCommand::OfficialAccountInfoChanged => EventKind::InfoChanged {
                operator: operator()?,
                fields: ProfileFields {
                    name: text(self.name, "Name")?,
                    introduction: text(self.introduction, "Introduction")?,
                    face_url: text(self.face_url, "FaceUrl")?,
                    organization: text(self.organization, "Organization")?,
                },
            },
            AfterCommand::OfficialAccountDestroyed => EventKind::Destroyed {
                owner: owner()?,
                name: text(self.name, "Name")?,
            },
            AfterCommand::OfficialAccountFull => EventKind::Full,
            AfterCommand::AddSubscriber => EventKind::SubscribersAdded {
                operator: operator()?,
                subscribers: subscriber_list(self.subscribe_account_list)?,
            },
            AfterCommand::DeleteSubscriber => EventKind::SubscribersDeleted {
                operator: operator()?,
                subscribers: subscriber_list(self.subscribe_account_list)?,
            },
            AfterCommand::SendMsg => EventKind::MessageSent(Message {
                msg_key: id(
                    required(self.msg_key, "MsgKey")?,
                    "MsgKey",
                    MAX_MEMBER_BYTES,
                )?,
                msg_time: optional::<Seconds>(self.msg_time, "MsgTime")?.map(|s| s.0),
                online_only_flag: optional(self.online_only_flag, "OnlineOnlyFlag")?,
                msg_body: msg_body(self.msg_body)?,
                cloud_custom_data: optional_text(
                    self.cloud_custom_data,
                    "CloudCustomData",
                    MAX_CLOUD_CUSTOM_DATA_BYTES,
                )?,
            }),
            AfterCommand::MsgWithdraw => EventKind::MessagesWithdrawn {
                msg_keys: withdraw_list(self.withdraw_msg_list)?,
            },
        };
        Ok(Event {
            app: app.to_owned(),
            account,
            event_time,
            kind,
        })
    }
}

fn field_error(name: &str, what: &str) -> BodyError {
    BodyError::Field(format!("{name} {what}"))
}

fn required<'a>(raw: Option<&'a RawValue>, name: &str) -> Result<&'a RawValue, BodyError> {
    raw.ok_or_else(|| field_error(name, "is required"))
}

fn parse<'a, T: Deserialize<'a>>(raw: &'a RawValue, name: &str) -> Result<T, BodyError> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            field_error(name, "has the wrong type or value")
        } else {
            field_error(&format!("{name}{path}"), "has the wrong type or value")
        }
    })
}

fn optional<'a, T: Deserialize<'a>>(
    raw: Option<&'a RawValue>,
    name: &str,
) -> Result<Option<T>, BodyError> {
    raw.map(|r| parse(r, name)).transpose()
}

/// An identifier: a non-empty string of at most `max` bytes without control characters.
fn id(raw: &RawValue, name: &str, max: usize) -> Result<String, BodyError> {
    let s: Cow<'_, str> = parse::<CowStr>(raw, name)?.0;
    check_id(&s, name, max)?;
    Ok(s.into_owned())
}

fn check_id(s: &str, name: &str, max: usize) -> Result<(), BodyError> {
    if s.is_empty() {
        return Err(field_error(name, "must not be empty"));
    }
    if s.len() > max {
        return Err(BodyError::Field(format!(
            "{name} is longer than {max} bytes"
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(field_error(name, "contains control characters"));
    }
    Ok(())
}

/// An optional identifier; an empty string counts as absent.
fn optional_id(raw: Option<&RawValue>, name: &str) -> Result<Option<String>, BodyError> {
    let Some(raw) = raw else { return Ok(None) };
    let s = parse::<CowStr>(raw, name)?.0;
    if s.is_empty() {
        return Ok(None);
    }
    check_id(&s, name, MAX_OPERATOR_BYTES)?;
    Ok(Some(s.into_owned()))
}

fn optional_text(
    raw: Option<&RawValue>,
    name: &str,
    max: usize,
) -> Result<Option<String>, BodyError> {
    let Some(raw) = raw else { return Ok(None) };
    let s = parse::<CowStr>(raw, name)?.0;
    if s.len() > max {
        return Err(BodyError::Field(format!(
            "{name} is longer than {max} bytes"
        )));
    }
    Ok(Some(s.into_owned()))
}

/// A string that borrows from the body when it has no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// `EventTime`: a non-negative integer of milliseconds, or a string of digits.
struct EventTimeMs(u64);

impl<'de> Deserialize<'de> for EventTimeMs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnsignedVisitor).map(EventTimeMs)
    }
}

/// `MsgTime`: like `EventTime`, in seconds.
struct Seconds(u64);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnsignedVisitor).map(Seconds)
    }
}

struct UnsignedVisitor;

impl<'de> Visitor<'de> for UnsignedVisitor {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a non-negative integer or a string of digits")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom("negative"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(E::custom("not a string of digits"));
        }
        v.parse().map_err(|_| E::custom("out of range"))
    }
}

#[derive(Deserialize)]
struct SubscriberRef<'a> {
    #[serde(rename = "Subscriber_Account", borrow)]
    subscriber_account: &'a RawValue,
}

#[derive(Deserialize)]
struct MsgRef<'a> {
    #[serde(rename = "MsgKey", borrow)]
    msg_key: &'a RawValue,
}

fn subscriber_list(raw: Option<&RawValue>) -> Result<Vec<String>, BodyError> {
    let name = "SubscribeAccountList";
    let list: Vec<SubscriberRef<'_>> = parse(required(raw, name)?, name)?;
    check_list_len(list.len(), name)?;
    dedup_ids(list.into_iter().map(|r| r.subscriber_account), |i| {
        format!("{name}[{i}].Subscriber_Account")
    })
}

fn withdraw_list(raw: Option<&RawValue>) -> Result<Vec<String>, BodyError> {
    let name = "WithdrawMsgList";
    let list: Vec<MsgRef<'_>> = parse(required(raw, name)?, name)?;
    check_list_len(list.len(), name)?;
    dedup_ids(list.into_iter().map(|r| r.msg_key), |i| {
        format!("{name}[{i}].MsgKey")
    })
}

fn check_list_len(len: usize, name: &str) -> Result<(), BodyError> {
    if len > MAX_LIST_ENTRIES {
        return Err(BodyError::Field(format!(
            "{name} has more than {MAX_LIST_ENTRIES} entries"
        )));
    }
    Ok(())
}

fn dedup_ids<'a>(
    raws: impl Iterator<Item = &'a RawValue>,
    name_of: impl Fn(usize) -> String,
) -> Result<Vec<String>, BodyError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, raw) in raws.enumerate() {
        let name = name_of(i);
        let s = id(raw, &name, MAX_MEMBER_BYTES)?;
        if seen.insert(s.clone()) {
            out.push(s);
        }
    }
    Ok(out)
}

fn msg_body(raw: Option<&RawValue>) -> Result<Option<serde_json::Value>, BodyError> {
    let name = "MsgBody";
    let Some(raw) = raw else { return Ok(None) };
    if raw.get().len() > MAX_MSG_BODY_BYTES {
        return Err(BodyError::Field(format!(
            "{name} is larger than {MAX_MSG_BODY_BYTES} bytes"
        )));
    }
    let value: serde_json::Value = parse(raw, name)?;
    let serde_json::Value::Array(elems) = &value else {
        return Err(field_error(name, "must be an array of message elements"));
    };
    for (i, e) in elems.iter().enumerate() {
        if !e.is_object() {
            return Err(field_error(
                &format!("{name}[{i}]"),
                "must be an object (a message element)",
            ));
        }
        check_storable(e, 1).map_err(|what| field_error(&format!("{name}[{i}]"), what))?;
    }
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(cmd: AfterCommand, body: &str) -> Result<Event, BodyError> {
        RawBody::parse(body.as_bytes())?.into_event(cmd, "1400000001")
    }

    #[test]
    fn seed_create_sample() {
        let e = event(
            AfterCommand::CreateOfficialAccount,
            r#"{"CallbackCommand":"OfficialAccount.CallbackAfterCreateOfficialAccount","Official_Account":"@TOA#_test_OA_for_penn","Operator_Account":"107867","Owner_Account":"107867","Name":"TestOfficialAccount","EventTime":1670574414123}"#,
        )
        .unwrap();
        assert_eq!(e.account, "@TOA#_test_OA_for_penn");
        assert_eq!(e.event_time, 1670574414123);
        assert_eq!(
            e.kind,
            EventKind::Created {
                owner: Some("107867".into()),
                operator: Some("107867".into()),
                name: Some("TestOfficialAccount".into())
            }
        );
    }

    #[test]
    fn subscriber_lists_are_deduplicated_in_order() {
        let e = event(
            AfterCommand::AddSubscriber,
            r#"{"Official_Account":"@TOA#_a","EventTime":"5","SubscribeAccountList":[{"Subscriber_Account":"b"},{"Subscriber_Account":"a","x":1},{"Subscriber_Account":"b"}]}"#,
        )
        .unwrap();
        assert_eq!(e.event_time, 5);
        assert_eq!(
            e.kind,
            EventKind::SubscribersAdded {
                operator: None,
                subscribers: vec!["b".into(), "a".into()]
            }
        );
    }

    #[test]
    fn event_time_forms() {
        let t = |v: &str| {
            event(
                AfterCommand::OfficialAccountFull,
                &format!(r#"{{"Official_Account":"@TOA#_a","EventTime":{v}}}"#),
            )
            .map(|e| e.event_time)
        };
        assert_eq!(t("1670574414123"), Ok(1670574414123));
        assert_eq!(t("\"1670574414123\""), Ok(1670574414123));
        for bad in [
            "-1",
            "1.5",
            "1e3",
            "\"abc\"",
            "\"\"",
            "\"-1\"",
            "1e30",
            "null",
            "true",
            "[]",
            "18446744073709551616",
        ] {
            assert!(t(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn field_errors_name_the_field_not_its_content() {
        let e = event(
            AfterCommand::AddSubscriber,
            r#"{"Official_Account":"@TOA#_a","EventTime":1,"SubscribeAccountList":[{"Subscriber_Account":"ok"},{"Subscriber_Account":12345}]}"#,
        )
        .unwrap_err();
        let msg = e.message();
        assert!(
            msg.contains("SubscribeAccountList[1].Subscriber_Account"),
            "{msg}"
        );
        assert!(!msg.contains("12345"), "{msg}");
        let e = event(
            AfterCommand::SendMsg,
            r#"{"Official_Account":"@TOA#_a","EventTime":1}"#,
        )
        .unwrap_err();
        assert_eq!(e, BodyError::Field("MsgKey is required".into()));
    }

    #[test]
    fn ids_are_checked() {
        let oa = |v: &str| {
            event(
                AfterCommand::OfficialAccountFull,
                &format!(r#"{{"Official_Account":{v},"EventTime":1}}"#),
            )
        };
        assert!(oa(r#""""#).is_err());
        assert!(oa(r#""a\u0000b""#).is_err());
        assert!(oa(r#""a\nb""#).is_err());
        assert!(oa("5").is_err());
        assert!(oa("null").is_err());
        assert!(oa(&format!("\"{}\"", "x".repeat(MAX_ACCOUNT_BYTES))).is_ok());
        assert!(oa(&format!("\"{}\"", "x".repeat(MAX_ACCOUNT_BYTES + 1))).is_err());
    }

    #[test]
    fn irrelevant_fields_of_any_type_are_ignored() {
        let e = event(
            AfterCommand::OfficialAccountFull,
            r#"{"Official_Account":"@TOA#_a","EventTime":1,"Name":5,"MsgBody":"x","Extra":{"a":[1,2]}}"#,
        );
        assert!(e.is_ok());
    }

    #[test]
    fn msg_body_must_be_storable() {
        let send = |b: &str| {
            event(
                AfterCommand::SendMsg,
                &format!(
                    r#"{{"Official_Account":"@TOA#_a","EventTime":1,"MsgKey":"k","MsgBody":{b}}}"#
                ),
            )
        };
        assert!(send(r#"[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]"#).is_ok());
        assert!(send(r#"[]"#).is_ok());
        assert!(send(r#"{"a":1}"#).is_err());
        assert!(send(r#"[1]"#).is_err());
        assert!(send(r#"[{"":1}]"#).is_err());
        assert!(send(r#"[{"a":1e200}]"#).is_err());
        assert!(send(r#"[{"a":1e-200}]"#).is_err());
        assert!(send(r#"[{"a":0.0}]"#).is_ok());
        let deep = format!("[{}1{}]", "{\"a\":".repeat(40), "}".repeat(40));
        assert!(send(&deep).is_err());
    }

    #[test]
    fn body_shape_errors() {
        for b in ["", "  ", "null", "[]", "\"x\"", "5", "{", "{\"a\":1}x"] {
            assert!(
                matches!(RawBody::parse(b.as_bytes()), Err(BodyError::NotAnObject(_))),
                "{b:?}"
            );
        }
        let dup = br#"{"Official_Account":"a","Official_Account":"b"}"#;
        assert!(RawBody::parse(dup).is_err());
        // Unknown fields are skipped without recursion: deep nesting there is harmless.
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(10000), "]".repeat(10000));
        assert!(RawBody::parse(deep.as_bytes()).is_ok());
        // In a field we read, it is refused (serde_json stops at 128 levels).
        let deep = format!(
            "{{\"Official_Account\":\"a\",\"EventTime\":1,\"MsgKey\":\"k\",\"MsgBody\":{}{}}}",
            "[".repeat(10000),
            "]".repeat(10000)
        );
        let e = RawBody::parse(deep.as_bytes())
            .and_then(|b| b.into_event(AfterCommand::SendMsg, "1"))
            .unwrap_err();
        assert!(matches!(e, BodyError::Field(_)));
        assert!(RawBody::parse(b"{\"a\":\"\xff\"}").is_err());
    }

    #[test]
    fn body_command_is_read() {
        let b = RawBody::parse(br#"{"CallbackCommand":"X"}"#).unwrap();
        assert_eq!(b.command(), BodyCommand::Present("X".into()));
        let b = RawBody::parse(br#"{"CallbackCommand":"X"}"#).unwrap();
        assert_eq!(b.command(), BodyCommand::Present("X".into()));
        let b = RawBody::parse(br#"{"CallbackCommand":5}"#).unwrap();
        assert_eq!(b.command(), BodyCommand::Invalid);
        let b = RawBody::parse(br#"{"CallbackCommand":null}"#).unwrap();
        assert_eq!(b.command(), BodyCommand::Absent);
    }
}
