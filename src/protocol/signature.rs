//! Webhook authentication: `Sign = hex(SHA-256(token + RequestTime))`.
//!
//! The signature covers neither the body nor the command, so replay protection is the
//! freshness window on `RequestTime`. The comparison runs in constant time. Nothing
//! here logs, and no error carries the token or the Sign.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use crate::outcome::AuthError;

/// The SHA-256 that `Sign` is the hex of.
fn digest(token: &str, request_time: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(token.as_bytes())
        .chain_update(request_time.as_bytes())
        .finalize()
        .into()
}

/// The expected signature for a token and a RequestTime string, as lowercase hex.
pub fn sign(token: &str, request_time: &str) -> String {
    hex::encode(digest(token, request_time))
}

/// Verifies `sign` and `request_time` (both as received) against the token, at `now`
/// (Unix seconds), allowing `max_skew` seconds either way.
///
/// Hex digits are accepted in either case: they denote the same digest.
pub fn verify(
    token: &str,
    sign_param: &str,
    request_time: &str,
    now: u64,
    max_skew: u64,
) -> Result<(), AuthError> {
    let mut given = [0u8; 32];
    hex::decode_to_slice(sign_param, &mut given).map_err(|_| AuthError::MalformedSign)?;
    // Digits only (`u64`'s parse would take a `+`), at most 19 of them.
    let t: u64 = Some(request_time)
        .filter(|t| !t.is_empty() && t.len() <= 19 && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse().ok())
        .ok_or(AuthError::MalformedRequestTime)?;
    if t.abs_diff(now) > max_skew {
        return Err(AuthError::Expired);
    }
    if bool::from(digest(token, request_time).ct_eq(&given)) {
        Ok(())
    } else {
        Err(AuthError::BadSign)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_SIGN: &str = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061";
    const T: u64 = 1669872112;

    /// `verify` of the vector's `RequestTime` `T`, 60 seconds either way.
    fn at(token: &str, sign: &str, now: u64) -> Result<(), AuthError> {
        verify(token, sign, "1669872112", now, 60)
    }

    #[test]
    fn documented_test_vector() {
        assert_eq!(sign("xxxxyyyy", "1669872112"), VECTOR_SIGN);
        assert_eq!(at("xxxxyyyy", VECTOR_SIGN, T), Ok(()));
    }

    #[test]
    fn the_typo_token_of_the_old_page_does_not_match() {
        assert_eq!(at("xxxyyy", VECTOR_SIGN, T), Err(AuthError::BadSign));
    }

    #[test]
    fn window_holds_on_both_sides() {
        assert_eq!(at("xxxxyyyy", VECTOR_SIGN, T + 60), Ok(()));
        assert_eq!(at("xxxxyyyy", VECTOR_SIGN, T - 60), Ok(()));
        assert_eq!(at("xxxxyyyy", VECTOR_SIGN, T + 61), Err(AuthError::Expired));
        assert_eq!(at("xxxxyyyy", VECTOR_SIGN, T - 61), Err(AuthError::Expired));
    }

    #[test]
    fn uppercase_hex_is_the_same_digest() {
        let upper = VECTOR_SIGN.to_ascii_uppercase();
        assert_eq!(at("xxxxyyyy", &upper, T), Ok(()));
    }

    #[test]
    fn malformed_inputs_are_named() {
        let v = |s: &str, t: &str| verify("xxxxyyyy", s, t, T, 60);
        let malformed = Err(AuthError::MalformedSign);
        for sign in [
            &VECTOR_SIGN[1..],
            &format!("{VECTOR_SIGN}0"),
            &VECTOR_SIGN.replace('a', "g"),
            "",
        ] {
            assert_eq!(v(sign, "1669872112"), malformed, "{sign}");
        }
        let bad_time = Err(AuthError::MalformedRequestTime);
        for t in [
            "",
            "abc",
            "-1669872112",
            "1669872112.0",
            " 1669872112",
            "+1",
            "99999999999999999999999",
        ] {
            assert_eq!(v(VECTOR_SIGN, t), bad_time, "{t:?}");
        }
        // One changed digit of the signature.
        let wrong = format!("2{}", &VECTOR_SIGN[1..]);
        assert_eq!(v(&wrong, "1669872112"), Err(AuthError::BadSign));
        // A leading zero changes the signed string.
        assert_eq!(v(VECTOR_SIGN, "01669872112"), Err(AuthError::BadSign));
    }
}
