//! Contract section 7: the callbacks this function does not store (rows 8 and 9) relayed
//! to the app's own backend, `FORWARD_URL`, as they came in (method, query, body) with
//! `Content-Type: application/json`; the backend's status, body and content type are the
//! reply, a 3xx too (redirects are not followed). A relay that cannot connect or finish
//! before the request's deadline, or whose reply is larger than [`MAX_REPLY_BYTES`], is a
//! [`RelayFailure`] (answered 502 FAIL by the caller).
//!
//! The client is the HTTPS stack the AWS SDK already uses in this binary (hyper 1, rustls
//! with ring, from `aws-smithy-http-client`; `clients::sdk::tls_provider`), with the
//! platform's trust store (`TLS_TRUST_STORE=system` semantics, `SSL_CERT_FILE` honoured):
//! the backend is the app's own server, not an AWS endpoint. It is built on the first
//! relay, not at start, because loading the platform store costs a cold start most of its
//! CPU (`src/clients/sdk.rs`); an instance that never relays never pays it.

use crate::clients::sdk::TrustRoots;
use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_runtime_api::http::Request as HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

/// The header every relayed request carries. A request that arrives with it was relayed by
/// an instance of this function: `FORWARD_URL` points back at the webhook, and relaying it
/// again would loop (each hop a new invocation) until the budget ran out. The HTTP door
/// reads it, and such a request is answered here instead (contract rows 8 and 9 without
/// `FORWARD_URL`).
pub const HOP_HEADER: &str = "x-oa-webhook-relay";

/// The largest reply relayed, in bytes. A Lambda reply is at most 6 MB, and a reply that
/// is not UTF-8 travels base64-encoded (4/3 larger).
pub const MAX_REPLY_BYTES: usize = 4 * 1024 * 1024;

/// How long an idle connection to the backend is kept for reuse. Shorter than common
/// server keep-alive timeouts (Node.js: 5 s), so that a connection the backend has closed
/// is rarely picked up.
const POOL_IDLE: Duration = Duration::from_secs(4);

/// The backend's answer, relayed as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayedReply {
    pub status: u16,
    /// The backend's `Content-Type`, verbatim; `None` when it sent none.
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Why a relay failed; the request is answered 502.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayFailure {
    /// No complete reply before the deadline.
    Timeout,
    /// No connection, or it broke before the reply was complete.
    Unreachable,
    /// The reply is larger than [`MAX_REPLY_BYTES`].
    TooLarge,
    /// The request could not be built (a method or URL the HTTP library refuses).
    Invalid,
}

impl RelayFailure {
    /// The `reason` label of the request line.
    pub fn label(self) -> &'static str {
        match self {
            RelayFailure::Timeout => "relay_timeout",
            RelayFailure::Unreachable => "relay_unreachable",
            RelayFailure::TooLarge => "relay_too_large",
            RelayFailure::Invalid => "relay_invalid",
        }
    }
}

/// The relay client: one connection pool per function instance. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Relay {
    connector: Arc<OnceLock<Connector>>,
}

impl Relay {
    fn connector(&self) -> &Connector {
        self.connector.get_or_init(|| {
            crate::clients::sdk::https_connector(
                Connector::builder().pool_idle_timeout(POOL_IDLE),
                TrustRoots::System,
            )
        })
    }

    /// Sends `body` to `url` (the forward URL with the received query appended) with
    /// `method`, and reads the whole reply, all before `deadline`.
    pub async fn forward(
        &self,
        url: &str,
        method: &str,
        body: &[u8],
        deadline: Instant,
    ) -> Result<RelayedReply, RelayFailure> {
        let mut request = HttpRequest::new(SdkBody::from(body.to_vec()));
        request.set_uri(url).map_err(|_| RelayFailure::Invalid)?;
        request
            .set_method(&method.to_ascii_uppercase())
            .map_err(|_| RelayFailure::Invalid)?;
        request
            .headers_mut()
            .insert("content-type", "application/json");
        request.headers_mut().insert(HOP_HEADER, "1");
        let exchange = async {
            let response = self.connector().call(request).await.map_err(|e| {
                if e.is_timeout() {
                    RelayFailure::Timeout
                } else {
                    RelayFailure::Unreachable
                }
            })?;
            let status = response.status().as_u16();
            let content_type = response.headers().get("content-type").map(str::to_owned);
            let mut stream = ByteStream::new(response.into_body());
            let mut body = Vec::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|_| RelayFailure::Unreachable)?;
                if body.len() + chunk.len() > MAX_REPLY_BYTES {
                    return Err(RelayFailure::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(RelayedReply {
                status,
                content_type,
                body,
            })
        };
        tokio::time::timeout_at(deadline, exchange)
            .await
            .unwrap_or(Err(RelayFailure::Timeout))
    }
}
