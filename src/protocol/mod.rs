//! Tencent Cloud Chat's webhook protocol: the query, the signature, the commands and
//! the reply. Nothing here knows about AWS.
//!
//! [`admit`] runs the checks of contract section 2, rows 1 to 11, in order, and either
//! answers the request itself or hands back a typed [`Event`] to store.

pub mod body;
pub mod query;
pub mod signature;

/// `ALLOWED_SOURCE_CIDRS`' list (row 1a), read by [`crate::config`].
pub use crate::allow_list as source;
use crate::config::Config;
use crate::events::{CommandKind, Event};
use crate::outcome::{AuthError, Outcome, Reason};
use body::{BodyCommand, RawBody, Unreadable};
use query::{Param, Query};
use std::borrow::Cow;
use std::net::IpAddr;

/// Largest body accepted, in bytes (contract row 6).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A callback as the protocol sees it (Tencent's term for the request it sends,
/// docs/protocol.md).
#[derive(Debug)]
pub struct Callback<'a> {
    pub method: &'a str,
    /// The source address the front door reports for the connection (row 1a); `None`
    /// when the event has none, or not a valid address.
    pub source_ip: Option<IpAddr>,
    pub query: Query<'a>,
    /// The query string as received, URL-encoded (what a relay sends on, section 7).
    pub raw_query: Cow<'a, str>,
    /// The request was relayed here by this function (`relay::HOP_HEADER`): it is never
    /// relayed again.
    pub relayed: bool,
    /// The body, base64-decoded when the event said so (by `lambda_http` at the webhook
    /// door, where an undecodable body is the runtime's invocation error: only a forged
    /// invoke carries one; by the envelope at the queue door).
    pub body: Cow<'a, [u8]>,
}

/// What to do with a request.
#[derive(Debug)]
pub enum Admission {
    /// Answer now, write nothing: a probe, another product, a before-callback, a refusal.
    Answer(Outcome),
    /// Store this event, then answer.
    Store(Event),
    /// Relay the request to `FORWARD_URL` and answer with the backend's reply (rows 8
    /// and 9 when it is set, contract section 7). The outcome is what the answer would be
    /// without it.
    Relay(Outcome),
}

/// What [`admit`] found out, for the request's log line.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub app: Option<String>,
    pub command: Option<String>,
    /// Optional fields of an after-event left out because they could not be read
    /// (docs/contract.md section 2, "Reading fields").
    pub fields_dropped: u32,
}

/// What a step of [`admit_with`] decided: `Err` is the answer, at once.
type Answer = Result<Admission, Outcome>;

/// A refusal, as a step's answer.
fn refuse<T>(reason: Reason, info: impl Into<Cow<'static, str>>) -> Result<T, Outcome> {
    Err(Outcome::rejected(reason, info))
}

/// Rows 8 and 9: relayed when `FORWARD_URL` is set and the checks are an arrival's (our
/// own relays coming back, and queued events, never are), else answered with `outcome`.
fn relay_or(req: &Callback<'_>, config: &Config, checks: Checks, outcome: Outcome) -> Answer {
    if checks == Checks::Arrival && config.forward_url.is_some() && !req.relayed {
        Ok(Admission::Relay(outcome))
    } else {
        Err(outcome)
    }
}

/// Which of the caller's checks a request goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checks {
    /// A request as it reaches the webhook: every row, 1 to 11; rows 8 and 9 relayed when
    /// `FORWARD_URL` is set (contract section 7).
    Arrival,
    /// An event from the hand-off or dead-letter queue (contract section 5): its source
    /// address (row 1a) and signature (row 3) were checked on arrival, and its
    /// `RequestTime` is long past now; it is an after-event, never relayed.
    Queued,
}

/// Contract section 2, rows 1-11, in order, for a request as it arrives
/// ([`Checks::Arrival`]; `now`: Unix seconds).
pub fn admit(req: &Callback<'_>, config: &Config, now: u64, seen: &mut Seen) -> Admission {
    admit_with(req, config, Checks::Arrival, now, seen)
}

