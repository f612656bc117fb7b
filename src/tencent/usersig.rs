//! UserSig (TLS-SigAPIv2), the ticket every REST call carries: made as docs/protocol.md
//! section 7 says, the JSON keys in the order of Tencent's Node library (`tls-sig-api-v2`
//! 1.0.2). `expire` is a lifetime in seconds counted from `time`. The secret key is a
//! [`SecretKey`], whose `Debug` never shows it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The app's secret key (console: "Key" of the app). Never printed: `Debug` shows
/// `SecretKey(<redacted>)`, and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn new(key: impl Into<String>) -> SecretKey {
        SecretKey(key.into())
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// What a UserSig says, once decoded (the stand-in, tests/standin/src/usersig.rs, checks it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SigDoc {
    #[serde(rename = "TLS.ver")]
    pub ver: String,
    #[serde(rename = "TLS.identifier")]
    pub identifier: String,
    #[serde(rename = "TLS.sdkappid")]
    pub sdkappid: u64,
    #[serde(rename = "TLS.time")]
    pub time: u64,
    #[serde(rename = "TLS.expire")]
    pub expire: u64,
    #[serde(rename = "TLS.sig")]
    pub sig: String,
}

/// `base64(HMAC-SHA256(key, content))`.
fn hmac_base64(key: &SecretKey, identifier: &str, sdkappid: u64, time: u64, expire: u64) -> String {
    let content = format!(
        "TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{time}\nTLS.expire:{expire}\n"
    );
    // HMAC accepts keys of any length.
    let mut mac = HmacSha256::new_from_slice(key.0.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(content.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The UserSig for `identifier` in app `sdkappid`, made at `time` (Unix seconds) and
/// valid for `expire` seconds.
pub fn gen_usersig(
    key: &SecretKey,
    identifier: &str,
    sdkappid: u64,
    time: u64,
    expire: u64,
) -> String {
    let doc = SigDoc {
        ver: "2.0".to_owned(),
        identifier: identifier.to_owned(),
        sdkappid,
        time,
        expire,
        sig: hmac_base64(key, identifier, sdkappid, time, expire),
    };
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Serializing a struct of strings and integers into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut z, &doc);
    let compressed = z.finish().unwrap_or_default();
    let b64 = STANDARD.encode(compressed);
    b64.replace('+', "*").replace('/', "-").replace('=', "_")
}

/// One UserSig, reused until it nears its expiry, then made again.
#[derive(Debug)]
pub(crate) struct SigCache {
    key: SecretKey,
    pub identifier: String,
    pub sdkappid: u64,
    current: std::sync::Mutex<Option<(String, u64)>>,
}

impl SigCache {
    /// UserSigs valid for one day, renewed once half of that has passed.
    pub(crate) const LIFETIME_SECS: u64 = 86_400;

    pub fn new(key: SecretKey, identifier: impl Into<String>, sdkappid: u64) -> SigCache {
        SigCache {
            key,
            identifier: identifier.into(),
            sdkappid,
            current: std::sync::Mutex::new(None),
        }
    }

    /// A UserSig valid at `now` (Unix seconds) for at least half its lifetime.
    pub fn get(&self, now: u64) -> String {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((sig, made)) = current.as_ref() {
            if now >= *made && now - made < Self::LIFETIME_SECS / 2 {
                return sig.clone();
            }
        }
        let sig = gen_usersig(
            &self.key,
            &self.identifier,
            self.sdkappid,
            now,
            Self::LIFETIME_SECS,
        );
        *current = Some((sig.clone(), now));
        sig
    }

    /// Forgets the cached UserSig (after Tencent answered 70001).
    pub(crate) fn invalidate(&self) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Produced by Tencent's Node library, tls-sig-api-v2 1.0.2 (npm), with its clock fixed:
    //   Date.now = () => 1700000000 * 1000;
    //   new (require('tls-sig-api-v2').Api)(1400000001, KEY).genUserSig('administrator', 86400*180)
    const NODE_SDKAPPID: u64 = 1_400_000_001;
    const NODE_KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
    const NODE_IDENTIFIER: &str = "administrator";
    const NODE_TIME: u64 = 1_700_000_000;
    const NODE_EXPIRE: u64 = 86_400 * 180;
    const NODE_USERSIG: &str = "eJw9ytEKgjAYBeB3*W8L2bRRDLrToMibZlLdWZvyJ7OxjVFE7x456dyd75w3VHuRBGWBQ5oQmI8dpRo8tjhyIzUO6Lxt-MNOByf7xhiUwOmCxNC4eNQKOF1OSqKqp0H7c8ZY*leHHXB4*dP5kJuu3yldrW7XEOqtFrOsyNJcXFq2Ke91USpi5XENny9IVTSv";
    // The same library's document, inflated: the HMAC it carries.
    const NODE_HMAC: &str = "ytXYRDpgkJemT8cbvvVImS+3E32DSZf5FMjVEMe0rdU=";

    fn key() -> SecretKey {
        SecretKey::new(NODE_KEY)
    }

    /// A UserSig's JSON document, decoded by hand: the alphabet undone, base64, inflate.
    fn inflate(usersig: &str) -> String {
        let b64 = usersig
            .replace('*', "+")
            .replace('-', "/")
            .replace('_', "=");
        let z = STANDARD.decode(b64).expect("base64");
        let mut json = String::new();
        std::io::Read::read_to_string(&mut flate2::read::ZlibDecoder::new(&z[..]), &mut json)
            .expect("zlib");
        json
    }

    #[test]
    fn node_library_vector() {
        let node = |f: fn(&SecretKey, &str, u64, u64, u64) -> String| {
            f(
                &key(),
                NODE_IDENTIFIER,
                NODE_SDKAPPID,
                NODE_TIME,
                NODE_EXPIRE,
            )
        };
        // The HMAC is byte for byte Tencent's.
        assert_eq!(node(hmac_base64), NODE_HMAC);
        let ours = node(gen_usersig);
        // The JSON documents are byte for byte the same (zlib encoders may compress the
        // same bytes differently, so the outer strings are compared after inflating).
        assert_eq!(inflate(&ours), inflate(NODE_USERSIG));
        assert_eq!(
            inflate(NODE_USERSIG),
            format!(
                r#"{{"TLS.ver":"2.0","TLS.identifier":"administrator","TLS.sdkappid":1400000001,"TLS.time":1700000000,"TLS.expire":15552000,"TLS.sig":"{NODE_HMAC}"}}"#
            )
        );
    }

    #[test]
    fn ours_decodes_back_and_the_hmac_holds() {
        let sig = gen_usersig(&key(), "admin_1", 1_400_000_002, 1_234_567_890, 3600);
        assert!(
            sig.chars()
                .all(|c| c.is_ascii_alphanumeric() || "*-_".contains(c)),
            "only the *-_ alphabet: {sig}"
        );
        let v: serde_json::Value = serde_json::from_str(&inflate(&sig)).expect("json");
        assert_eq!(v["TLS.ver"], "2.0");
        assert_eq!(v["TLS.identifier"], "admin_1");
        assert_eq!(v["TLS.sdkappid"], 1_400_000_002u64);
        assert_eq!(v["TLS.time"], 1_234_567_890u64);
        assert_eq!(v["TLS.expire"], 3600);
        let mut mac = HmacSha256::new_from_slice(NODE_KEY.as_bytes()).expect("key");
        mac.update(
            b"TLS.identifier:admin_1\nTLS.sdkappid:1400000002\nTLS.time:1234567890\nTLS.expire:3600\n",
        );
        let raw = STANDARD
            .decode(v["TLS.sig"].as_str().expect("sig"))
            .expect("sig base64");
        mac.verify_slice(&raw).expect("HMAC of the content");
    }

    #[test]
    fn the_key_never_shows_in_debug() {
        let cache = SigCache::new(key(), "admin", 1_400_000_001);
        let shown = format!("{:?} {:?}", key(), cache);
        assert!(!shown.contains(NODE_KEY), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn cache_reuses_then_renews() {
        let cache = SigCache::new(key(), "admin", 1_400_000_001);
        let a = cache.get(10_000);
        assert_eq!(cache.get(10_000 + SigCache::LIFETIME_SECS / 2 - 1), a);
        let b = cache.get(10_000 + SigCache::LIFETIME_SECS / 2);
        assert_ne!(a, b);
        let time = |sig: &str| {
            serde_json::from_str::<SigDoc>(&inflate(sig))
                .expect("decodes")
                .time
        };
        assert_eq!(time(&b), 10_000 + SigCache::LIFETIME_SECS / 2);
        cache.invalidate();
        assert_eq!(time(&cache.get(50_000)), 50_000);
    }
}
