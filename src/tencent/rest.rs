//! The REST client: the three calls a sync makes (their URL and bodies: docs/protocol.md
//! section 7), signed with a cached UserSig, sent through the HTTPS connector the AWS SDK
//! already brings (hyper 1, rustls with ring; `aws-smithy-http-client`), no second HTTP
//! stack. Timeouts, retries, the UserSig renewal and the rate limit: docs/sync.md, "REST
//! calls" (values: [`RestSettings`]).

use super::usersig::{SecretKey, SigCache};
use crate::clients::sdk::TrustRoots;
use crate::clock::Clock;
use crate::config::{ConfigError, Env};
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_http_client::{Connector, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorSettings};
use aws_smithy_runtime_api::http::Request as HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

pub const GET_ACCOUNT_INFO: &str = "get_official_account_info";
pub const GET_SUBSCRIBERS: &str = "get_subscriber_info";
pub const GET_MESSAGES: &str = "official_account_msg_get_simple";

/// Accounts per `get_official_account_info` call.
pub(crate) const ACCOUNTS_PER_CALL: usize = 50;
/// Subscribers per `get_subscriber_info` page.
pub(crate) const SUBSCRIBERS_PER_PAGE: u32 = 200;
/// Messages per `official_account_msg_get_simple` call.
pub(crate) const MESSAGES_PER_CALL: u32 = 20;

/// Tencent's "too many calls" codes: back off and retry.
pub(crate) const BUSY_CODES: [i64; 4] = [60007, 60011, 60018, 60019];
/// Tencent's internal errors: retry.
pub(crate) const INTERNAL_CODES: [i64; 2] = [10004, 20005];
/// The account does not exist (or was destroyed).
pub const NO_SUCH_ACCOUNT: i64 = 130004;
/// UserSig expired.
pub(crate) const SIG_EXPIRED: i64 = 70001;

/// Why a call failed, after its retries.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("REST API unreachable: {0}")]
    Transport(String),
    #[error("REST call timed out")]
    Timeout,
    #[error("REST API answered HTTP {0}")]
    Http(u16),
    #[error("REST API answer unreadable: {0}")]
    Unreadable(String),
    #[error("REST API busy (code {code}) after {attempts} attempts")]
    Busy { code: i64, attempts: u32 },
    #[error("REST API refused the UserSig or the admin (code {code}): {info}")]
    Auth { code: i64, info: String },
    #[error("no such Official Account (code 130004)")]
    NoSuchAccount,
    #[error("REST API error {code}: {info}")]
    Api { code: i64, info: String },
}

impl RestError {
    /// Worth another attempt.
    fn retryable(&self) -> bool {
        matches!(
            self,
            RestError::Transport(_) | RestError::Timeout | RestError::Http(500..=599)
        ) || matches!(self, RestError::Api { code, .. } if BUSY_CODES.contains(code) || INTERNAL_CODES.contains(code))
    }
}

/// Where and as whom the REST calls are made (contract section 1), key in hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TencentConfig {
    /// `TENCENT_API_BASE_URL`, without a trailing `/`.
    pub base_url: String,
    /// `TENCENT_ADMIN_IDENTIFIER`.
    pub admin: String,
    /// `TENCENT_SECRET_KEY`, or the secret `TENCENT_SECRET_KEY_ARN` names.
    pub key: SecretKey,
}

/// Where the secret key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySource {
    /// `TENCENT_SECRET_KEY` (local use).
    Key(SecretKey),
    /// `TENCENT_SECRET_KEY_ARN`: a Secrets Manager secret (deployed), read at start.
    SecretArn(String),
}