/// Contract section 2, rows 1-11, in three steps: the caller's checks (rows 1-3, as
/// `checks` says), reading the command (rows 4-7), routing on it (rows 8-11). `now` is
/// Unix seconds.
pub(crate) fn admit_with(
    req: &Callback<'_>,
    config: &Config,
    checks: Checks,
    now: u64,
    seen: &mut Seen,
) -> Admission {
    check_caller(req, config, checks, now, seen)
        .and_then(|app| {
            let normalized = body::normalize(&req.body);
            let read = read_command(req, app, &normalized, seen)?;
            route(req, config, checks, read, seen)
        })
        .unwrap_or_else(Admission::Answer)
}

/// Rows 1-3: the method, the source address, a SdkAppid that is present, the signature.
/// The query's SdkAppid, or the refusal.
fn check_caller<'q>(
    req: &'q Callback<'_>,
    config: &Config,
    checks: Checks,
    now: u64,
    seen: &mut Seen,
) -> Result<Param<'q>, Outcome> {
    // 1. Method.
    if !req.method.eq_ignore_ascii_case("POST") {
        return refuse(Reason::Method, "method not allowed: use POST");
    }

    // 1a. The source address, when an allow-list is configured. No address: refused.
    if let (Checks::Arrival, Some(allowed)) = (checks, &config.allowed_sources) {
        if !req.source_ip.is_some_and(|ip| allowed.contains(ip)) {
            return refuse(
                Reason::SourceNotAllowed,
                "the source address is not allowed to call this webhook",
            );
        }
    }

    // 2. A SdkAppid that is present must be one of ours.
    let app = req.query.get("SdkAppid");
    match app {
        Param::One(a) => {
            seen.app = Some(log_safe(a));
            if !config.is_configured_app(a) {
                return refuse(Reason::SdkAppidUnknown, "SdkAppid is not configured here");
            }
        }
        Param::Conflicting => {
            return refuse(
                Reason::SdkAppidRepeated,
                "SdkAppid is given twice with different values",
            );
        }
        Param::Missing => {}
    }

    // 3. Signature, when a token is configured.
    if let (Checks::Arrival, Some(token)) = (checks, &config.callback_token) {
        let one = |key, missing| match req.query.get(key) {
            Param::One(v) => Ok(v),
            Param::Missing => Err(missing),
            Param::Conflicting => Err(AuthError::RepeatedParameter),
        };
        let signed = one("Sign", AuthError::MissingSign).and_then(|sign| {
            let time = one("RequestTime", AuthError::MissingRequestTime)?;
            signature::verify(&token.current(), sign, time, now, config.max_skew_secs)
        });
        if let Err(e) = signed {
            return refuse(Reason::Auth(e), e.to_string());
        }
    }
    Ok(app)
}

/// What rows 4-7 read: the app, the command, the body.
struct Read<'q, 'b> {
    app: &'q str,
    command: Cow<'b, str>,
    body: RawBody<'b>,
}

