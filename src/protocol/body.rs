//! Reading a webhook body into a typed [`Event`] (docs/contract.md section 2, "Reading
//! the body" and "Reading fields", rows 7 and 11). Wire rules only: what DynamoDB can
//! hold is the store's business (`store::limits`).
//!
//! A refused after-event is a lost one (Tencent does not retry a FAIL), so the body is
//! read the way common JSON parsers read it, in three steps: `normalize`,
//! `RawBody::parse`, `RawBody::into_event`.

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use crate::events::{AfterCommand, Event, EventKind, FieldError, Message, ProfileFields};

/// Deepest JSON that is parsed into a value (serde_json's own recursion limit).
const MAX_PARSE_DEPTH: usize = 128;

/// Why a body is not a JSON object (row 7). The message is safe to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BodyError(pub &'static str);

/// An after-event read from a body, with the number of optional fields left out because
/// they could not be read (the request line's `fields_dropped`).
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub event: Event,
    pub fields_dropped: u32,
}

/// Why a required field made the event unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    /// Missing or unreadable (row 11).
    Invalid(FieldError),
    /// Readable JSON, but deeper than any store can hold (row 12a).
    TooDeep(FieldError),
}

/// The body as the reading rules see it: without a byte-order mark, with every escaped
/// lone surrogate replaced by `\uFFFD` and every byte sequence that is not UTF-8 by
/// U+FFFD. Borrows when there is nothing to change (the usual case).
pub(crate) fn normalize(body: &[u8]) -> Cow<'_, [u8]> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let body = match std::str::from_utf8(body) {
        Ok(_) => Cow::Borrowed(body),
        Err(_) => Cow::Owned(String::from_utf8_lossy(body).into_owned().into_bytes()),
    };
    match replace_lone_surrogates(&body) {
        Some(fixed) => Cow::Owned(fixed),
        None => body,
    }
}

/// `Some(text)` with each escaped lone surrogate (`\uD800`-`\uDFFF` not in a high-low
/// pair) inside a JSON string replaced by `\uFFFD`; `None` when there is none.
fn replace_lone_surrogates(text: &[u8]) -> Option<Vec<u8>> {
    fn hex4(text: &[u8], at: usize) -> Option<u16> {
        let digits = text.get(at..at + 4)?;
        let s = std::str::from_utf8(digits).ok()?;
        u16::from_str_radix(s, 16).ok()
    }
    // Fast path: no escape that could be a surrogate.
    if !text
        .windows(3)
        .any(|w| w[0] == b'\\' && w[1] == b'u' && matches!(w[2], b'd' | b'D'))
    {
        return None;
    }
    let mut out: Option<Vec<u8>> = None;
    let mut in_string = false;
    let mut i = 0;
    let mut copied = 0;
    while i < text.len() {
        let b = text[i];
        if !in_string {
            in_string = b == b'"';
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_string = false;
                i += 1;
            }
            b'\\' if text.get(i + 1) == Some(&b'u') => {
                let unit = hex4(text, i + 2);
                let is_high = unit.is_some_and(|u| (0xD800..0xDC00).contains(&u));
                let is_low = unit.is_some_and(|u| (0xDC00..0xE000).contains(&u));
                let paired = is_high
                    && text.get(i + 6) == Some(&b'\\')
                    && text.get(i + 7) == Some(&b'u')
                    && hex4(text, i + 8).is_some_and(|u| (0xDC00..0xE000).contains(&u));
                if paired {
                    i += 12;
                } else if is_high || is_low {
                    let o = out.get_or_insert_with(|| Vec::with_capacity(text.len()));
                    o.extend_from_slice(&text[copied..i]);
                    o.extend_from_slice(b"\\uFFFD");
                    i += 6;
                    copied = i;
                } else {
                    i += 2;
                }
            }
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    let mut o = out?;
    o.extend_from_slice(&text[copied.min(text.len())..]);
    Some(o)
}

/// The fields any after-command reads: each slot of [`RawBody`] and its JSON key.
macro_rules! fields {
    ($($slot:ident = $key:literal,)+) => {
        #[derive(Clone, Copy)]
        enum F {
            $($slot,)+
        }
        /// The keys, in [`F`]'s order.
        const FIELDS: &[&str] = &[$($key,)+];
    };
}

fields! {
    CallbackCommand = "CallbackCommand",
    OfficialAccount = "Official_Account",
    OperatorAccount = "Operator_Account",
    OwnerAccount = "Owner_Account",
    Name = "Name",
    Introduction = "Introduction",
    FaceUrl = "FaceUrl",
    Organization = "Organization",
    EventTime = "EventTime",
    SubscribeAccountList = "SubscribeAccountList",
    MsgKey = "MsgKey",
    MsgTime = "MsgTime",
    OnlineOnlyFlag = "OnlineOnlyFlag",
    MsgBody = "MsgBody",
    CloudCustomData = "CloudCustomData",
    WithdrawMsgList = "WithdrawMsgList",
}

impl F {
    /// This required field, named, made the event invalid.
    fn invalid(self, problem: &str) -> Unreadable {
        Unreadable::Invalid(FieldError::new(FIELDS[self as usize], problem))
    }
}

/// The body's known fields, as raw JSON slices of the body; the last occurrence of a
/// repeated key counts.
#[derive(Debug, Default)]
pub(crate) struct RawBody<'a>([Option<&'a RawValue>; FIELDS.len()]);

