//! The AWS SDK as the function builds it, once per instance, from the environment Lambda
//! gives it: one HTTPS client whose trust store is chosen here, the region, the
//! credentials, and an optional endpoint override.
//!
//! The settings come from the variables README's "Configuration" lists, not from the
//! SDK's default chains (profile files, SSO, STS, IMDS, processes): none exists on Lambda,
//! and leaving them out makes a smaller binary and peak RSS (docs/performance.md). The
//! trust store is by default the five roots AWS endpoints chain to, compiled in, not the
//! platform's whole store (docs/decisions.md, "The TLS trust store is five Amazon roots").

use crate::config::{ConfigError, Env};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{
    Credentials, SharedAsyncSleep, SharedCredentialsProvider, SharedHttpClient,
};
use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, Connector, ConnectorBuilder};

/// Amazon Root CA 1-4 and Starfield Services Root Certificate Authority - G2 (PEM), as
/// shipped by Debian's ca-certificates.
pub(crate) const AMAZON_ROOTS_PEM: &[u8] = include_bytes!("certs/amazon-roots.pem");

/// Which roots the HTTPS client trusts; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustRoots {
    Amazon,
    System,
}

/// The TLS provider of every HTTPS connection the function opens (AWS, the relay,
/// Tencent's REST API): rustls with ring, not the SDK's default aws-lc. Why, and what it
/// costs (no post-quantum hybrid key exchange): docs/decisions.md "rustls with ring".
pub fn tls_provider() -> tls::Provider {
    tls::Provider::Rustls(CryptoMode::Ring)
}

/// The one HTTPS connector: `conn` (its timeouts, sleep, pool) with rustls and
/// [`tls_provider`], the trust store `roots`, and proxy settings from the environment.
/// The SDK's client ([`https_client`]), the REST client to Tencent and the relay are built
/// by it.
pub(crate) fn https_connector(mut conn: ConnectorBuilder, roots: TrustRoots) -> Connector {
    conn.set_proxy_config(Some(ProxyConfig::from_env()));
    // `build` cannot fail today (it only stores its arguments); should it ever, fall back to
    // the defaults rather than refuse to start.
    let store = match roots {
        TrustRoots::Amazon => TrustStore::empty().with_pem_certificate(AMAZON_ROOTS_PEM),
        TrustRoots::System => TrustStore::default(),
    };
    let context = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .unwrap_or_default();
    conn.tls_provider(tls_provider())
        .tls_context(context)
        .build()
}

/// The SDK's HTTPS client: [`https_connector`] with the SDK's settings and sleep.
pub fn https_client(roots: TrustRoots) -> SharedHttpClient {
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut conn = ConnectorBuilder::default();
        conn.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            conn.set_sleep_impl(components.sleep_impl());
        }
        https_connector(conn, roots)
    })
}

/// Where the function's AWS credentials come from.
#[derive(Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, read once at
    /// start: what Lambda sets, for the life of the execution environment.
    Environment(Credentials),
    /// The container-credentials endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI` or
    /// `_RELATIVE_URI`, with `AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]`), used when the
    /// key variables are absent (SnapStart-style environments, ECS, EKS). The SDK's
    /// container provider reads these variables from the process environment itself, and
    /// fetches (and refreshes) the credentials when the SDK first signs.
    Container,
}

// Never the keys, not even the key id.
impl std::fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CredentialSource::Environment(_) => "Environment",
            CredentialSource::Container => "Container",
        })
    }
}

/// The AWS settings the function reads at start: the `AWS_*` variables and
/// `TLS_TRUST_STORE` of README's "Configuration", with their defaults. A missing or
/// invalid one is a [`ConfigError`] naming it, like the function's own variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    pub region: String,
    pub credentials: CredentialSource,
    pub endpoint_url: Option<String>,
    /// The SQS endpoint override (the hand-off and dead-letter queues).
    pub sqs_endpoint_url: Option<String>,
    pub use_fips: bool,
    pub use_dual_stack: bool,
    pub roots: TrustRoots,
}

