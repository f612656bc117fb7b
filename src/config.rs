//! Configuration from the environment, read and validated once at start.

use std::fmt;

pub const DEFAULT_MAX_SKEW_SECS: u64 = 60;
/// How long the queue consumer may spend on one record unless `QUEUE_RECORD_BUDGET_MS`
/// says otherwise (docs/contract.md section 5; the consumer's Lambda timeout is 30 s).
pub const DEFAULT_QUEUE_RECORD_BUDGET_MS: u64 = 20_000;

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    /// Configured SdkAppids (digits).
    pub sdk_app_ids: Vec<String>,
    /// Webhook-authentication token; `None` when authentication is off.
    pub callback_token: Option<String>,
    pub max_skew_secs: u64,
    /// SQS queue for after-events the table could not take in time (contract section 5).
    pub handoff_queue_url: Option<String>,
    /// SQS queue for after-events that can never be stored (rows 11, 12a).
    pub dead_letter_queue_url: Option<String>,
    /// The queue consumer's time budget for one record (`QUEUE_RECORD_BUDGET_MS`).
    pub queue_record_budget_ms: u64,
}

impl Default for Config {
    /// No table, no app: a base for tests and tools to fill in.
    fn default() -> Config {
        Config {
            table_name: String::new(),
            sdk_app_ids: Vec::new(),
            callback_token: None,
            max_skew_secs: DEFAULT_MAX_SKEW_SECS,
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
            .field("max_skew_secs", &self.max_skew_secs)
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

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let err = |variable, problem: &str| ConfigError {
            variable,
            problem: problem.to_owned(),
        };
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

        Ok(Config {
            table_name,
            sdk_app_ids,
            callback_token,
            max_skew_secs,
            handoff_queue_url,
            dead_letter_queue_url,
            queue_record_budget_ms,
        })
    }

    pub fn is_configured_app(&self, app: &str) -> bool {
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
}
