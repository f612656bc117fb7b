//! Configuration from the environment, read and validated once at start.

use std::fmt;

pub const DEFAULT_MAX_SKEW_SECS: u64 = 60;

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    /// Configured SdkAppids (digits).
    pub sdk_app_ids: Vec<String>,
    /// Webhook-authentication token; `None` when authentication is off.
    pub callback_token: Option<String>,
    pub max_skew_secs: u64,
}

impl Default for Config {
    /// No table, no app: a base for tests and tools to fill in.
    fn default() -> Config {
        Config {
            table_name: String::new(),
            sdk_app_ids: Vec::new(),
            callback_token: None,
            max_skew_secs: DEFAULT_MAX_SKEW_SECS,
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

        Ok(Config {
            table_name,
            sdk_app_ids,
            callback_token,
            max_skew_secs,
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
