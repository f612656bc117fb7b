//! One TLS handshake through the connector every HTTPS call of the function uses: rustls
//! with the provider of `clients::sdk::tls_provider` (ring; docs/decisions.md "rustls with
//! ring, not aws-lc"). The local services (moto) are plain HTTP, so without this no test
//! would notice a provider that cannot complete a handshake. The server is a local TLS
//! listener with a test CA (tests/it/tls/README.md).

use aws_smithy_http_client::tls::{TlsContext, TrustStore};
use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::http::HttpConnector;
use aws_smithy_runtime_api::http::Request as HttpRequest;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CA: &[u8] = include_bytes!("tls/ca.pem");
const CERT: &[u8] = include_bytes!("tls/localhost.pem");
const KEY: &[u8] = include_bytes!("tls/localhost.key");

/// Accepts one connection, reads one request head, answers `200 ok`; returns the TLS
/// version the handshake agreed and the request head.
async fn serve_once(
    listener: tokio::net::TcpListener,
) -> std::io::Result<(Option<rustls::ProtocolVersion>, String)> {
    let certs = CertificateDer::pem_slice_iter(CERT)
        .collect::<Result<Vec<_>, _>>()
        .map_err(std::io::Error::other)?;
    let key = PrivateKeyDer::from_pem_slice(KEY).map_err(std::io::Error::other)?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(std::io::Error::other)?;
    let (tcp, _) = listener.accept().await?;
    let mut tls = tokio_rustls::TlsAcceptor::from(Arc::new(config))
        .accept(tcp)
        .await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tls.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let version = tls.get_ref().1.protocol_version();
    tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        .await?;
    tls.shutdown().await?;
    Ok((version, String::from_utf8_lossy(&head).into_owned()))
}

/// A local TLS server for one request, and a request for it through the function's
/// connector (`tls_provider()`) trusting `trust`: the server's task and the answer.
async fn exchange(
    trust: TrustStore,
) -> (
    tokio::task::JoinHandle<std::io::Result<(Option<rustls::ProtocolVersion>, String)>>,
    Result<aws_smithy_runtime_api::http::Response<SdkBody>, String>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a local port");
    let port = listener.local_addr().expect("its address").port();
    let server = tokio::spawn(serve_once(listener));
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("a TLS context");
    let connector = Connector::builder()
        .tls_provider(oa_webhook::clients::sdk::tls_provider())
        .tls_context(context)
        .build();
    let mut request = HttpRequest::new(SdkBody::empty());
    request
        .set_uri(format!("https://localhost:{port}/ping"))
        .expect("a URI");
    let answer = tokio::time::timeout(std::time::Duration::from_secs(10), connector.call(request))
        .await
        .expect("an answer within 10 s")
        .map_err(|e| format!("{e:?}"));
    (server, answer)
}

#[tokio::test]
async fn the_function_s_tls_provider_completes_a_handshake() {
    let (server, answer) = exchange(TrustStore::empty().with_pem_certificate(CA)).await;
    let response = answer.expect("the handshake and the request succeed");
    assert_eq!(response.status().as_u16(), 200);
    let body = ByteStream::new(response.into_body())
        .collect()
        .await
        .expect("the body")
        .into_bytes();
    assert_eq!(&body[..], b"ok");

    let (version, head) = server.await.expect("the server task").expect("the server");
    assert_eq!(version, Some(rustls::ProtocolVersion::TLSv1_3));
    assert!(head.starts_with("GET /ping HTTP/1.1"), "{head}");
}

/// The other half: a server whose certificate the trust store does not vouch for is
/// refused, and the server sees a failed handshake, not a request.
#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let (server, answer) = exchange(TrustStore::empty()).await;
    assert!(answer.is_err(), "an untrusted certificate was accepted");
    assert!(server.await.expect("the server task").is_err());
}
