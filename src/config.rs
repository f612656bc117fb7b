//! Configuration from the environment, read and validated once at start.

use crate::allow_list::SourceAllowList;
use crate::token::CallbackToken;
use std::fmt;

pub(crate) const DEFAULT_MAX_SKEW_SECS: u64 = 60;
/// How long the queue consumer may spend on one record unless `QUEUE_RECORD_BUDGET_MS`
/// says otherwise (docs/delivery.md, "The consumer"; the consumer's Lambda timeout is 30 s).
pub(crate) const DEFAULT_QUEUE_RECORD_BUDGET_MS: u64 = 20_000;

/// `Debug` shows no token: [`CallbackToken`]'s own `Debug` hides it.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        let err = |problem: &str| ConfigError::new(Self::VARIABLE, problem);
        let text = text.trim();
        // `get`, not `[..n]`: a multi-byte character there is an error, not a panic.
        let scheme = ["https://", "http://"].into_iter().find(|s| {
            text.get(..s.len())
                .is_some_and(|t| t.eq_ignore_ascii_case(s))
        });
        let Some(rest) = scheme.map(|s| &text[s.len()..]).filter(|r| !r.is_empty()) else {
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
        let sep = match self.0.contains('?') {
            false => "?",
            true if self.0.ends_with(['?', '&']) => "",
            true => "&",
        };
        format!("{}{sep}{raw_query}", self.0)
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

/// A missing or invalid variable: the message names it and never echoes a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {variable} {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

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

    /// A whole number in `range`; unset or blank: `default`; else an error with `problem`.
    fn number(
        &self,
        name: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
        problem: &str,
    ) -> Result<u64, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(s) => s
                .parse()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| ConfigError::new(name, problem)),
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::read(&Env::process())
    }

    /// Reads configuration from `env`.
    pub fn read<L: Fn(&str) -> Option<String>>(env: &Env<L>) -> Result<Config, ConfigError> {
        let err = ConfigError::new;
        let table_name = env
            .get("TABLE_NAME")
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

        let sdk_app_ids: Vec<String> = env
            .raw("SDKAPPID")
            .unwrap_or_default()
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
            let problem = format!("must be digits separated by commas; got {bad:?}");
            return Err(ConfigError::new("SDKAPPID", problem));
        }

        let callback_token = env.raw("CALLBACK_TOKEN").filter(|s| !s.is_empty());
        if callback_token
            .as_deref()
            .is_some_and(|t| t.trim() != t || t.chars().any(char::is_control))
        {
            return Err(err(
                "CALLBACK_TOKEN",
                "has leading/trailing spaces or control characters (value not shown)",
            ));
        }
        let callback_token_arn = env.get("CALLBACK_TOKEN_ARN");
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

        let queue_url = |variable: &'static str| match env.get(variable) {
            Some(s)
                if !(s.starts_with("https://") || s.starts_with("http://"))
                    || s.chars().any(|c| c.is_whitespace() || c.is_control()) =>
            {
                Err(err(variable, "must be an SQS queue URL (https://...)"))
            }
            url => Ok(url),
        };

        // In the order of the variables' checks: the first invalid one is the error.
        Ok(Config {
            table_name,
            sdk_app_ids,
            callback_token: callback_token.as_deref().map(CallbackToken::from),
            callback_token_arn,
            secrets_manager_endpoint: env.get("AWS_ENDPOINT_URL_SECRETS_MANAGER"),
            max_skew_secs: env.number(
                "CALLBACK_MAX_SKEW_SECS",
                DEFAULT_MAX_SKEW_SECS,
                1..=86_400,
                "must be a whole number of seconds from 1 to 86400",
            )?,
            handoff_queue_url: queue_url("HANDOFF_QUEUE_URL")?,
            dead_letter_queue_url: queue_url("DEAD_LETTER_QUEUE_URL")?,
            queue_record_budget_ms: env.number(
                "QUEUE_RECORD_BUDGET_MS",
                DEFAULT_QUEUE_RECORD_BUDGET_MS,
                100..=900_000,
                "must be a whole number of milliseconds from 100 to 900000",
            )?,
            allowed_sources: SourceAllowList::parse(
                &env.raw("ALLOWED_SOURCE_CIDRS").unwrap_or_default(),
            )
            .map_err(|p| {
                ConfigError::new(
                    "ALLOWED_SOURCE_CIDRS",
                    format!("must be comma-separated CIDRs: {p}"),
                )
            })?,
            forward_url: env
                .get(ForwardUrl::VARIABLE)
                .as_deref()
                .map(ForwardUrl::parse)
                .transpose()?,
        })
    }

    pub(crate) fn is_configured_app(&self, app: &str) -> bool {
        self.sdk_app_ids.iter().any(|a| a == app)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `vars` as the environment (a later value wins).
    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let lookup = |k: &str| vars.iter().rev().find(|(n, _)| *n == k).map(|v| v.1.into());
        Config::read(&Env::new(lookup))
    }

    /// A valid `TABLE_NAME` and `SDKAPPID`, then `extra`.
    fn with(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
        cfg(&[&[("TABLE_NAME", "tbl"), ("SDKAPPID", "1")], extra].concat())
    }

    #[test]
    fn minimal_and_full() {
        let c = cfg(&[("TABLE_NAME", "t-1"), ("SDKAPPID", "1400000001")]).unwrap();
        assert_eq!(c.sdk_app_ids, vec!["1400000001"]);
        assert_eq!(c.callback_token, None);
        assert_eq!(c.max_skew_secs, 60);
        assert_eq!((c.handoff_queue_url, c.dead_letter_queue_url), (None, None));
        assert_eq!(c.queue_record_budget_ms, DEFAULT_QUEUE_RECORD_BUDGET_MS);
        let url = "https://sqs.eu-west-1.amazonaws.com/123456789012/oa-handoff";
        let c = cfg(&[
            ("TABLE_NAME", "t-1"),
            ("SDKAPPID", "1400000001, 1400000002"),
            ("CALLBACK_TOKEN", "xxxxyyyy"),
            ("CALLBACK_MAX_SKEW_SECS", "120"),
            ("HANDOFF_QUEUE_URL", url),
            ("DEAD_LETTER_QUEUE_URL", " "),
            ("QUEUE_RECORD_BUDGET_MS", "5000"),
        ])
        .unwrap();
        assert_eq!(c.sdk_app_ids, vec!["1400000001", "1400000002"]);
        assert!(c.is_configured_app("1400000002"));
        assert!(!c.is_configured_app("1400000003"));
        assert_eq!(c.max_skew_secs, 120);
        assert!(!format!("{c:?}").contains("xxxxyyyy"));
        assert_eq!(c.handoff_queue_url.as_deref(), Some(url));
        assert_eq!(c.dead_letter_queue_url, None);
        assert_eq!(c.queue_record_budget_ms, 5000);
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: [(&[(&str, &str)], &str); 5] = [
            (&[("SDKAPPID", "1")], "TABLE_NAME"),
            (&[("TABLE_NAME", "a b"), ("SDKAPPID", "1")], "TABLE_NAME"),
            (&[("TABLE_NAME", "tbl")], "SDKAPPID"),
            (&[("TABLE_NAME", "tbl"), ("SDKAPPID", "14x")], "SDKAPPID"),
            (&[("TABLE_NAME", "tbl"), ("SDKAPPID", " , ")], "SDKAPPID"),
        ];
        for (vars, variable) in cases {
            assert_eq!(cfg(vars).unwrap_err().variable, variable, "{vars:?}");
        }
        // Each of these, set over a valid base, is the error.
        for (name, value) in [
            ("CALLBACK_MAX_SKEW_SECS", "-5"),
            ("CALLBACK_TOKEN", " secret "),
            ("HANDOFF_QUEUE_URL", "oa-handoff"),
            ("DEAD_LETTER_QUEUE_URL", "https://x/ y"),
            ("QUEUE_RECORD_BUDGET_MS", "0"),
        ] {
            assert_eq!(with(&[(name, value)]).unwrap_err().variable, name);
        }
        let e = with(&[("CALLBACK_TOKEN", "sec\nret")]).unwrap_err();
        assert!(!e.to_string().contains("sec"));
    }

    #[test]
    fn allowed_source_cidrs() {
        let cidrs = |v: &str| with(&[("ALLOWED_SOURCE_CIDRS", v)]);
        assert_eq!(with(&[]).unwrap().allowed_sources, None);
        assert_eq!(cidrs(" ").unwrap().allowed_sources, None);
        let c = cidrs("203.0.113.0/24, 2001:db8::/32").unwrap();
        let list = c.allowed_sources.expect("set");
        assert!(list.contains("203.0.113.9".parse().unwrap()));
        assert!(list.contains("2001:db8::9".parse().unwrap()));
        let e = cidrs("203.0.113.0/24,not-a-cidr").unwrap_err();
        assert_eq!(e.variable, "ALLOWED_SOURCE_CIDRS");
        assert!(e.to_string().contains("not-a-cidr"), "{e}");
    }

    #[test]
    fn forward_url() {
        let forward = |v: &str| with(&[("FORWARD_URL", v)]);
        assert_eq!(with(&[]).unwrap().forward_url, None);
        assert_eq!(forward("").unwrap().forward_url, None);
        let u = forward("https://im.example.com/callback")
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
            "http:/é/",
        ] {
            assert_eq!(forward(bad).unwrap_err().variable, "FORWARD_URL", "{bad}");
        }
    }
}