/// The sync's variables as read from the environment; [`TencentSettings::load`] fetches
/// the key when it is in Secrets Manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TencentSettings {
    pub base_url: String,
    pub admin: String,
    pub key: KeySource,
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER` (tests, local runs).
    pub secrets_endpoint: Option<String>,
}

impl TencentSettings {
    pub(crate) const BASE_URL: &'static str = "TENCENT_API_BASE_URL";
    pub const ADMIN: &'static str = "TENCENT_ADMIN_IDENTIFIER";
    pub const KEY: &'static str = "TENCENT_SECRET_KEY";
    pub(crate) const KEY_ARN: &'static str = "TENCENT_SECRET_KEY_ARN";

    /// Reads the sync's settings from `env`. `TENCENT_SECRET_KEY` wins over
    /// `TENCENT_SECRET_KEY_ARN` when both are set.
    pub fn read<L: Fn(&str) -> Option<String>>(
        env: &Env<L>,
    ) -> Result<TencentSettings, ConfigError> {
        let get = |name: &str| env.get(name);
        let err = ConfigError::new;
        let base_url = get(Self::BASE_URL)
            .ok_or_else(|| err(Self::BASE_URL, "is required for sync"))?
            .trim_end_matches('/')
            .to_owned();
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(err(Self::BASE_URL, "must be an http(s):// URL"));
        }
        let admin = get(Self::ADMIN).ok_or_else(|| err(Self::ADMIN, "is required for sync"))?;
        let key = match (get(Self::KEY), get(Self::KEY_ARN)) {
            (Some(k), _) => KeySource::Key(SecretKey::new(k)),
            (None, Some(arn)) if arn.starts_with("arn:") => KeySource::SecretArn(arn),
            (None, Some(_)) => return Err(err(Self::KEY_ARN, "must be a Secrets Manager ARN")),
            (None, None) => {
                return Err(err(
                    Self::KEY,
                    "or TENCENT_SECRET_KEY_ARN is required for sync",
                ))
            }
        };
        Ok(TencentSettings {
            base_url,
            admin,
            key,
            secrets_endpoint: get("AWS_ENDPOINT_URL_SECRETS_MANAGER"),
        })
    }

    /// The configuration with the key in hand: read from Secrets Manager (through `sdk`,
    /// the function's SDK settings and HTTPS client) when it is given as an ARN.
    pub async fn load(self, sdk: &aws_config::SdkConfig) -> Result<TencentConfig, ConfigError> {
        let key = match self.key {
            KeySource::Key(k) => k,
            KeySource::SecretArn(arn) => {
                super::secret::fetch(sdk, &arn, self.secrets_endpoint.as_deref())
                    .await
                    .map_err(|e| ConfigError::new(Self::KEY_ARN, e.to_string()))?
            }
        };
        Ok(TencentConfig {
            base_url: self.base_url,
            admin: self.admin,
            key,
        })
    }
}

/// Timeouts, retries and the rate limit.
#[derive(Debug, Clone)]
pub struct RestSettings {
    pub connect_timeout: Duration,
    /// One attempt, request sent to answer read.
    pub call_timeout: Duration,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Calls per second allowed for each command.
    pub calls_per_second: u32,
}

impl Default for RestSettings {
    fn default() -> Self {
        RestSettings {
            connect_timeout: Duration::from_secs(3),
            call_timeout: Duration::from_secs(10),
            max_attempts: 8,
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(5),
            calls_per_second: 190,
        }
    }
}

/// Spaces each command's calls at least `1/rate` seconds apart.
#[derive(Debug)]
struct Limiter {
    interval: Duration,
    next: Mutex<HashMap<&'static str, Instant>>,
}

impl Limiter {
    fn new(calls_per_second: u32) -> Limiter {
        Limiter {
            interval: Duration::from_secs(1) / calls_per_second.max(1),
            next: Mutex::new(HashMap::new()),
        }
    }

    async fn wait(&self, command: &'static str) {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let n = next.entry(command).or_insert(now);
            let slot = (*n).max(now);
            *n = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// Calls made and retried, for the sync's report.
#[derive(Debug, Default)]
pub struct RestStats {
    pub calls: AtomicU64,
    pub retries: AtomicU64,
}

/// The REST client of one app.
#[derive(Debug)]
pub struct RestClient {
    base_url: String,
    sigs: SigCache,
    conn: Connector,
    limiter: Limiter,
    settings: RestSettings,
    pub stats: RestStats,
}

impl RestClient {
    pub fn new(config: &TencentConfig, sdkappid: u64, settings: RestSettings) -> RestClient {
        // Tencent's endpoints do not chain to the Amazon roots: the platform's store.
        let mut conn = ConnectorBuilder::default();
        conn.set_connector_settings(Some(
            HttpConnectorSettings::builder()
                .connect_timeout(settings.connect_timeout)
                .read_timeout(settings.call_timeout)
                .build(),
        ));
        conn.set_sleep_impl(Some(SharedAsyncSleep::new(TokioSleep::new())));
        RestClient {
            base_url: config.base_url.clone(),
            sigs: SigCache::new(config.key.clone(), config.admin.clone(), sdkappid),
            conn: crate::clients::sdk::https_connector(conn, TrustRoots::System),
            limiter: Limiter::new(settings.calls_per_second),
            settings,
            stats: RestStats::default(),
        }
    }

    fn url(&self, command: &str) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("sdkappid", &self.sigs.sdkappid.to_string())
            .append_pair("identifier", &self.sigs.identifier)
            .append_pair("usersig", &self.sigs.get(Clock::system().now_secs()))
            .append_pair("random", &fastrand::u32(..).to_string())
            .append_pair("contenttype", "json")
            .finish();
        let base = &self.base_url;
        format!("{base}/v4/official_account_open_http_svc/{command}?{query}")
    }

    /// One attempt: the answer's JSON when `ErrorCode` is 0, else the error.
    async fn attempt(&self, command: &'static str, body: &[u8]) -> Result<Value, RestError> {
        self.limiter.wait(command).await;
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let request = http::Request::builder()
            .method("POST")
            .uri(self.url(command))
            .header("content-type", "application/json")
            .body(SdkBody::from(body.to_vec()))
            .map_err(|e| RestError::Transport(e.to_string()))?;
        let request =
            HttpRequest::try_from(request).map_err(|e| RestError::Transport(e.to_string()))?;
        let exchange = async {
            let response = self
                .conn
                .call(request)
                .await
                .map_err(|e| RestError::Transport(format!("{e:?}")))?;
            let status = response.status().as_u16();
            let bytes = ByteStream::new(response.into_body())
                .collect()
                .await
                .map_err(|e| RestError::Transport(e.to_string()))?
                .into_bytes();
            Ok::<_, RestError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.settings.call_timeout, exchange)
            .await
            .map_err(|_| RestError::Timeout)??;
        if status != 200 {
            return Err(RestError::Http(status));
        }
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|e| RestError::Unreadable(e.to_string()))?;
        // Indexing a JSON value never panics: a missing field reads as null.
        let code = value["ErrorCode"].as_i64().unwrap_or(0);
        if code == 0 {
            return Ok(value);
        }
        let info = value["ErrorInfo"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        Err(match code {
            NO_SUCH_ACCOUNT => RestError::NoSuchAccount,
            60010 | 70000..=70999 => RestError::Auth { code, info },
            _ => RestError::Api { code, info },
        })
    }

    /// A call with its retries, as the typed answer `T`.
    pub async fn call<Req: Serialize, T: DeserializeOwned>(
        &self,
        command: &'static str,
        request: &Req,
    ) -> Result<T, RestError> {
        let body = serde_json::to_vec(request).map_err(|e| RestError::Unreadable(e.to_string()))?;
        let mut attempts = 0;
        let mut renewed = false;
        loop {
            attempts += 1;
            let last = attempts >= self.settings.max_attempts;
            let err = match self.attempt(command, &body).await {
                Ok(v) => {
                    return serde_json::from_value(v)
                        .map_err(|e| RestError::Unreadable(format!("{command}: {e}")))
                }
                Err(RestError::Auth {
                    code: SIG_EXPIRED, ..
                }) if !renewed => {
                    renewed = true;
                    self.sigs.invalidate();
                    continue;
                }
                Err(e) if !e.retryable() => return Err(e),
                Err(RestError::Api { code, .. }) if last => {
                    return Err(RestError::Busy { code, attempts })
                }
                Err(e) if last => return Err(e),
                Err(e) => e,
            };
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            let backoff = crate::retry::Backoff {
                base: self.settings.backoff_base,
                cap: self.settings.backoff_cap,
                jitter: crate::retry::Jitter::Full,
            };
            tracing::debug!(command, attempt = attempts, error = %err, "REST call retried");
            tokio::time::sleep(backoff.wait(attempts)).await;
        }
    }

    /// Profiles of up to any number of accounts, 50 a call, in the order asked.
    pub async fn get_official_account_info(
        &self,
        accounts: &[String],
    ) -> Result<Vec<AccountInfo>, RestError> {
        let mut out = Vec::with_capacity(accounts.len());
        for chunk in accounts.chunks(ACCOUNTS_PER_CALL) {
            let request = AccountInfoRequest {
                official_account_id_list: chunk
                    .iter()
                    .map(|a| AccountId {
                        official_account: a.clone(),
                    })
                    .collect(),
            };
            let answer: AccountInfoAnswer = self.call(GET_ACCOUNT_INFO, &request).await?;
            out.extend(answer.official_account_info_list);
        }
        Ok(out)
    }

    /// One page of an account's subscribers; `next` is "" for the first.
    pub async fn get_subscriber_info(
        &self,
        account: &str,
        next: &str,
        limit: u32,
    ) -> Result<SubscriberPage, RestError> {
        let request = SubscriberRequest {
            official_account: account.to_owned(),
            limit: limit.min(SUBSCRIBERS_PER_PAGE),
            next: next.to_owned(),
        };
        self.call(GET_SUBSCRIBERS, &request).await
    }

    /// One page of an account's messages, newest first, recalled ones included; `last`
    /// is the previous page's `LastMsgKey` (`None` for the newest page).
    pub async fn official_account_msg_get_simple(
        &self,
        account: &str,
        last: Option<&str>,
    ) -> Result<MessagePage, RestError> {
        let request = MessageRequest {
            official_account: account.to_owned(),
            req_msg_number: MESSAGES_PER_CALL,
            last_msg_key: last.map(str::to_owned),
            with_recalled_msg: 1,
        };
        self.call(GET_MESSAGES, &request).await
    }
}

// ---- Request and answer bodies (shared with the stand-in) ----
// Tencent's names are PascalCase, except the `*_Account` ones, named field by field.

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountId {
    #[serde(rename = "Official_Account")]
    pub official_account: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountInfoRequest {
    pub official_account_id_list: Vec<AccountId>,
}

/// One account of `get_official_account_info`'s answer: its own error code (130004 when
/// it does not exist), else its profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct AccountInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_status: Option<String>,
    pub error_code: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_info: Option<String>,
    #[serde(rename = "Official_Account")]
    pub official_account: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "Owner_Account", skip_serializing_if = "Option::is_none")]
    pub owner_account: Option<String>,
    /// Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introduction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscriber_num: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub(crate) struct AccountInfoAnswer {
    pub official_account_info_list: Vec<AccountInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubscriberRequest {
    #[serde(rename = "Official_Account")]
    pub official_account: String,
    pub limit: u32,
    #[serde(default)]
    pub next: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Subscriber {
    #[serde(rename = "Subscriber_Account")]
    pub subscriber_account: String,
    /// Unix seconds.
    pub subscribe_time: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct SubscriberPage {
    pub next: String,
    pub subscriber_num: u64,
    pub subscriber_list: Vec<Subscriber>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageRequest {
    #[serde(rename = "Official_Account")]
    pub official_account: String,
    pub req_msg_number: u32,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_msg_key: Option<String>,
    #[serde(default)]
    pub with_recalled_msg: u32,
}

/// `IsPlaceMsg`: 0 a message, 1 deleted or expired (empty body), 2 recalled.
pub(crate) const PLACE_DELETED: i64 = 1;
pub const PLACE_RECALLED: i64 = 2;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HistoryMessage {
    pub msg_key: String,
    pub msg_seq: u64,
    /// Unix seconds.
    pub msg_time_stamp: u64,
    #[serde(rename = "From_Account", skip_serializing_if = "Option::is_none")]
    pub from_account: Option<String>,
    pub is_place_msg: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg_body: Option<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct MessagePage {
    /// 1 complete, 0 cut (ask again with `LastMsgKey`), 2 older messages expired.
    pub is_finished: i64,
    pub last_msg_key: String,
    pub rsp_msg_list: Vec<HistoryMessage>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> Result<TencentSettings, ConfigError> {
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        TencentSettings::read(&Env::new(|k| vars.get(k).map(|v| v.to_string())))
    }

    #[test]
    fn config_names_what_is_missing_and_hides_the_key() {
        let ok = lookup(&[
            ("TENCENT_API_BASE_URL", "https://adminapisgp.im.qcloud.com/"),
            ("TENCENT_ADMIN_IDENTIFIER", "administrator"),
            ("TENCENT_SECRET_KEY", "s3cr3t-key"),
        ])
        .expect("valid");
        assert_eq!(ok.base_url, "https://adminapisgp.im.qcloud.com");
        assert!(!format!("{ok:?}").contains("s3cr3t-key"));
        let base = ("TENCENT_API_BASE_URL", "https://x");
        let admin = ("TENCENT_ADMIN_IDENTIFIER", "a");
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tencent-AbCdEf";
        let by_arn = lookup(&[base, admin, ("TENCENT_SECRET_KEY_ARN", arn)]).expect("valid");
        assert_eq!(by_arn.key, KeySource::SecretArn(arn.to_owned()));
        let ftp = ("TENCENT_API_BASE_URL", "ftp://x");
        let cases: [(&[(&str, &str)], &str); 4] = [
            (&[base], "TENCENT_ADMIN_IDENTIFIER"),
            (&[base, admin], "TENCENT_SECRET_KEY"),
            (
                &[ftp, admin, ("TENCENT_SECRET_KEY", "k")],
                "TENCENT_API_BASE_URL",
            ),
            (
                &[base, admin, ("TENCENT_SECRET_KEY_ARN", "tencent-key")],
                "TENCENT_SECRET_KEY_ARN",
            ),
        ];
        for (vars, variable) in cases {
            assert_eq!(lookup(vars).unwrap_err().variable, variable, "{vars:?}");
        }
    }

    #[test]
    fn retryable_errors() {
        let info = String::new;
        for code in BUSY_CODES.into_iter().chain(INTERNAL_CODES) {
            assert!(RestError::Api { code, info: info() }.retryable(), "{code}");
        }
        assert!(RestError::Timeout.retryable());
        assert!(RestError::Http(503).retryable());
        assert!(!RestError::Http(404).retryable());
        assert!(!RestError::NoSuchAccount.retryable());
        assert!(!RestError::Auth {
            code: 70009,
            info: info()
        }
        .retryable());
    }

    #[tokio::test]
    async fn limiter_spaces_each_command() {
        let limiter = Limiter::new(1000);
        let start = Instant::now();
        for _ in 0..101 {
            limiter.wait(GET_SUBSCRIBERS).await;
        }
        // 101 calls at 1000 a second: the last one at least 100 ms after the first.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(100), "{took:?}");
        // Another command has its own budget.
        let t = Instant::now();
        limiter.wait(GET_MESSAGES).await;
        assert!(t.elapsed() < Duration::from_millis(20));
    }

    #[test]
    fn answers_parse_the_documented_shapes() {
        let page: SubscriberPage = serde_json::from_str(
            r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","Next":"abc","SubscriberNum":2,
               "SubscriberList":[{"Subscriber_Account":"u1","SubscribeTime":1670574414,"CustomString":"x"}]}"#,
        )
        .expect("page");
        assert_eq!(page.next, "abc");
        assert_eq!(page.subscriber_list[0].subscribe_time, 1670574414);
        let msgs: MessagePage = serde_json::from_str(
            r#"{"ActionStatus":"OK","ErrorCode":0,"IsFinished":1,"LastMsgKey":"7_1_1",
               "RspMsgList":[{"From_Account":"a","IsPlaceMsg":2,"MsgBody":[],"MsgSeq":7,"MsgKey":"7_1_1","MsgTimeStamp":1}]}"#,
        )
        .expect("messages");
        assert_eq!(msgs.rsp_msg_list[0].is_place_msg, PLACE_RECALLED);
    }
}
