//! The webhook URL's query string.
//!
//! Tencent spells some keys differently across products (`SdkAppid`, `SdkAppID`,
//! `SDKAppID`), so keys are matched case-insensitively. A key given more than once with
//! different values is ambiguous and reported as such, never silently resolved.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use std::borrow::Cow;

/// The bytes a URL's query may not hold as they are (RFC 3986: neither unreserved nor
/// reserved, nor `%` of an escape; `#`, `[` and `]` too); non-ASCII bytes always.
const NOT_IN_A_QUERY: &AsciiSet = &{
    let others = b"\"#<>[\\]^`{|}";
    let (mut set, mut i) = (CONTROLS.add(b' '), 0);
    while i < others.len() {
        set = set.add(others[i]);
        i += 1;
    }
    set
};

/// A raw query (as received, URL-encoded) that any URL can hold: unchanged when it is
/// one, else every byte a URL may not hold percent-encoded, so that it reads as the
/// same pairs ([`Query::parse`]). The webhook door's query (a front door may pass such
/// bytes on undecoded) and `FORWARD_URL`'s (contract section 7).
pub(crate) fn url_safe(raw: &str) -> Cow<'_, str> {
    utf8_percent_encode(raw, NOT_IN_A_QUERY).into()
}

/// Decoded query pairs, in the order they were sent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Query<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// What the query says about one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param<'q> {
    /// The key is not in the query.
    Missing,
    /// The key is present (once, or repeated with the same value).
    One(&'q str),
    /// The key is present more than once with different values.
    Conflicting,
}

impl<'a> Query<'a> {
    /// Parses a raw (URL-encoded) query string such as API Gateway's `rawQueryString`.
    /// `%XX` escapes are decoded and `+` means a space, as in HTML forms; invalid UTF-8
    /// is replaced, so a hostile query cannot fail the parse.
    pub fn parse(raw: &'a str) -> Self {
        let raw = raw.strip_prefix('?').unwrap_or(raw);
        Query {
            pairs: form_urlencoded::parse(raw.as_bytes()).collect(),
        }
    }

    /// Builds a query from already-decoded pairs (API Gateway REST API payloads).
    pub(crate) fn from_pairs(
        pairs: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
    ) -> Self {
        Query {
            pairs: pairs.into_iter().collect(),
        }
    }

    /// Looks a key up, ignoring ASCII case.
    pub fn get(&self, key: &str) -> Param<'_> {
        let mut found: Option<&str> = None;
        for (k, v) in &self.pairs {
            if k.eq_ignore_ascii_case(key) {
                match found {
                    None => found = Some(v),
                    Some(prev) if prev == v => {}
                    Some(_) => return Param::Conflicting,
                }
            }
        }
        found.map_or(Param::Missing, Param::One)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_case_insensitively() {
        let q = Query::parse("sdkappid=1400000001&CALLBACKCOMMAND=X");
        assert_eq!(q.get("SdkAppid"), Param::One("1400000001"));
        assert_eq!(q.get("SDKAppID"), Param::One("1400000001"));
        assert_eq!(q.get("CallbackCommand"), Param::One("X"));
        assert_eq!(q.get("Sign"), Param::Missing);
    }

    #[test]
    fn escapes_and_plus_are_decoded() {
        let q = Query::parse("?a=%2B1&b=x+y&c=%20z&d=%E4%BD%A0");
        assert_eq!(q.get("a"), Param::One("+1"));
        assert_eq!(q.get("b"), Param::One("x y"));
        assert_eq!(q.get("c"), Param::One(" z"));
        assert_eq!(q.get("d"), Param::One("你"));
    }

    #[test]
    fn repeated_keys_conflict_only_when_values_differ() {
        let q = Query::parse("SdkAppid=1&sdkappid=1&Sign=a&SIGN=b");
        assert_eq!(q.get("SdkAppid"), Param::One("1"));
        assert_eq!(q.get("Sign"), Param::Conflicting);
    }

    #[test]
    fn a_query_no_url_holds_is_percent_encoded_to_the_same_pairs() {
        assert!(matches!(url_safe("a=1&b=%20&c=/?:@"), Cow::Borrowed(_)));
        let raw = "SdkAppid=1400000001&x=a b\"é#[]";
        let safe = url_safe(raw);
        assert!(http::uri::PathAndQuery::try_from(format!("/?{safe}")).is_ok());
        assert_eq!(Query::parse(&safe), Query::parse(raw));
    }

    #[test]
    fn hostile_strings_do_not_fail() {
        let q = Query::parse("%FF%FE=%C3&&=&k&%=%%");
        assert_eq!(q.get("k"), Param::One(""));
        assert!(q.get("missing") == Param::Missing);
    }
}
