//! Configuration from the environment, read and validated once at start.

use crate::allow_list::SourceAllowList;
use crate::token::CallbackToken;
use std::fmt;

pub(crate) const DEFAULT_MAX_SKEW_SECS: u64 = 60;
/// How long the queue consumer may spend on one record unless `QUEUE_RECORD_BUDGET_MS`
/// says otherwise (docs/contract.md section 5; the consumer's Lambda timeout is 30 s).
pub(crate) const DEFAULT_QUEUE_RECORD_BUDGET_MS: u64 = 20_000;

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    /// Configured SdkAppids (digits).
    pub sdk_app_ids: Vec<String>,
    /// Webhook-authentication token; `None` when authentication is off. From
    /// `CALLBACK_TOKEN`; with `CALLBACK_TOKEN_ARN`, set at start from the secret
    /// ([`Config::callback_token_arn`], `main`).
    pub callback_token: Option<CallbackToken>,
    /// `CALLBACK_TOKEN_ARN`: the secret that holds the token (docs/contract.md section 1;
    /// src/token.rs).
    pub callback_token_arn: Option<String>,
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER`: where the secret is read (tests, local runs).
    pub secrets_manager_endpoint: Option<String>,
    pub max_skew_secs: u64,
    /// SQS queue for after-events the table could not take in time (contract section 5).
    pub handoff_queue_url: Option<String>,
    /// SQS queue for after-events that can never be stored (rows 11, 12a).
    pub dead_letter_queue_url: Option<String>,
    /// The queue consumer's time budget for one record (`QUEUE_RECORD_BUDGET_MS`).
    pub queue_record_budget_ms: u64,
    /// `ALLOWED_SOURCE_CIDRS` (contract row 1a); `None`: every source address.
    pub allowed_sources: Option<SourceAllowList>,
    /// `FORWARD_URL` (contract section 7): where rows 8 and 9 are relayed; `None`: they
    /// are answered here.
    pub forward_url: Option<ForwardUrl>,
}

/// `FORWARD_URL`, checked at start: an absolute `http` or `https` URL with a host, no
/// fragment. It may carry a query of its own; the received query is appended to it.
#[derive(Clone, PartialEq, Eq)]
pub struct ForwardUrl(String);

impl ForwardUrl {
    pub(crate) const VARIABLE: &'static str = "FORWARD_URL";

    pub fn parse(text: &str) -> Result<ForwardUrl, ConfigError> {
        let err = |problem: &str| ConfigError {
            variable: Self::VARIABLE,
            problem: problem.to_owned(),
        };
        let text = text.trim();
        let rest = if text.len() > 8 && text[..8].eq_ignore_ascii_case("https://") {
            &text[8..]
        } else if text.len() > 7 && text[..7].eq_ignore_ascii_case("http://") {
            &text[7..]
        } else {
            return Err(err("must be an absolute http:// or https:// URL"));
        };
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        if host.is_empty() || host.starts_with(':') {
            return Err(err("has no host"));
        }
        if text.contains('#') {
            return Err(err("must not have a fragment (#...)"));
        }
        // URL-encoded already: nothing `url_safe` would encode but an IPv6 host's brackets.
        let bare = text.replace(['[', ']'], "");
        if let std::borrow::Cow::Owned(_) = crate::protocol::query::url_safe(&bare) {
            return Err(err(
                "must be URL-encoded (no spaces, quotes, control or non-ASCII characters)",
            ));
        }
        // A port, when given, is digits (`host:8080`, `[::1]:8080`).
        let port = match host.rfind(']') {
            Some(i) => host[i + 1..].strip_prefix(':'),
            None => host.split_once(':').map(|(_, p)| p),
        };
        if port
            .is_some_and(|p| p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(err("has a port that is not a number"));
        }
        Ok(ForwardUrl(text.to_owned()))
    }

    /// The URL to send a request with `raw_query` (as received, URL-encoded) to. The
    /// query goes on byte for byte, except that a byte no URL may hold as it is (a space,
    /// a quote, a non-ASCII byte: a front door that passed one on undecoded) is
    /// percent-encoded, so that the request can be sent at all.
    pub(crate) fn with_query(&self, raw_query: &str) -> String {
        let raw_query = raw_query.strip_prefix('?').unwrap_or(raw_query);
        let raw_query = crate::protocol::query::url_safe(raw_query);
        if raw_query.is_empty() {
            return self.0.clone();
        }
        let sep = if self.0.contains('?') {
            if self.0.ends_with('?') || self.0.ends_with('&') {
                ""
            } else {
                "&"
            }
        } else {
            "?"
        };
        format!("{}{sep}{raw_query}", self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// The URL may carry credentials (`user:pass@`, a key in its query): logs see its scheme
// and host only.
impl fmt::Debug for ForwardUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scheme, rest) = self.0.split_once("://").unwrap_or(("", &self.0));
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        write!(f, "ForwardUrl({scheme}://{host}/…)")
    }
}

impl Default for Config {
    /// No table, no app: a base for tests and tools to fill in.
    fn default() -> Config {
        Config {
            table_name: String::new(),
            sdk_app_ids: Vec::new(),
            callback_token: None,
            callback_token_arn: None,
            secrets_manager_endpoint: None,
            max_skew_secs: DEFAULT_MAX_SKEW_SECS,
            allowed_sources: None,
            forward_url: None,
            handoff_queue_url: None,
            dead_letter_queue_url: None,
            queue_record_budget_ms: DEFAULT_QUEUE_RECORD_BUDGET_MS,
        }
    }
}

// The token must never reach a log, not even through `{:?}`.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("table_name", &self.table_name)
            .field("sdk_app_ids", &self.sdk_app_ids)
            .field(
                "callback_token",
                &self.callback_token.as_ref().map(|_| "<set>"),
            )
            .field("callback_token_arn", &self.callback_token_arn)
            .field("max_skew_secs", &self.max_skew_secs)
            .field("allowed_sources", &self.allowed_sources)
            .field("forward_url", &self.forward_url)
            .field("handoff_queue_url", &self.handoff_queue_url)
            .field("dead_letter_queue_url", &self.dead_letter_queue_url)
            .field("queue_record_budget_ms", &self.queue_record_budget_ms)
            .finish()
    }
}

/// A missing or invalid variable: the message names it and never echoes a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration: {} {}",
            self.variable, self.problem
        )
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub fn new(variable: &'static str, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            variable,
            problem: problem.into(),
        }
    }
}

/// The one environment reader: [`Config`], [`crate::clients::sdk::AwsSettings`] and
/// [`crate::tencent::rest::TencentSettings`] read their variables through it, from the
/// process environment ([`Env::process`]) or a map in tests ([`Env::new`]).
pub struct Env<L>(L);

impl Env<fn(&str) -> Option<String>> {
    /// The process environment (a value that is not Unicode reads as unset).
    pub fn process() -> Self {
        Env(|name| std::env::var(name).ok())
    }
}

impl<L: Fn(&str) -> Option<String>> Env<L> {
    pub fn new(lookup: L) -> Self {
        Env(lookup)
    }

    /// The value as set; `None`: unset.
    pub fn raw(&self, name: &str) -> Option<String> {
        (self.0)(name)
    }

    /// The value trimmed; `None`: unset or blank.
    pub fn get(&self, name: &str) -> Option<String> {
        self.raw(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// `true` or `false` (any case); unset or blank: `false`.
    pub fn flag(&self, name: &'static str) -> Result<bool, ConfigError> {
        match self.get(name) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(ConfigError::new(name, "must be `true` or `false`")),
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::read(&Env::process())
    }

    /// Reads configuration through `lookup` (a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        Config::read(&Env::new(lookup))
    }

    /// Reads configuration from `env`.
    pub fn read<L: Fn(&str) -> Option<String>>(env: &Env<L>) -> Result<Config, ConfigError> {
        let lookup = |name: &str| env.raw(name);
        let err = ConfigError::new;
        let table_name = lookup("TABLE_NAME")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| err("TABLE_NAME", "is required (the DynamoDB table name)"))?;
        let valid_table = (3..=255).contains(&table_name.len())
            && table_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if !valid_table {
            return Err(err(
                "TABLE_NAME",
                "must be 3-255 characters of a-z, A-Z, 0-9, '_', '-', '.'",
            ));
        }

        let raw_ids = lookup("SDKAPPID").unwrap_or_default();
        let sdk_app_ids: Vec<String> = raw_ids
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if sdk_app_ids.is_empty() {
            return Err(err(
                "SDKAPPID",
                "is required: the app's SDKAppID, or several separated by commas",
            ));
        }
        if let Some(bad) = sdk_app_ids
            .iter()
            .find(|s| s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ConfigError {
                variable: "SDKAPPID",
                problem: format!("must be digits separated by commas; got {bad:?}"),
            });
        }

        let callback_token = lookup("CALLBACK_TOKEN").filter(|s| !s.is_empty());
        if callback_token
            .as_deref()
            .is_some_and(|t| t.trim() != t || t.chars().any(char::is_control))
        {
            return Err(err(
                "CALLBACK_TOKEN",
                "has leading/trailing spaces or control characters (value not shown)",
            ));
        }
        let callback_token_arn = lookup("CALLBACK_TOKEN_ARN")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        if let Some(arn) = &callback_token_arn {
            if callback_token.is_some() {
                return Err(err(
                    "CALLBACK_TOKEN_ARN",
                    "is set together with CALLBACK_TOKEN: set one of them",
                ));
            }
            if !arn.starts_with("arn:") {
                return Err(err(
                    "CALLBACK_TOKEN_ARN",
                    "must be a Secrets Manager secret's ARN (arn:...:secretsmanager:...)",
                ));
            }
        }
        let secrets_manager_endpoint = lookup("AWS_ENDPOINT_URL_SECRETS_MANAGER")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());

        let max_skew_secs = match lookup("CALLBACK_MAX_SKEW_SECS")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
        {
            None => DEFAULT_MAX_SKEW_SECS,
            Some(s) => s
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=86_400).contains(n))
                .ok_or_else(|| {
                    err(
                        "CALLBACK_MAX_SKEW_SECS",
                        "must be a whole number of seconds from 1 to 86400",
                    )
                })?,
        };

        let queue_url = |variable: &'static str| -> Result<Option<String>, ConfigError> {
            match lookup(variable).map(|s| s.trim().to_owned()) {
                None => Ok(None),
                Some(s) if s.is_empty() => Ok(None),
                Some(s)
                    if (s.starts_with("https://") || s.starts_with("http://"))
                        && !s.chars().any(|c| c.is_whitespace() || c.is_control()) =>
                {
                    Ok(Some(s))
                }
                Some(_) => Err(err(variable, "must be an SQS queue URL (https://...)")),
            }
        };
        let handoff_queue_url = queue_url("HANDOFF_QUEUE_URL")?;
        let dead_letter_queue_url = queue_url("DEAD_LETTER_QUEUE_URL")?;
        let queue_record_budget_ms = match lookup("QUEUE_RECORD_BUDGET_MS")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
        {
            None => DEFAULT_QUEUE_RECORD_BUDGET_MS,
            Some(s) => s
                .parse::<u64>()
                .ok()
                .filter(|n| (100..=900_000).contains(n))
                .ok_or_else(|| {
                    err(
                        "QUEUE_RECORD_BUDGET_MS",
                        "must be a whole number of milliseconds from 100 to 900000",
                    )
                })?,
        };

        let allowed_sources = SourceAllowList::parse(
            &lookup("ALLOWED_SOURCE_CIDRS").unwrap_or_default(),
        )
        .map_err(|problem| ConfigError {
            variable: "ALLOWED_SOURCE_CIDRS",
            problem: format!("must be comma-separated CIDRs: {problem}"),
        })?;

        let forward_url = match lookup(ForwardUrl::VARIABLE).filter(|s| !s.trim().is_empty()) {
            None => None,
            Some(s) => Some(ForwardUrl::parse(&s)?),
        };

        Ok(Config {
            table_name,
            sdk_app_ids,
            callback_token: callback_token.as_deref().map(CallbackToken::from),
            callback_token_arn,
            secrets_manager_endpoint,
            max_skew_secs,
            allowed_sources,
            forward_url,
            handoff_queue_url,
            dead_letter_queue_url,
            queue_record_budget_ms,
        })
    }

    pub(crate) fn is_configured_app(&self, app: &str) -> bool {
        self.sdk_app_ids.iter().any(|a| a == app)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn minimal_and_full() {
        let c = cfg(&[("TABLE_NAME", "t-1"), ("SDKAPPID", "1400000001")]).unwrap();
        assert_eq!(c.sdk_app_ids, vec!["1400000001"]);
        assert_eq!(c.callback_token, None);
        assert_eq!(c.max_skew_secs, 60);
        let c = cfg(&[
            ("TABLE_NAME", "t-1"),
            ("SDKAPPID", "1400000001, 1400000002"),
            ("CALLBACK_TOKEN", "xxxxyyyy"),
            ("CALLBACK_MAX_SKEW_SECS", "120"),
        ])
        .unwrap();
        assert_eq!(c.sdk_app_ids, vec!["1400000001", "1400000002"]);
        assert!(c.is_configured_app("1400000002"));
        assert!(!c.is_configured_app("1400000003"));
        assert_eq!(c.max_skew_secs, 120);
        assert!(!format!("{c:?}").contains("xxxxyyyy"));
        assert_eq!((c.handoff_queue_url, c.dead_letter_queue_url), (None, None));
        assert_eq!(c.queue_record_budget_ms, DEFAULT_QUEUE_RECORD_BUDGET_MS);
    }

    #[test]
    fn queues() {
        let base = [("TABLE_NAME", "t-1"), ("SDKAPPID", "1400000001")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            cfg(&v)
        };
        let url = "https://sqs.eu-west-1.amazonaws.com/123456789012/oa-handoff";
        let c = with(&[
            ("HANDOFF_QUEUE_URL", url),
            ("DEAD_LETTER_QUEUE_URL", " "),
            ("QUEUE_RECORD_BUDGET_MS", "5000"),
        ])
        .unwrap();
        assert_eq!(c.handoff_queue_url.as_deref(), Some(url));
        assert_eq!(c.dead_letter_queue_url, None);
        assert_eq!(c.queue_record_budget_ms, 5000);
        let v = |extra| with(extra).unwrap_err().variable;
        assert_eq!(
            v(&[("HANDOFF_QUEUE_URL", "oa-handoff")]),
            "HANDOFF_QUEUE_URL"
        );
        assert_eq!(
            v(&[("DEAD_LETTER_QUEUE_URL", "https://x/ y")]),
            "DEAD_LETTER_QUEUE_URL"
        );
        assert_eq!(
            v(&[("QUEUE_RECORD_BUDGET_MS", "0")]),
            "QUEUE_RECORD_BUDGET_MS"
        );
    }

    #[test]
    fn errors_name_the_variable() {
        let v = |vars: &[(&str, &str)]| cfg(vars).unwrap_err().variable;
        assert_eq!(v(&[("SDKAPPID", "1")]), "TABLE_NAME");
        assert_eq!(v(&[("TABLE_NAME", "a b"), ("SDKAPPID", "1")]), "TABLE_NAME");
        assert_eq!(v(&[("TABLE_NAME", "tbl")]), "SDKAPPID");
        assert_eq!(v(&[("TABLE_NAME", "tbl"), ("SDKAPPID", "14x")]), "SDKAPPID");
        assert_eq!(v(&[("TABLE_NAME", "tbl"), ("SDKAPPID", " , ")]), "SDKAPPID");
        assert_eq!(
            v(&[
                ("TABLE_NAME", "tbl"),
                ("SDKAPPID", "1"),
                ("CALLBACK_MAX_SKEW_SECS", "-5")
            ]),
            "CALLBACK_MAX_SKEW_SECS"
        );
        assert_eq!(
            v(&[
                ("TABLE_NAME", "tbl"),
                ("SDKAPPID", "1"),
                ("CALLBACK_TOKEN", " secret ")
            ]),
            "CALLBACK_TOKEN"
        );
        let e = cfg(&[
            ("TABLE_NAME", "tbl"),
            ("SDKAPPID", "1"),
            ("CALLBACK_TOKEN", "sec\nret"),
        ])
        .unwrap_err();
        assert!(!e.to_string().contains("sec"));
    }

    #[test]
    fn allowed_source_cidrs() {
        let base = [("TABLE_NAME", "tbl"), ("SDKAPPID", "1")];
        let with = |v: &str| {
            let mut vars = base.to_vec();
            vars.push(("ALLOWED_SOURCE_CIDRS", v));
            cfg(&vars)
        };
        assert_eq!(cfg(&base).unwrap().allowed_sources, None);
        assert_eq!(with(" ").unwrap().allowed_sources, None);
        let c = with("203.0.113.0/24, 2001:db8::/32").unwrap();
        let list = c.allowed_sources.expect("set");
        assert!(list.contains("203.0.113.9".parse().unwrap()));
        assert!(list.contains("2001:db8::9".parse().unwrap()));
        let e = with("203.0.113.0/24,not-a-cidr").unwrap_err();
        assert_eq!(e.variable, "ALLOWED_SOURCE_CIDRS");
        assert!(e.to_string().contains("not-a-cidr"), "{e}");
    }

    #[test]
    fn forward_url() {
        let base = [("TABLE_NAME", "tbl"), ("SDKAPPID", "1")];
        let with = |v: &str| {
            let mut vars = base.to_vec();
            vars.push(("FORWARD_URL", v));
            cfg(&vars)
        };
        assert_eq!(cfg(&base).unwrap().forward_url, None);
        assert_eq!(with("").unwrap().forward_url, None);
        let u = with("https://im.example.com/callback")
            .unwrap()
            .forward_url
            .unwrap();
        assert_eq!(
            u.with_query("SdkAppid=1&Sign=ab"),
            "https://im.example.com/callback?SdkAppid=1&Sign=ab"
        );
        assert_eq!(u.with_query(""), "https://im.example.com/callback");
        let u = ForwardUrl::parse("http://127.0.0.1:8080/cb?key=v").unwrap();
        assert_eq!(u.with_query("?a=1"), "http://127.0.0.1:8080/cb?key=v&a=1");
        assert!(ForwardUrl::parse("http://[::1]:8080/cb").is_ok());
        // A query with bytes a URL cannot hold is encoded; a normal one is untouched.
        let u = ForwardUrl::parse("https://h/cb").unwrap();
        assert_eq!(
            u.with_query("a=x y&b=\"c\"&Sign=ab%2F"),
            "https://h/cb?a=x%20y&b=%22c%22&Sign=ab%2F"
        );
        let u = ForwardUrl::parse("HTTP://user:secret@backend:81?key=s3cret").unwrap();
        let shown = format!("{u:?}");
        assert!(
            !shown.contains("secret") && !shown.contains("s3cret"),
            "{shown}"
        );
        for bad in [
            "ftp://x/",
            "backend/callback",
            "https://",
            "https:///path",
            "https://:80/",
            "https://h/#frag",
            "https://h/a b",
            "https://h:80x/",
            "https://h:/",
            "https://h/\"q\"",
        ] {
            assert_eq!(with(bad).unwrap_err().variable, "FORWARD_URL", "{bad}");
        }
    }
}