/// Rows 4-7: a probe, the SdkAppid required from here on, the size, the body a JSON
/// object whose command agrees with the query's. The answer when one of them decides.
fn read_command<'q, 'b>(
    req: &'q Callback<'_>,
    app: Param<'q>,
    normalized: &'b [u8],
    seen: &mut Seen,
) -> Result<Read<'q, 'b>, Outcome>
where
    'q: 'b,
{
    // 4. No CallbackCommand anywhere: a connectivity probe.
    let query_command = req.query.get("CallbackCommand");
    // The body is tokenized only when needed: here if the query has no command,
    // otherwise after the size check.
    let mut parsed: Option<Result<RawBody<'b>, _>> = None;
    if query_command == Param::Missing {
        let p = RawBody::parse(normalized);
        if !matches!(&p, Ok(b) if b.command() != BodyCommand::Absent) {
            return Err(Outcome::Probe);
        }
        parsed = Some(p);
    }

    // 5. SdkAppid required from here on.
    let Param::One(app) = app else {
        return refuse(
            Reason::SdkAppidMissing,
            "SdkAppid is missing from the query",
        );
    };

    // 6. Size.
    if req.body.len() > MAX_BODY_BYTES {
        return refuse(Reason::BodyTooLarge, "body is larger than 1 MiB");
    }

    // 7. A JSON object whose CallbackCommand agrees with the query's.
    let body = parsed
        .unwrap_or_else(|| RawBody::parse(normalized))
        .map_err(|e| Outcome::rejected(Reason::BodyNotObject, e.0))?;
    let command: Cow<'b, str> = match (query_command, body.command()) {
        (Param::Conflicting, _) => {
            return refuse(
                Reason::CommandRepeated,
                "CallbackCommand is given twice with different values",
            )
        }
        (_, BodyCommand::Invalid) => {
            return refuse(
                Reason::CommandInvalid,
                "body CallbackCommand is not a string",
            )
        }
        (Param::One(q), BodyCommand::Present(b)) if q != b => {
            return refuse(
                Reason::CommandMismatch,
                "CallbackCommand in the body differs from the query's",
            )
        }
        (Param::One(q), _) => Cow::Borrowed(q),
        (Param::Missing, BodyCommand::Present(b)) => b,
        // Row 4 returned when neither had one.
        (Param::Missing, BodyCommand::Absent) => return Err(Outcome::Probe),
    };
    seen.command = Some(log_safe(&command));
    Ok(Read { app, command, body })
}

/// Rows 8-11: another product, an unknown or a before-command, or an after-event with
/// its required fields.
fn route(
    req: &Callback<'_>,
    config: &Config,
    checks: Checks,
    read: Read<'_, '_>,
    seen: &mut Seen,
) -> Answer {
    let after = match CommandKind::of(&read.command) {
        CommandKind::NotOfficialAccount => return relay_or(req, config, checks, Outcome::Ignored),
        CommandKind::UnknownOfficialAccount => return Err(Outcome::Ignored),
        CommandKind::Before => return relay_or(req, config, checks, Outcome::Allowed),
        CommandKind::After(c) => c,
    };

    // 11. Required fields.
    match read.body.into_event(after, read.app) {
        Ok(reading) => {
            seen.fields_dropped = reading.fields_dropped;
            Ok(Admission::Store(reading.event))
        }
        Err(Unreadable::Invalid(e)) => refuse(Reason::InvalidField, e.0),
        // 12a: readable, but no store can hold it as it is.
        Err(Unreadable::TooDeep(e)) => refuse(Reason::Unstorable, e.0),
    }
}

