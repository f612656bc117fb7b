//! The AWS SDK as the function builds it, once per instance: one HTTPS client whose
//! trust store is chosen here, the credentials and region from the environment.
//!
//! The SDK's default HTTPS client loads the platform's whole trust store (every file of
//! `/etc/ssl/certs`, ~150 certificates PEM-decoded) when the first client is built. That
//! was ~80% of the CPU a cold start spent before its first reply (bench/RESULTS.md), for
//! endpoints that all chain to five roots. So by default the client trusts only those
//! five, compiled in: Amazon Root CA 1-4 and Starfield Services Root CA G2, the roots AWS
//! service endpoints present certificates from. `TLS_TRUST_STORE` chooses:
//!
//! | value | trusts |
//! |---|---|
//! | unset | `amazon`, except `system` when an endpoint override is set (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_STS`) or the region is a China region (`cn-*`) |
//! | `amazon` | the five roots compiled in |
//! | `system` | the platform's store (the SDK's default behaviour; `SSL_CERT_FILE` is honoured) |

use crate::config::ConfigError;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder};

/// Amazon Root CA 1-4 and Starfield Services Root Certificate Authority - G2 (PEM), as
/// shipped by Debian's ca-certificates.
pub const AMAZON_ROOTS_PEM: &[u8] = include_bytes!("certs/amazon-roots.pem");

/// Which roots the HTTPS client trusts; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustRoots {
    Amazon,
    System,
}

impl TrustRoots {
    pub const VARIABLE: &'static str = "TLS_TRUST_STORE";

    /// Reads `TLS_TRUST_STORE`, the endpoint overrides and the region through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |k: &str| lookup(k).is_some_and(|v| !v.trim().is_empty());
        match lookup(Self::VARIABLE).as_deref().map(str::trim) {
            None | Some("") => {
                let overridden = [
                    "AWS_ENDPOINT_URL",
                    "AWS_ENDPOINT_URL_DYNAMODB",
                    "AWS_ENDPOINT_URL_STS",
                ]
                .into_iter()
                .any(set);
                let china = ["AWS_REGION", "AWS_DEFAULT_REGION"]
                    .into_iter()
                    .filter_map(&lookup)
                    .any(|r| r.trim().starts_with("cn-"));
                Ok(if overridden || china {
                    TrustRoots::System
                } else {
                    TrustRoots::Amazon
                })
            }
            Some(v) if v.eq_ignore_ascii_case("amazon") => Ok(TrustRoots::Amazon),
            Some(v) if v.eq_ignore_ascii_case("system") => Ok(TrustRoots::System),
            Some(_) => Err(ConfigError {
                variable: Self::VARIABLE,
                problem: "must be `amazon` or `system` (or unset)".to_owned(),
            }),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    fn trust_store(self) -> TrustStore {
        match self {
            TrustRoots::Amazon => TrustStore::empty().with_pem_certificate(AMAZON_ROOTS_PEM),
            TrustRoots::System => TrustStore::default(),
        }
    }
}

/// The SDK's default HTTPS client (hyper 1, rustls with aws-lc, proxy settings from the
/// environment) with the trust store `roots`.
pub fn https_client(roots: TrustRoots) -> SharedHttpClient {
    let context = TlsContext::builder()
        .with_trust_store(roots.trust_store())
        .build();
    // `build` cannot fail today (it only stores its arguments); should it ever, fall back to
    // the SDK's defaults rather than refuse to start.
    let context = context.unwrap_or_default();
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut conn = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context.clone());
        conn.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            conn.set_sleep_impl(components.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::from_env()));
        conn.build()
    })
}

/// `aws_config::load_from_env()` with the HTTPS client of [`https_client`]: region and
/// credentials from the default chains (on Lambda: the environment).
pub async fn load(roots: TrustRoots) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client(roots))
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn roots(vars: &[(&str, &str)]) -> Result<TrustRoots, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        TrustRoots::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn amazon_roots_by_default_system_for_overrides_and_china() {
        assert_eq!(roots(&[]), Ok(TrustRoots::Amazon));
        assert_eq!(
            roots(&[("AWS_REGION", "eu-west-1")]),
            Ok(TrustRoots::Amazon)
        );
        assert_eq!(
            roots(&[("AWS_REGION", "cn-north-1")]),
            Ok(TrustRoots::System)
        );
        assert_eq!(
            roots(&[("AWS_DEFAULT_REGION", "cn-northwest-1")]),
            Ok(TrustRoots::System)
        );
        for var in [
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_ENDPOINT_URL_STS",
        ] {
            assert_eq!(
                roots(&[(var, "https://ddb.example")]),
                Ok(TrustRoots::System),
                "{var}"
            );
            assert_eq!(roots(&[(var, " ")]), Ok(TrustRoots::Amazon), "{var} blank");
        }
    }

    #[test]
    fn the_variable_wins_and_is_validated() {
        let china = ("AWS_REGION", "cn-north-1");
        assert_eq!(
            roots(&[china, ("TLS_TRUST_STORE", "amazon")]),
            Ok(TrustRoots::Amazon)
        );
        assert_eq!(
            roots(&[("TLS_TRUST_STORE", " System ")]),
            Ok(TrustRoots::System)
        );
        assert_eq!(
            roots(&[china, ("TLS_TRUST_STORE", "")]),
            Ok(TrustRoots::System)
        );
        let err = roots(&[("TLS_TRUST_STORE", "none")]).unwrap_err();
        assert_eq!(err.variable, "TLS_TRUST_STORE");
        assert!(err.to_string().contains("`amazon` or `system`"), "{err}");
    }

    #[test]
    fn the_compiled_in_roots_are_the_five_expected_certificates() {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::CertificateDer;
        let certs: Vec<CertificateDer<'_>> = CertificateDer::pem_slice_iter(AMAZON_ROOTS_PEM)
            .collect::<Result<_, _>>()
            .expect("the bundle is valid PEM");
        assert_eq!(certs.len(), 5);
        // Each is a parsable trust anchor (what rustls will make of it).
        for cert in &certs {
            webpki::anchor_from_trusted_cert(cert).expect("a usable trust anchor");
        }
        let text = std::str::from_utf8(AMAZON_ROOTS_PEM).expect("ASCII");
        for name in [
            "Amazon_Root_CA_1",
            "Amazon_Root_CA_4",
            "Starfield_Services_Root",
        ] {
            assert!(text.contains(name), "{name}");
        }
    }
}