/// The body's `CallbackCommand`, as far as it can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyCommand<'a> {
    Absent,
    Present(Cow<'a, str>),
    /// Present but not a plain string.
    Invalid,
}

impl<'a> RawBody<'a> {
    /// Tokenizes a [`normalize`]d body (`pick`). Fails if it is not a JSON object.
    pub fn parse(body: &'a [u8]) -> Result<RawBody<'a>, BodyError> {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            return Err(BodyError(if first.is_none() {
                "body is empty: a JSON object is expected"
            } else {
                "body is not a JSON object"
            }));
        }
        let text = std::str::from_utf8(body).map_err(|_| BodyError("body is not valid UTF-8"))?;
        let mut slots = [None; FIELDS.len()];
        pick(text, FIELDS, &mut slots).map_err(|_| {
            BodyError("body is not valid JSON (or nested more than 128 levels deep)")
        })?;
        Ok(RawBody(slots))
    }

    /// A field's raw value; `null` reads as absent.
    fn get(&self, f: F) -> Option<&'a RawValue> {
        self.0[f as usize].filter(|r| r.get() != "null")
    }

    pub fn command(&self) -> BodyCommand<'a> {
        match self.get(F::CallbackCommand) {
            None => BodyCommand::Absent,
            Some(raw) => match serde_json::from_str::<CowStr<'a>>(raw.get()) {
                Ok(s) => BodyCommand::Present(s.0),
                Err(_) => BodyCommand::Invalid,
            },
        }
    }

    /// Builds the typed event of an after-command, for the SdkAppid `app`, reading only
    /// the fields the command uses: integers from integers, zero-fraction numbers or
    /// digit strings; strings from strings or integers; `null` as absent. Only a required
    /// field can make the event invalid; an optional one that cannot be read is left out
    /// and counted.
    pub(crate) fn into_event(
        self,
        command: AfterCommand,
        app: &str,
    ) -> Result<Reading, Unreadable> {
        let account = self.required(F::OfficialAccount, identifier)?;
        let event_time = self.required(F::EventTime, unsigned)?;
        let subscribers = || self.id_list(F::SubscribeAccountList, "Subscriber_Account");
        let mut r = Optional::default();
        let kind = match command {
            AfterCommand::CreateOfficialAccount => EventKind::Created {
                owner: r.id(self.get(F::OwnerAccount)),
                operator: r.id(self.get(F::OperatorAccount)),
                name: r.read(self.get(F::Name), text),
            },
            AfterCommand::OfficialAccountInfoChanged => EventKind::InfoChanged {
                operator: r.id(self.get(F::OperatorAccount)),
                fields: ProfileFields {
                    name: r.read(self.get(F::Name), text),
                    introduction: r.read(self.get(F::Introduction), text),
                    face_url: r.read(self.get(F::FaceUrl), text),
                    organization: r.read(self.get(F::Organization), text),
                },
            },
            AfterCommand::OfficialAccountDestroyed => EventKind::Destroyed {
                owner: r.id(self.get(F::OwnerAccount)),
                name: r.read(self.get(F::Name), text),
            },
            AfterCommand::OfficialAccountFull => EventKind::Full,
            AfterCommand::AddSubscriber => EventKind::SubscribersAdded {
                operator: r.id(self.get(F::OperatorAccount)),
                subscribers: subscribers()?,
            },
            AfterCommand::DeleteSubscriber => EventKind::SubscribersDeleted {
                operator: r.id(self.get(F::OperatorAccount)),
                subscribers: subscribers()?,
            },
            AfterCommand::SendMsg => EventKind::MessageSent(Message {
                msg_key: self.required(F::MsgKey, identifier)?,
                msg_time: r.read(self.get(F::MsgTime), unsigned),
                online_only_flag: r.read(self.get(F::OnlineOnlyFlag), signed),
                msg_body: msg_body(self.get(F::MsgBody), &mut r)?,
                cloud_custom_data: r.read(self.get(F::CloudCustomData), text),
            }),
            AfterCommand::MsgWithdraw => EventKind::MessagesWithdrawn {
                msg_keys: self.id_list(F::WithdrawMsgList, "MsgKey")?,
            },
        };
        Ok(Reading {
            event: Event {
                app: app.to_owned(),
                account,
                event_time,
                kind,
            },
            fields_dropped: r.dropped,
        })
    }

    /// A required field, as `read` reads it.
    fn required<T>(&self, f: F, read: fn(&RawValue) -> Option<T>) -> Result<T, Unreadable> {
        let raw = self.get(f).ok_or_else(|| f.invalid("is required"))?;
        read(raw).ok_or_else(|| f.invalid("has the wrong type or value"))
    }

    /// A required list of objects each carrying the identifier `key`, de-duplicated in
    /// the order first listed. An empty list is valid.
    fn id_list(&self, f: F, key: &str) -> Result<Vec<String>, Unreadable> {
        let raw = self.get(f).ok_or_else(|| f.invalid("is required"))?;
        let entries: Vec<&RawValue> = serde_json::from_str(raw.get())
            .map_err(|_| f.invalid("must be an array of objects"))?;
        let mut seen = HashSet::with_capacity(entries.len());
        let mut out = Vec::with_capacity(entries.len());
        for (i, entry) in entries.into_iter().enumerate() {
            let mut slot = [None];
            let value = pick(entry.get(), &[key], &mut slot)
                .ok()
                .and(slot[0])
                .filter(|r| r.get() != "null")
                .and_then(identifier)
                .ok_or_else(|| {
                    let field = format!("{}[{i}].{key}", FIELDS[f as usize]);
                    Unreadable::Invalid(FieldError::new(&field, "is missing or unreadable"))
                })?;
            if seen.insert(value.clone()) {
                out.push(value);
            }
        }
        Ok(out)
    }
}