/// A request value (command, SdkAppid) for the log: at most 64 characters of
/// `[A-Za-z0-9._]`, others shown as `?`, so a hostile value cannot smuggle text or
/// secrets into logs.
fn log_safe(value: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '_';
    value
        .chars()
        .take(64)
        .map(|c| if safe(c) { c } else { '?' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ForwardUrl;
    use source::SourceAllowList;

    fn config(token: Option<&str>) -> Config {
        Config {
            table_name: "t".into(),
            sdk_app_ids: vec!["1400000001".into()],
            callback_token: token.map(crate::token::CallbackToken::from),
            ..Config::default()
        }
    }

    /// A POST from 203.0.113.10, not relayed.
    fn callback<'a>(query: &'a str, body: &'a str) -> Callback<'a> {
        Callback {
            method: "POST",
            source_ip: Some([203, 0, 113, 10].into()),
            query: Query::parse(query),
            raw_query: Cow::Borrowed(query),
            relayed: false,
            body: Cow::Borrowed(body.as_bytes()),
        }
    }

    /// What was decided, in a line: `"403 sdkappid_unknown"` (status, then the reason of
    /// a refusal or the outcome of another answer), `"store CreateOfficialAccount"`,
    /// `"relay allowed"`.
    fn admitted(req: &Callback<'_>, config: &Config, checks: Checks) -> String {
        match admit_with(req, config, checks, 1669872112, &mut Seen::default()) {
            Admission::Answer(o) if o.is_rejected() => {
                format!("{} {}", o.reply().status, o.reason())
            }
            Admission::Answer(o) => format!("{} {}", o.reply().status, o.label()),
            Admission::Store(e) => format!("store {:?}", e.command()),
            Admission::Relay(o) => format!("relay {}", o.label()),
        }
    }

    fn run(method: &str, query: &str, body: &str, token: Option<&str>) -> String {
        let req = Callback {
            method,
            ..callback(query, body)
        };
        admitted(&req, &config(token), Checks::Arrival)
    }

    const CREATE: &str =
        "SdkAppid=1400000001&CallbackCommand=OfficialAccount.CallbackAfterCreateOfficialAccount";
    const BODY: &str = r#"{"CallbackCommand":"OfficialAccount.CallbackAfterCreateOfficialAccount","Official_Account":"@TOA#_a","EventTime":1}"#;
    const STORED: &str = "store CreateOfficialAccount";
    const BEFORE: &str =
        "SdkAppid=1400000001&CallbackCommand=OfficialAccount.CallbackBeforeSendMsg";

    /// A queued event was checked on arrival: neither its source address nor its long
    /// past `RequestTime` refuses it now, and it is never relayed.
    #[test]
    fn queued_events_skip_the_arrival_checks() {
        let mut config = config(Some("tok"));
        config.allowed_sources = SourceAllowList::parse("192.0.2.0/24").expect("CIDR");
        config.forward_url = Some(ForwardUrl::parse("https://backend.example/cb").expect("URL"));
        let unplaced = |query, body| Callback {
            source_ip: None,
            ..callback(query, body)
        };
        let queued = |req: &Callback<'_>| admitted(req, &config, Checks::Queued);
        let create = unplaced(CREATE, BODY);
        let arrived = admitted(&create, &config, Checks::Arrival);
        assert_eq!(arrived, "403 source_not_allowed");
        assert_eq!(queued(&create), STORED);
        let body = r#"{"CallbackCommand":"OfficialAccount.CallbackBeforeSendMsg"}"#;
        assert_eq!(queued(&unplaced(BEFORE, body)), "200 allowed");
        // Every other row still holds.
        let other_app = unplaced("SdkAppid=9&CallbackCommand=x", "{}");
        assert_eq!(queued(&other_app), "403 sdkappid_unknown");
    }

    #[test]
    fn rows_in_order() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        let app = "SdkAppid=1400000001";
        let send = r#"{"CallbackCommand":"OfficialAccount.CallbackAfterSendMsg"}"#;
        let group = "SdkAppid=1400000001&CallbackCommand=Group.CallbackAfterNewMemberJoin";
        let new = "SdkAppid=1400000001&CallbackCommand=OfficialAccount.CallbackAfterNew";
        let no_app = "CallbackCommand=X";
        for (method, query, body, token, want) in [
            ("GET", "SdkAppid=9", "", None, "405 method"),
            ("POST", "SdkAppid=9", "", None, "403 sdkappid_unknown"),
            ("POST", app, "", Some("tok"), "401 sign_missing"),
            ("POST", app, "", None, "200 probe"),
            ("POST", "", "{}", None, "200 probe"),
            ("POST", no_app, "{}", None, "403 sdkappid_missing"),
            ("POST", CREATE, big.as_str(), None, "413 body_too_large"),
            ("POST", CREATE, "[]", None, "400 body_not_object"),
            ("POST", CREATE, send, None, "400 command_mismatch"),
            ("POST", group, "{}", None, "200 ignored"),
            ("POST", BEFORE, "{}", None, "200 allowed"),
            ("POST", new, "{}", None, "200 ignored"),
            ("POST", CREATE, "{}", None, "400 invalid_field"),
            ("POST", CREATE, BODY, None, STORED),
        ] {
            assert_eq!(run(method, query, body, token), want, "{method} {query}");
        }
    }

    #[test]
    fn row1a_source_allow_list_after_the_method_before_sdkappid() {
        let mut cfg = config(None);
        cfg.allowed_sources =
            SourceAllowList::parse("203.0.113.0/24, 2001:db8::/32").expect("valid");
        let run = |method: &str, ip: Option<&str>, query: &str| {
            let req = Callback {
                method,
                source_ip: ip.map(|s| s.parse().expect("an address")),
                ..callback(query, BODY)
            };
            admitted(&req, &cfg, Checks::Arrival)
        };
        let outside = Some("192.0.2.1");
        assert_eq!(run("GET", outside, CREATE), "405 method");
        assert_eq!(run("POST", outside, CREATE), "403 source_not_allowed");
        assert_eq!(run("POST", None, CREATE), "403 source_not_allowed");
        // Before row 2: an unknown SdkAppid from outside is refused for its source.
        assert_eq!(run("POST", outside, "SdkAppid=9"), "403 source_not_allowed");
        let inside = Some("203.0.113.77");
        assert_eq!(run("POST", inside, CREATE), STORED);
        assert_eq!(run("POST", Some("2001:db8::5"), CREATE), STORED);
        assert_eq!(run("POST", Some("::ffff:203.0.113.77"), CREATE), STORED);
        assert_eq!(run("POST", inside, "SdkAppid=9"), "403 sdkappid_unknown");
    }

    #[test]
    fn rows_8_and_9_are_relayed_when_forward_url_is_set_row_10_never() {
        let mut cfg = config(None);
        cfg.forward_url = Some(ForwardUrl::parse("http://backend/cb").unwrap());
        let route_hop = |command: &str, relayed: bool| {
            let query = format!("SdkAppid=1400000001&CallbackCommand={command}");
            let req = Callback {
                relayed,
                ..callback(&query, "{}")
            };
            admitted(&req, &cfg, Checks::Arrival)
        };
        let route = |command: &str| route_hop(command, false);
        assert_eq!(route("Group.CallbackAfterNewMemberJoin"), "relay ignored");
        assert_eq!(route("C2C.CallbackBeforeSendMsg"), "relay ignored");
        let before = "OfficialAccount.CallbackBeforeSendMsg";
        assert_eq!(route(before), "relay allowed");
        assert_eq!(route("OfficialAccount.CallbackAfterNew"), "200 ignored");
        // One of our own relays coming back (FORWARD_URL pointing at this function):
        // answered here, not relayed again.
        assert_eq!(route_hop("C2C.CallbackBeforeSendMsg", true), "200 ignored");
        assert_eq!(route_hop(before, true), "200 allowed");
        // Without FORWARD_URL, the same rows answer here.
        let c2c = "SdkAppid=1400000001&CallbackCommand=C2C.CallbackBeforeSendMsg";
        assert_eq!(run("POST", c2c, "{}", None), "200 ignored");
    }

    #[test]
    fn command_only_in_body_is_enough() {
        assert_eq!(run("POST", "SdkAppid=1400000001", BODY, None), STORED);
    }

    #[test]
    fn signed_request_passes() {
        let q = format!(
            "{CREATE}&Sign=17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061&RequestTime=1669872112"
        );
        assert_eq!(run("POST", &q, BODY, Some("xxxxyyyy")), STORED);
        assert_eq!(run("POST", &q, BODY, Some("other")), "401 sign_mismatch");
        // Token unset: a Sign present is ignored.
        assert_eq!(run("POST", &q, BODY, None), STORED);
    }
}
