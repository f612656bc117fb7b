//! The JSON acknowledgement the Chat backend expects:
//! `{"ActionStatus":"OK"|"FAIL","ErrorCode":n,"ErrorInfo":"..."}`.

use serde::Serialize;
use std::borrow::Cow;

/// A reply: HTTP status plus the envelope. On FAIL, `ErrorCode` equals the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub info: Cow<'static, str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReplyBody<'a> {
    action_status: &'a str,
    error_code: u16,
    error_info: &'a str,
}

impl Reply {
    /// 200, `ActionStatus: OK`, `ErrorCode: 0`: also the "allow" answer to a before-callback.
    pub const OK: Reply = Reply {
        status: 200,
        info: Cow::Borrowed(""),
    };

    pub fn fail(status: u16, info: impl Into<Cow<'static, str>>) -> Reply {
        Reply {
            status,
            info: info.into(),
        }
    }

    /// The body as JSON text.
    pub fn body(&self) -> String {
        let ok = self.status == 200;
        let env = ReplyBody {
            action_status: if ok { "OK" } else { "FAIL" },
            error_code: if ok { 0 } else { self.status },
            error_info: &self.info,
        };
        // Serializing three plain fields cannot fail; fall back to a fixed text anyway.
        serde_json::to_string(&env).unwrap_or_else(|_| {
            String::from(r#"{"ActionStatus":"FAIL","ErrorCode":500,"ErrorInfo":"internal error"}"#)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_envelope_matches_the_documented_sample() {
        assert_eq!(
            Reply::OK.body(),
            r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"#
        );
    }

    #[test]
    fn fail_code_equals_status_and_info_is_escaped() {
        let r = Reply::fail(400, "field \"x\" is bad");
        let v: serde_json::Value = serde_json::from_str(&r.body()).unwrap();
        assert_eq!(v["ActionStatus"], "FAIL");
        assert_eq!(v["ErrorCode"], 400);
        assert_eq!(v["ErrorInfo"], "field \"x\" is bad");
    }
}