/// Collects, for each of `names`, the raw value of its last occurrence in the JSON object
/// `text`. Other keys are skipped ([`IgnoredAny`]: no recursion, whatever their depth).
fn pick<'a>(
    text: &'a str,
    names: &[&str],
    slots: &mut [Option<&'a RawValue>],
) -> Result<(), serde_json::Error> {
    struct Pick<'s, 'a> {
        names: &'s [&'s str],
        slots: &'s mut [Option<&'a RawValue>],
    }
    impl<'de> Visitor<'de> for Pick<'_, 'de> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<CowStr<'de>>()? {
                match self.names.iter().position(|n| *n == key.0) {
                    Some(i) => self.slots[i] = Some(map.next_value()?),
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    (&mut de).deserialize_map(Pick { names, slots })?;
    de.end()
}

/// Reads optional fields, counting those present but unreadable.
#[derive(Default)]
struct Optional {
    dropped: u32,
}

impl Optional {
    fn read<T>(&mut self, raw: Option<&RawValue>, read: fn(&RawValue) -> Option<T>) -> Option<T> {
        let value = read(raw?);
        if value.is_none() {
            self.dropped += 1;
        }
        value
    }

    /// An optional identifier; an empty string counts as absent.
    fn id(&mut self, raw: Option<&RawValue>) -> Option<String> {
        match self.read(raw, text)? {
            s if s.is_empty() => None,
            s if has_control(&s) => {
                self.dropped += 1;
                None
            }
            s => Some(s),
        }
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// At least one ASCII digit, and nothing else.
fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A scalar field's value, parsed on its own (a few bytes).
fn scalar(raw: &RawValue) -> Option<Value> {
    serde_json::from_str(raw.get()).ok()
}

/// A string field: a JSON string, or a JSON integer as its decimal text.
fn text(raw: &RawValue) -> Option<String> {
    match scalar(raw)? {
        Value::String(s) => Some(s),
        Value::Number(n) => {
            let t = n.to_string();
            all_digits(t.strip_prefix('-').unwrap_or(&t)).then_some(t)
        }
        _ => None,
    }
}

/// An identifier: a non-empty string (or integer) without control characters.
fn identifier(raw: &RawValue) -> Option<String> {
    text(raw).filter(|s| !s.is_empty() && !has_control(s))
}

/// An integer field: a JSON integer, a number with a zero fraction, or a string of
/// digits (a leading `-` where `signed`).
fn integer(raw: &RawValue, signed: bool) -> Option<i128> {
    match scalar(raw)? {
        Value::Number(n) => integer_of_number(&n.to_string()),
        Value::String(s) => {
            let digits = s.strip_prefix('-').filter(|_| signed).unwrap_or(&s);
            (digits.len() <= 30 && all_digits(digits)).then(|| s.parse().ok())?
        }
        _ => None,
    }
}

fn unsigned(raw: &RawValue) -> Option<u64> {
    u64::try_from(integer(raw, false)?).ok()
}

fn signed(raw: &RawValue) -> Option<i64> {
    i64::try_from(integer(raw, true)?).ok()
}

/// The exact integer a JSON number's text denotes (`12`, `12.0`, `1.2e1`), if it is one.
/// Works on the digits, never through a binary float.
fn integer_of_number(text: &str) -> Option<i128> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i32>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = [int, frac].concat();
    let scale = exponent.checked_sub(i32::try_from(frac.len()).ok()?)?;
    let digits = digits.trim_start_matches('0');
    let (digits, scale) = if scale < 0 {
        let cut = usize::try_from(-scale).ok()?;
        if cut > digits.len() {
            // All the significant digits are fractional: only zero is an integer.
            return digits.bytes().all(|b| b == b'0').then_some(0);
        }
        let (keep, drop) = digits.split_at(digits.len() - cut);
        if !drop.bytes().all(|b| b == b'0') {
            return None;
        }
        (keep, 0)
    } else {
        (digits, scale)
    };
    if digits.is_empty() {
        return Some(0);
    }
    if digits.len() + usize::try_from(scale).ok()? > 38 {
        return None;
    }
    let mut value: i128 = digits.parse().ok()?;
    for _ in 0..scale {
        value = value.checked_mul(10)?;
    }
    Some(if negative { -value } else { value })
}

/// `MsgBody`: an array of message elements (objects), numbers kept digit for digit.
/// Not an array of objects: left out (optional). Deeper than it can be parsed: the
/// event cannot be stored as it is (row 12a).
fn msg_body(raw: Option<&RawValue>, r: &mut Optional) -> Result<Option<Value>, Unreadable> {
    let Some(raw) = raw else { return Ok(None) };
    if json_depth(raw.get()) >= MAX_PARSE_DEPTH {
        let e = FieldError::new("MsgBody", "is nested too deeply to store");
        return Err(Unreadable::TooDeep(e));
    }
    Ok(r.read(Some(raw), |raw| {
        let value: Value = serde_json::from_str(raw.get()).ok()?;
        let Value::Array(elements) = &value else {
            return None;
        };
        elements.iter().all(Value::is_object).then_some(value)
    }))
}

/// The deepest nesting of arrays and objects in a JSON text (strings skipped).
fn json_depth(text: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// A string that borrows from the body when it has no escapes.
#[derive(Deserialize)]
#[serde(transparent)]
struct CowStr<'a>(#[serde(borrow)] Cow<'a, str>);

#[cfg(test)]
mod tests {
    use super::*;

