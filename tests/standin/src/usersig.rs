//! A UserSig checked as Tencent checks it (docs/protocol.md section 7): the stand-in's
//! side of src/tencent/usersig.rs, which only makes them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use oa_webhook::tencent::usersig::{gen_usersig, SecretKey, SigDoc};
use std::io::Read;

/// Why a UserSig was refused, with the error code Tencent answers for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    #[error("UserSig cannot be parsed")]
    Unparsable,
    #[error("UserSig check failed")]
    BadSignature,
    #[error("UserSig expired")]
    Expired,
    #[error("identifier does not match the UserSig")]
    WrongIdentifier,
    #[error("SDKAppID does not match the UserSig")]
    WrongApp,
}

impl SigError {
    /// Tencent's error code for this refusal (protocol.md section 7).
    pub fn code(&self) -> i64 {
        match self {
            SigError::Expired => 70001,
            SigError::Unparsable => 70003,
            SigError::BadSignature => 70009,
            SigError::WrongIdentifier => 70013,
            SigError::WrongApp => 70014,
        }
    }
}

/// Reads a UserSig back: the alphabet undone, base64, zlib inflate, JSON. Checks nothing.
pub fn decode(usersig: &str) -> Result<SigDoc, SigError> {
    let b64: String = usersig
        .chars()
        .map(|c| match c {
            '*' => '+',
            '-' => '/',
            '_' => '=',
            c => c,
        })
        .collect();
    let compressed = STANDARD.decode(b64).map_err(|_| SigError::Unparsable)?;
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(&compressed[..])
        // A UserSig is a few hundred bytes; refuse anything that inflates past 64 KiB.
        .take(64 * 1024)
        .read_to_end(&mut json)
        .map_err(|_| SigError::Unparsable)?;
    serde_json::from_slice(&json).map_err(|_| SigError::Unparsable)
}

/// Checks a UserSig as Tencent does: parsable, signed with `key`, for `identifier` and
/// `sdkappid`, and not expired at `now` (Unix seconds). The HMAC expected is the one
/// [`gen_usersig`] puts in a UserSig of the same fields.
pub fn verify(
    usersig: &str,
    key: &SecretKey,
    identifier: &str,
    sdkappid: u64,
    now: u64,
) -> Result<SigDoc, SigError> {
    let doc = decode(usersig)?;
    let expected = decode(&gen_usersig(
        key,
        &doc.identifier,
        doc.sdkappid,
        doc.time,
        doc.expire,
    ))?;
    if expected.sig != doc.sig {
        return Err(SigError::BadSignature);
    }
    if doc.sdkappid != sdkappid {
        return Err(SigError::WrongApp);
    }
    if doc.identifier != identifier {
        return Err(SigError::WrongIdentifier);
    }
    if doc.time.saturating_add(doc.expire) < now {
        return Err(SigError::Expired);
    }
    Ok(doc)
}
