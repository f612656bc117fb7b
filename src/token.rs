//! The webhook-authentication token (docs/contract.md section 1): `CALLBACK_TOKEN` given
//! directly, or `CALLBACK_TOKEN_ARN`, a Secrets Manager secret whose `SecretString` is the
//! token or a JSON object with `CALLBACK_TOKEN`.
//!
//! A token from a secret is read at start and again after a `Sign` that does not match it
//! ([`CallbackToken::reread_after_mismatch`]), at most once a minute (contract section 1);
//! the limit makes a flood of bad signatures cost at most one read a minute. The reader
//! is the sync's ([`crate::tencent::secret`]: the function's SDK settings and HTTPS
//! client). The token is never in a log line or a `Debug` output.

use crate::tencent::secret::{self, SecretError};
use std::fmt;
use std::sync::{Arc, LockResult, Mutex, PoisonError, RwLock};

/// The shortest time between two reads of the secret, seconds.
pub(crate) const REREAD_INTERVAL_SECS: u64 = 60;

/// The JSON key of the token in a secret's `SecretString`.
pub(crate) const SECRET_JSON_KEY: &str = "CALLBACK_TOKEN";

/// The token the webhook checks `Sign` against. Cheap to clone: clones share the token,
/// so a token read again is seen by every invocation of the process.
#[derive(Clone)]
pub struct CallbackToken {
    inner: Arc<Inner>,
}

struct Inner {
    current: RwLock<Arc<str>>,
    secret: Option<Secret>,
}

struct Secret {
    sdk: aws_config::SdkConfig,
    arn: String,
    endpoint: Option<String>,
    /// When the secret was last read (or a read was last tried), Unix seconds.
    last_read: Mutex<u64>,
}

/// What [`CallbackToken::reread_after_mismatch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reread {
    /// The token is not from a secret (`CALLBACK_TOKEN`): nothing to read.
    Fixed,
    /// The secret was read less than `REREAD_INTERVAL_SECS` ago.
    TooSoon,
    /// Read: the same token.
    Unchanged,
    /// Read: a new token, in use from now on.
    Changed,
    /// The read failed; the token in use stays (logged, without the token).
    Failed,
}

impl CallbackToken {
    fn new(token: Arc<str>, secret: Option<Secret>) -> CallbackToken {
        let current = RwLock::new(token);
        CallbackToken {
            inner: Arc::new(Inner { current, secret }),
        }
    }

    /// `CALLBACK_TOKEN_ARN`: reads the secret `arn` (at `endpoint`, else Secrets
    /// Manager's own) now, Unix seconds `now`. The error says what failed (never the
    /// token); the caller names the variable.
    pub async fn from_secret(
        sdk: &aws_config::SdkConfig,
        arn: &str,
        endpoint: Option<&str>,
        now: u64,
    ) -> Result<CallbackToken, SecretError> {
        let token = read(sdk, arn, endpoint).await?;
        let secret = Secret {
            sdk: sdk.clone(),
            arn: arn.to_owned(),
            endpoint: endpoint.map(str::to_owned),
            last_read: Mutex::new(now),
        };
        Ok(CallbackToken::new(token, Some(secret)))
    }

    /// The token in use.
    pub fn current(&self) -> Arc<str> {
        unpoisoned(self.inner.current.read()).clone()
    }

    /// After a `Sign` that did not match: reads the secret again, unless it was read
    /// less than `REREAD_INTERVAL_SECS` before `now` (Unix seconds). Of several
    /// invocations that ask at once, one reads; the others are [`Reread::TooSoon`].
    pub async fn reread_after_mismatch(&self, now: u64) -> Reread {
        let Some(secret) = &self.inner.secret else {
            return Reread::Fixed;
        };
        {
            let mut last = unpoisoned(secret.last_read.lock());
            if now < last.saturating_add(REREAD_INTERVAL_SECS) {
                return Reread::TooSoon;
            }
            *last = now;
        }
        match read(&secret.sdk, &secret.arn, secret.endpoint.as_deref()).await {
            Ok(token) => {
                let mut current = unpoisoned(self.inner.current.write());
                if *current == token {
                    Reread::Unchanged
                } else {
                    *current = token;
                    tracing::info!("CALLBACK_TOKEN_ARN: the secret holds a new token; in use");
                    Reread::Changed
                }
            }
            Err(e) => {
                tracing::warn!("CALLBACK_TOKEN_ARN {e}; the token in use stays");
                Reread::Failed
            }
        }
    }
}

/// A lock's guard even if a holder panicked: the token and the time it guards are each
/// written in one assignment, so they are never half-changed.
fn unpoisoned<G>(lock: LockResult<G>) -> G {
    lock.unwrap_or_else(PoisonError::into_inner)
}

async fn read(
    sdk: &aws_config::SdkConfig,
    arn: &str,
    endpoint: Option<&str>,
) -> Result<Arc<str>, SecretError> {
    let text = secret::fetch_secret_string(sdk, arn, endpoint).await?;
    secret::value_in_secret_string(&text, &[SECRET_JSON_KEY])
        .map(Arc::from)
        .ok_or(SecretError::Empty("token"))
}

impl fmt::Debug for CallbackToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = self.inner.secret.as_ref().map_or("fixed", |_| "secret");
        write!(f, "CallbackToken(<{source}>)")
    }
}

/// Equal when the tokens in use are.
impl PartialEq for CallbackToken {
    fn eq(&self, other: &CallbackToken) -> bool {
        self.current() == other.current()
    }
}

impl Eq for CallbackToken {}

/// `CALLBACK_TOKEN`: a token given directly.
impl From<&str> for CallbackToken {
    fn from(token: &str) -> CallbackToken {
        CallbackToken::new(token.into(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fixed_token_is_never_read_again() {
        let t = CallbackToken::from("xxxxyyyy");
        assert_eq!(&*t.current(), "xxxxyyyy");
        assert_eq!(t.reread_after_mismatch(1_000_000).await, Reread::Fixed);
        assert_eq!(format!("{t:?}"), "CallbackToken(<fixed>)");
    }
}
