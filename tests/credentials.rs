//! The function's credentials when the key variables are absent and a container-credentials
//! endpoint is configured (`clients::sdk::CredentialSource::Container`): read from the
//! process environment, as the function does, against a local credentials endpoint and
//! the local DynamoDB. Its own test binary, and one test, because it changes the process
//! environment.

// Only some of the shared helpers are used by this binary.
#[allow(dead_code)]
#[path = "it/common/mod.rs"]
mod common;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use common::*;
use oa_webhook::clients;
use oa_webhook::clients::sdk::{AwsSettings, CredentialSource};
use oa_webhook::store::Store;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

const KEY_ID: &str = "ASIACONTAINERTEST";
const AUTH_TOKEN: &str = "container-auth-token";

/// A credentials endpoint as ECS and Lambda serve it: every GET answered with a role
/// session's keys; the `Authorization` header of each request is recorded.
fn credentials_endpoint() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let addr = listener.local_addr().expect("local address");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone the socket"));
            let mut auth = String::from("<none>");
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("authorization") {
                        auth = value.trim().to_owned();
                    }
                }
            }
            record.lock().expect("lock").push(auth);
            let body = json!({
                "AccessKeyId": KEY_ID,
                "SecretAccessKey": "container-secret",
                "Token": "container-session-token",
                "Expiration": "2099-01-01T00:00:00Z",
            })
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://{addr}/v2/credentials"), seen)
}

/// Records the SigV4 `Authorization` header of each DynamoDB request.
#[derive(Debug, Clone, Default)]
struct Signatures(Arc<Mutex<Vec<String>>>);

impl Intercept for Signatures {
    fn name(&self) -> &'static str {
        "Signatures"
    }
    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let auth = context
            .request()
            .headers()
            .get("authorization")
            .unwrap_or("<none>")
            .to_owned();
        self.0.lock().map_err(|_| "poisoned")?.push(auth);
        Ok(())
    }
}

#[tokio::test]
async fn container_credentials_sign_the_writes() {
    let (uri, fetched) = credentials_endpoint();
    // SAFETY (edition 2021: a safe call): this binary's only test, and the environment is
    // changed before any thread of ours reads it.
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        std::env::remove_var(var);
    }
    std::env::set_var("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri);
    std::env::set_var("AWS_CONTAINER_AUTHORIZATION_TOKEN", AUTH_TOKEN);
    std::env::set_var("AWS_REGION", "us-east-1");
    // Still pointed at the local DynamoDB (`make test` sets it; fails loudly otherwise).
    let endpoint = endpoint();

    let settings = match AwsSettings::from_env() {
        Ok(s) => s,
        Err(e) => panic!("settings with a container endpoint: {e}"),
    };
    assert_eq!(settings.credentials, CredentialSource::Container);
    assert_eq!(settings.endpoint_url.as_deref(), Some(endpoint.as_str()));

    let signatures = Signatures::default();
    let client = clients::webhook_dynamodb(&settings.sdk_config());
    let client = aws_sdk_dynamodb::Client::from_conf(
        client
            .config()
            .to_builder()
            .interceptor(signatures.clone())
            .build(),
    );
    let mut f = Fixture::new().await;
    f.app.store = Store::new(client, f.table.clone());

    for account in ["@TOA#_cred_1", "@TOA#_cred_2"] {
        let r = f
            .after(
                "OfficialAccount.CallbackAfterCreateOfficialAccount",
                json!({
                    "Official_Account": account,
                    "Operator_Account": "107867",
                    "Owner_Account": "107867",
                    "Name": "Creds",
                    "EventTime": 1670574414123u64
                }),
            )
            .await;
        assert_ok(&r);
    }
    assert_eq!(f.dump().await.len(), 2, "both profiles stored");

    // Fetched once (then cached until near its expiry), with the authorization token.
    let fetched = fetched.lock().expect("lock").clone();
    assert_eq!(fetched, vec![AUTH_TOKEN.to_owned()], "credential fetches");
    // And the writes were signed with the fetched key.
    let signatures = signatures.0.lock().expect("lock").clone();
    assert_eq!(signatures.len(), 2, "{signatures:?}");
    for auth in &signatures {
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=ASIACONTAINERTEST/"),
            "{auth}"
        );
    }
}