    fn read(cmd: AfterCommand, body: impl AsRef<[u8]>) -> Result<Reading, Unreadable> {
        let body = normalize(body.as_ref());
        RawBody::parse(&body)
            .map_err(|e| Unreadable::Invalid(FieldError(e.0.into())))?
            .into_event(cmd, "1400000001")
    }

    fn event(cmd: AfterCommand, body: impl AsRef<[u8]>) -> Result<Event, Unreadable> {
        read(cmd, body).map(|r| r.event)
    }

    fn ok(cmd: AfterCommand, body: impl AsRef<[u8]>) -> Event {
        event(cmd, body).expect("an event")
    }

    /// The `Name` a create event reads.
    fn created_name(body: impl AsRef<[u8]>) -> Option<String> {
        match ok(AfterCommand::CreateOfficialAccount, body).kind {
            EventKind::Created { name, .. } => name,
            other => panic!("{other:?}"),
        }
    }

    /// An array nested 10,000 deep.
    fn deep() -> String {
        format!("{}{}", "[".repeat(10000), "]".repeat(10000))
    }

    #[test]
    fn seed_create_sample() {
        let e = ok(
            AfterCommand::CreateOfficialAccount,
            r#"{"CallbackCommand":"OfficialAccount.CallbackAfterCreateOfficialAccount","Official_Account":"@TOA#_test_OA_for_penn","Operator_Account":"107867","Owner_Account":"107867","Name":"TestOfficialAccount","EventTime":1670574414123}"#,
        );
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
        let e = ok(
            AfterCommand::AddSubscriber,
            r#"{"Official_Account":"@TOA#_a","EventTime":"5","SubscribeAccountList":[{"Subscriber_Account":"b"},{"Subscriber_Account":"a","x":1},{"Subscriber_Account":"b"},{"Subscriber_Account":"\u0062"}]}"#,
        );
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
    fn integer_fields_take_integers_zero_fractions_and_digit_strings() {
        let t = |v: &str| {
            event(
                AfterCommand::OfficialAccountFull,
                format!(r#"{{"Official_Account":"@TOA#_a","EventTime":{v}}}"#),
            )
            .map(|e| e.event_time)
        };
        for (given, want) in [
            ("1670574414123", 1670574414123),
            ("\"1670574414123\"", 1670574414123),
            ("1735689900123.0", 1735689900123),
            ("1735689900123.000", 1735689900123),
            ("1.735689900123e12", 1735689900123),
            ("1735689900123E0", 1735689900123),
            ("1e3", 1000),
            ("0.0", 0),
            ("18446744073709551615", u64::MAX),
        ] {
            assert_eq!(t(given), Ok(want), "{given}");
        }
        for bad in [
            "-1",
            "1.5",
            "1735689900123.4",
            "1e-3",
            "\"abc\"",
            "\"\"",
            "\"-1\"",
            "\"1.0\"",
            "1e30",
            "null",
            "true",
            "[]",
            "{}",
            "18446744073709551616",
        ] {
            assert!(t(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn exact_integers_never_go_through_a_float() {
        for (number, want) in [
            ("9007199254740993", Some(9007199254740993)),
            ("9007199254740993.0", Some(9007199254740993)),
            ("-12.50e1", Some(-125)),
            ("1.25e1", None),
            ("0.000", Some(0)),
            ("1e400", None),
        ] {
            assert_eq!(integer_of_number(number), want, "{number}");
        }
    }

    #[test]
    fn optional_fields_that_cannot_be_read_are_left_out_and_counted() {
        let r = read(
            AfterCommand::SendMsg,
            r#"{"Official_Account":"@TOA#_a","EventTime":1,"MsgKey":"k","MsgTime":"soon","OnlineOnlyFlag":"1","MsgBody":{"a":1},"CloudCustomData":[1]}"#,
        )
        .unwrap();
        assert_eq!(r.fields_dropped, 3);
        let m = Message {
            msg_key: "k".into(),
            msg_time: None,
            online_only_flag: Some(1),
            msg_body: None,
            cloud_custom_data: None,
        };
        assert_eq!(r.event.kind, EventKind::MessageSent(m));
        let r = read(
            AfterCommand::CreateOfficialAccount,
            r#"{"Official_Account":"@TOA#_a","EventTime":1,"Operator_Account":107867,"Owner_Account":"a\u0001","Name":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(r.fields_dropped, 2);
        assert_eq!(
            r.event.kind,
            EventKind::Created {
                owner: None,
                operator: Some("107867".into()),
                name: None
            }
        );
        // null is absent, not unreadable.
        let r = read(
            AfterCommand::CreateOfficialAccount,
            r#"{"Official_Account":"@TOA#_a","EventTime":1,"Name":null}"#,
        )
        .unwrap();
        assert_eq!(r.fields_dropped, 0);
    }

    #[test]
    fn required_fields_name_the_field_not_its_content() {
        let (Unreadable::Invalid(e) | Unreadable::TooDeep(e)) = event(
            AfterCommand::AddSubscriber,
            r#"{"Official_Account":"@TOA#_a","EventTime":1,"SubscribeAccountList":[{"Subscriber_Account":"ok"},{"Subscriber_Account":{"v":"12345"}}]}"#,
        )
        .unwrap_err();
        let msg = e.to_string();
        let named = "SubscribeAccountList[1].Subscriber_Account is missing or unreadable";
        assert_eq!(msg, named);
        assert!(!msg.contains("12345"), "{msg}");
        let missing = Err(Unreadable::Invalid(FieldError("MsgKey is required".into())));
        for body in [
            r#"{"Official_Account":"@TOA#_a","EventTime":1}"#,
            r#"{"Official_Account":"@TOA#_a","EventTime":1,"MsgKey":null}"#,
        ] {
            assert_eq!(event(AfterCommand::SendMsg, body), missing, "{body}");
        }
    }

    #[test]
    fn identifiers_are_checked() {
        let oa = |v: &str| {
            event(
                AfterCommand::OfficialAccountFull,
                format!(r#"{{"Official_Account":{v},"EventTime":1}}"#),
            )
        };
        for bad in [r#""""#, r#""a\u0000b""#, r#""a\nb""#, "null", "1.5"] {
            assert!(oa(bad).is_err(), "{bad}");
        }
        assert_eq!(oa("5").map(|e| e.account), Ok("5".to_owned()));
        let long = "123456789012345678901234567890";
        assert_eq!(oa(long).map(|e| e.account), Ok(long.to_owned()));
    }

    #[test]
    fn irrelevant_fields_of_any_type_are_ignored() {
        ok(
            AfterCommand::OfficialAccountFull,
            r#"{"Official_Account":"@TOA#_a","EventTime":1,"Name":5,"MsgBody":"x","Extra":{"a":[1,2]}}"#,
        );
    }

    #[test]
    fn repeated_keys_last_one_counts() {
        let e = ok(
            AfterCommand::CreateOfficialAccount,
            r#"{"Official_Account":"@TOA#_x","Name":"first","EventTime":1,"Official_Account":"@TOA#_a","Name":"second","EventTime":2}"#,
        );
        assert_eq!((e.account.as_str(), e.event_time), ("@TOA#_a", 2));
        assert!(matches!(e.kind, EventKind::Created { name: Some(ref n), .. } if n == "second"));
        // In list entries too.
        let e = ok(
            AfterCommand::AddSubscriber,
            r#"{"Official_Account":"@TOA#_a","EventTime":1,"SubscribeAccountList":[{"Subscriber_Account":"x","Subscriber_Account":"y"}]}"#,
        );
        assert!(
            matches!(e.kind, EventKind::SubscribersAdded { ref subscribers, .. } if subscribers == &["y"])
        );
    }

    #[test]
    fn byte_order_mark_lone_surrogates_and_broken_utf8() {
        let bom =
            "\u{feff}{\"Official_Account\":\"@TOA#_a\",\"EventTime\":1,\"Name\":\"cut \\ud83d\"}";
        assert_eq!(created_name(bom).as_deref(), Some("cut \u{fffd}"));
        // A lone low surrogate, a pair kept, an escaped backslash before `ud83d`.
        assert_eq!(
            created_name(
                r#"{"Official_Account":"@TOA#_a","EventTime":1,"Name":"\udc00-\ud83d\ude00-\\ud83d-\uD83D"}"#
            )
            .as_deref(),
            Some("\u{fffd}-😀-\\ud83d-\u{fffd}")
        );
        let body = b"{\"Official_Account\":\"@TOA#_a\",\"EventTime\":1,\"Name\":\"x\xff\xf0\x9f\"}";
        let name = created_name(body).expect("a name");
        assert!(name.starts_with('x') && name.contains('\u{fffd}'), "{name}");
        // Nothing to change: borrowed.
        assert!(matches!(normalize(b"{}"), Cow::Borrowed(_)));
    }

    #[test]
    fn msg_body_numbers_are_kept_digit_for_digit() {
        let e = ok(
            AfterCommand::SendMsg,
            r#"{"Official_Account":"@TOA#_a","EventTime":1,"MsgKey":"k","MsgBody":[{"MsgContent":{"OrderNo":171717171717171717171,"Amount":1584097275961.1234}}]}"#,
        );
        let EventKind::MessageSent(m) = e.kind else {
            panic!("a send")
        };
        let body = m.msg_body.expect("kept");
        let content = &body[0]["MsgContent"];
        assert_eq!(content["OrderNo"].to_string(), "171717171717171717171");
        assert_eq!(content["Amount"].to_string(), "1584097275961.1234");
    }

    #[test]
    fn msg_body_too_deep_is_unstorable_not_dropped() {
        let deep_body = format!(
            "{{\"Official_Account\":\"a\",\"EventTime\":1,\"MsgKey\":\"k\",\"MsgBody\":[{}]}}",
            deep()
        );
        assert!(matches!(
            event(AfterCommand::SendMsg, &deep_body),
            Err(Unreadable::TooDeep(_))
        ));
    }

    #[test]
    fn body_shape_errors() {
        for b in ["", "  ", "null", "[]", "\"x\"", "5", "{", "{\"a\":1}x"] {
            assert!(RawBody::parse(b.as_bytes()).is_err(), "{b:?}");
        }
        // Unknown fields are skipped without recursion: deep nesting there is harmless.
        let deep_unknown = format!("{{\"x\":{}}}", deep());
        assert!(RawBody::parse(deep_unknown.as_bytes()).is_ok());
        let deep_entry = format!(
            "{{\"Official_Account\":\"a\",\"EventTime\":1,\"SubscribeAccountList\":[{{\"Subscriber_Account\":\"u\",\"x\":{}}}]}}",
            deep()
        );
        assert!(event(AfterCommand::AddSubscriber, &deep_entry).is_ok());
    }

    #[test]
    fn body_command_is_read() {
        fn command(body: &str) -> BodyCommand<'_> {
            RawBody::parse(body.as_bytes()).unwrap().command()
        }
        let x = BodyCommand::Present("X".into());
        assert_eq!(command(r#"{"CallbackCommand":"X"}"#), x);
        assert_eq!(
            command(r#"{"CallbackCommand":"Y","CallbackCommand":"X"}"#),
            x
        );
        assert_eq!(command(r#"{"CallbackCommand":5}"#), BodyCommand::Invalid);
        assert_eq!(command(r#"{"CallbackCommand":null}"#), BodyCommand::Absent);
    }
}