impl AwsSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&Env::process())
    }

    /// Reads the settings through `lookup` (a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(&Env::new(lookup))
    }

    /// Reads the settings from `env`.
    pub fn read<L: Fn(&str) -> Option<String>>(env: &Env<L>) -> Result<Self, ConfigError> {
        let get = |name: &str| env.get(name);
        let err = ConfigError::new;
        let flag = |name: &'static str| env.flag(name);

        let region = get("AWS_REGION")
            .or_else(|| get("AWS_DEFAULT_REGION"))
            .ok_or_else(|| err("AWS_REGION", "is required (Lambda sets it)"))?;
        let credentials = if let Some(key_id) = get("AWS_ACCESS_KEY_ID") {
            let secret = get("AWS_SECRET_ACCESS_KEY").ok_or_else(|| {
                err(
                    "AWS_SECRET_ACCESS_KEY",
                    "is required when AWS_ACCESS_KEY_ID is set",
                )
            })?;
            CredentialSource::Environment(Credentials::new(
                key_id,
                secret,
                get("AWS_SESSION_TOKEN"),
                None,
                "environment",
            ))
        } else if get("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some()
            || get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_some()
        {
            CredentialSource::Container
        } else {
            return Err(err(
                "AWS_ACCESS_KEY_ID",
                "is not set, nor a container-credentials endpoint: Lambda sets them; \
                 for a local run, put credentials in the environment",
            ));
        };
        let (endpoint_url, sqs_endpoint_url) = if flag("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")? {
            (None, None)
        } else {
            (
                get("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| get("AWS_ENDPOINT_URL")),
                get("AWS_ENDPOINT_URL_SQS").or_else(|| get("AWS_ENDPOINT_URL")),
            )
        };
        // Unset: the platform's store when an endpoint is overridden or in a China region.
        let overridden = endpoint_url.is_some() || sqs_endpoint_url.is_some();
        let roots = match get("TLS_TRUST_STORE").as_deref() {
            None if overridden || region.starts_with("cn-") => TrustRoots::System,
            None => TrustRoots::Amazon,
            Some(v) if v.eq_ignore_ascii_case("amazon") => TrustRoots::Amazon,
            Some(v) if v.eq_ignore_ascii_case("system") => TrustRoots::System,
            Some(_) => {
                let problem = "must be `amazon` or `system` (or unset)";
                return Err(err("TLS_TRUST_STORE", problem));
            }
        };
        Ok(AwsSettings {
            region,
            credentials,
            endpoint_url,
            sqs_endpoint_url,
            use_fips: flag("AWS_USE_FIPS_ENDPOINT")?,
            use_dual_stack: flag("AWS_USE_DUALSTACK_ENDPOINT")?,
            roots,
        })
    }

    /// The SDK configuration: [`https_client`], Tokio timers, the region, the
    /// credentials, the endpoint override.
    pub fn sdk_config(&self) -> SdkConfig {
        self.build(self.endpoint_url.as_deref())
    }

    /// [`AwsSettings::sdk_config`] with the SQS endpoint override instead of DynamoDB's
    /// (one HTTPS stack and credentials for both).
    pub fn sqs_sdk_config(&self) -> SdkConfig {
        self.build(self.sqs_endpoint_url.as_deref())
    }

    fn build(&self, endpoint_url: Option<&str>) -> SdkConfig {
        let http_client = https_client(self.roots);
        let credentials = match &self.credentials {
            CredentialSource::Environment(keys) => SharedCredentialsProvider::new(keys.clone()),
            // The provider makes its own calls: it gets the same HTTPS client (the crate
            // builds the SDK without a default one, Cargo.toml).
            CredentialSource::Container => SharedCredentialsProvider::new(
                aws_config::ecs::EcsCredentialsProvider::builder()
                    .configure(
                        &aws_config::provider_config::ProviderConfig::default()
                            .with_http_client(http_client.clone()),
                    )
                    .build(),
            ),
        };
        let mut builder = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http_client)
            .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
            .time_source(SharedTimeSource::new(SystemTimeSource::new()))
            .region(Region::new(self.region.clone()))
            .credentials_provider(credentials)
            .use_fips(self.use_fips)
            .use_dual_stack(self.use_dual_stack);
        builder.set_endpoint_url(endpoint_url.map(str::to_owned));
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Lambda's variables: region and the execution role's keys.
    const LAMBDA: &[(&str, &str)] = &[
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_SESSION_TOKEN", "session"),
    ];

    /// Variables: name, value.
    type Vars<'a> = [(&'a str, &'a str)];

    /// `LAMBDA`, with `vars` set over it ("" unsets).
    fn settings(vars: &Vars) -> Result<AwsSettings, ConfigError> {
        let mut map: HashMap<&str, &str> = LAMBDA.iter().copied().collect();
        map.extend(vars.iter().copied());
        map.retain(|_, v| !v.is_empty());
        AwsSettings::from_lookup(|k| map.get(k).map(|v| (*v).to_owned()))
    }

    #[test]
    fn lambda_environment() {
        let s = settings(&[]).expect("Lambda's variables suffice");
        assert_eq!(s.region, "eu-west-1");
        let keys = Credentials::new(
            "ASIAEXAMPLE",
            "secret",
            Some("session".into()),
            None,
            "environment",
        );
        assert_eq!(s.credentials, CredentialSource::Environment(keys));
        assert_eq!(s.endpoint_url, None);
        assert!(!s.use_fips && !s.use_dual_stack);
        assert_eq!(s.roots, TrustRoots::Amazon);
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("secret") && !debug.contains("ASIA"),
            "{debug}"
        );
    }

    #[test]
    fn region_and_credentials() {
        let s = settings(&[("AWS_REGION", ""), ("AWS_DEFAULT_REGION", "us-west-2")]);
        assert_eq!(s.map(|s| s.region).as_deref(), Ok("us-west-2"));
        for var in [
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        ] {
            let (id, key) = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY");
            let s = settings(&[(id, ""), (key, ""), (var, "http://127.0.0.1:9001/creds")]);
            assert_eq!(s.expect(var).credentials, CredentialSource::Container);
        }
        // Keys in the environment win over a container endpoint.
        let s = settings(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/")]);
        assert!(matches!(
            s.map(|s| s.credentials),
            Ok(CredentialSource::Environment(_))
        ));
        let s = settings(&[
            ("AWS_USE_FIPS_ENDPOINT", "true"),
            ("AWS_USE_DUALSTACK_ENDPOINT", "false"),
        ])
        .expect("valid flags");
        assert!(s.use_fips && !s.use_dual_stack);
    }

    #[test]
    fn endpoint_overrides() {
        let ddb = ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000");
        let all = ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566");
        let sqs = ("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:5000");
        let ignore = ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE");
        // (variables, DynamoDB's override, SQS's override)
        let cases: [(&Vars, _, _); 7] = [
            (&[ddb], Some(ddb.1), None),
            (&[all], Some(all.1), Some(all.1)),
            (&[all, ddb], Some(ddb.1), Some(all.1)),
            (&[all, ddb, ignore], None, None),
            (&[ddb, sqs], Some(ddb.1), Some(sqs.1)),
            (&[sqs, ignore], None, None),
            (&[sqs], None, Some(sqs.1)),
        ];
        for (vars, dynamodb, sqs) in cases {
            let s = settings(vars).expect("valid");
            let urls = (s.endpoint_url.as_deref(), s.sqs_endpoint_url.as_deref());
            assert_eq!(urls, (dynamodb, sqs), "{vars:?}");
        }
    }

    /// The roots chosen, or the variable an error names, for variables set over `LAMBDA`.
    #[test]
    fn roots_by_default_by_the_variable_and_errors() {
        use TrustRoots::{Amazon, System};
        let region = |r| ("AWS_REGION", r);
        let all = |url| ("AWS_ENDPOINT_URL", url);
        let ddb = |url| ("AWS_ENDPOINT_URL_DYNAMODB", url);
        let sqs = ("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:5000");
        let ignore = ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true");
        let tls = |v| ("TLS_TRUST_STORE", v);
        let (url, china) = ("https://ddb.example", region("cn-north-1"));
        let china_default = [region(""), ("AWS_DEFAULT_REGION", "cn-northwest-1")];
        let no_keys = [("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", "")];
        let (fips, dual) = ("AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT");
        let no_secret = ("AWS_SECRET_ACCESS_KEY", "");
        let cases: [(&Vars, Result<TrustRoots, &str>); 19] = [
            (&[], Ok(Amazon)),
            (&[china], Ok(System)),
            (&china_default, Ok(System)),
            (&[all(url)], Ok(System)),
            (&[all(" ")], Ok(Amazon)),
            (&[ddb(url)], Ok(System)),
            (&[ddb(" ")], Ok(Amazon)),
            (&[sqs], Ok(System)),
            // An ignored override is no override.
            (&[all(url), ignore], Ok(Amazon)),
            // TLS_TRUST_STORE wins; blank is unset.
            (&[china, tls("amazon")], Ok(Amazon)),
            (&[tls(" System ")], Ok(System)),
            (&[china, tls("")], Ok(System)),
            (&[tls("none")], Err("TLS_TRUST_STORE")),
            (&[region("")], Err("AWS_REGION")),
            (&[region(" ")], Err("AWS_REGION")),
            (&no_keys, Err("AWS_ACCESS_KEY_ID")),
            (&[no_secret], Err("AWS_SECRET_ACCESS_KEY")),
            (&[(fips, "yes")], Err(fips)),
            (&[(dual, "1")], Err(dual)),
        ];
        for (vars, expected) in cases {
            let got = settings(vars).map(|s| s.roots).map_err(|e| e.variable);
            assert_eq!(got, expected, "{vars:?}");
        }
        let err = settings(&[tls("none")]).unwrap_err();
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
