//! `TENCENT_SECRET_KEY_ARN`: the app's secret key from Secrets Manager, read once at start
//! with the function's SDK settings and HTTPS client (no second stack).
//! Its `SecretString` and endpoint: docs/sync.md (`TENCENT_SECRET_KEY_ARN`); a DynamoDB
//! endpoint override (`AWS_ENDPOINT_URL_DYNAMODB`) never applies to it.

use super::usersig::SecretKey;

/// Why a secret could not be read; never its value. The caller names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Secrets Manager's error code, or "no answer".
    #[error("could not be read from Secrets Manager: {0}")]
    Unreadable(String),
    #[error("names a secret without a SecretString")]
    NoSecretString,
    /// The key or token in it is empty (the word names which).
    #[error("names a secret with an empty {0}")]
    Empty(&'static str),
}

/// Reads the secret `arn` at Secrets Manager (or at `endpoint`); the error never
/// contains the secret.
pub(crate) async fn fetch(
    sdk: &aws_config::SdkConfig,
    arn: &str,
    endpoint: Option<&str>,
) -> Result<SecretKey, SecretError> {
    let text = fetch_secret_string(sdk, arn, endpoint).await?;
    let key = value_in_secret_string(&text, &KEY_NAMES).map(SecretKey::new);
    key.ok_or(SecretError::Empty("key"))
}

/// Where a JSON `SecretString` holds the key, first found first.
const KEY_NAMES: [&str; 2] = ["TENCENT_SECRET_KEY", "key"];

/// The `SecretString` of the secret `arn` at Secrets Manager (or at `endpoint`), with the
/// function's SDK settings and HTTPS client; the error names what failed (an AWS error
/// code), never the secret. Also reads `CALLBACK_TOKEN_ARN` (src/token.rs).
pub(crate) async fn fetch_secret_string(
    sdk: &aws_config::SdkConfig,
    arn: &str,
    endpoint: Option<&str>,
) -> Result<String, SecretError> {
    let client = crate::clients::secrets_manager(sdk, endpoint);
    let got = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
            SecretError::Unreadable(e.code().unwrap_or("no answer").to_owned())
        })?;
    got.secret_string()
        .map(str::to_owned)
        .ok_or(SecretError::NoSecretString)
}

/// The value in a `SecretString`: the first of `keys` in a JSON object, else the whole
/// string; trimmed; `None` when empty.
pub(crate) fn value_in_secret_string(text: &str, keys: &[&str]) -> Option<String> {
    let json = serde_json::from_str::<serde_json::Value>(text).ok();
    let from_json = json
        .as_ref()
        .and_then(|v| keys.iter().find_map(|k| v[k].as_str()));
    let value = from_json.unwrap_or(text).trim();
    (!value.is_empty()).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_or_json_secret_strings() {
        let cases = [
            (" abc123\n", Some("abc123")),
            (r#"{"TENCENT_SECRET_KEY":"k1"}"#, Some("k1")),
            (r#"{"key":"k2"}"#, Some("k2")),
            ("  ", None),
        ];
        for (text, key) in cases {
            assert_eq!(value_in_secret_string(text, &KEY_NAMES).as_deref(), key);
        }
    }

    /// The real SDK call, answered by a local endpoint that plays Secrets Manager.
    #[tokio::test]
    async fn fetches_through_the_sdk() {
        use bytes::Bytes;
        use http_body_util::{BodyExt, Full};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listen");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let service = hyper::service::service_fn(
                |req: hyper::Request<hyper::body::Incoming>| async move {
                    let target = req.headers().get("x-amz-target").cloned();
                    let body = req.into_body().collect().await.expect("body").to_bytes();
                    let asked: serde_json::Value = serde_json::from_slice(&body).expect("json");
                    let answer = if target.is_some_and(|t| t == "secretsmanager.GetSecretValue")
                        && asked["SecretId"] == "arn:aws:secretsmanager:us-east-1:1:secret:t"
                    {
                        r#"{"ARN":"arn:aws:secretsmanager:us-east-1:1:secret:t","Name":"t","SecretString":"{\"TENCENT_SECRET_KEY\":\"from-the-secret\"}"}"#
                    } else {
                        r#"{"__type":"ResourceNotFoundException","message":"no"}"#
                    };
                    let response = hyper::Response::new(Full::new(Bytes::from(answer)));
                    Ok::<_, std::convert::Infallible>(response)
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
        // The function's SDK settings, as read from its environment.
        let url = format!("http://{addr}");
        let vars = std::collections::HashMap::from([
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_ENDPOINT_URL_DYNAMODB", &url),
        ]);
        let env = crate::config::Env::new(|k| vars.get(k).map(|v| v.to_string()));
        let sdk = crate::clients::sdk::AwsSettings::read(&env)
            .expect("settings")
            .sdk_config();
        // The SDK config's endpoint (a DynamoDB override) is replaced by Secrets Manager's.
        let arn = "arn:aws:secretsmanager:us-east-1:1:secret:t";
        let key = fetch(&sdk, arn, Some(&url)).await.expect("answered");
        assert_eq!(key, SecretKey::new("from-the-secret"));
        server.abort();
    }
}
