//! What DynamoDB can hold (docs/contract.md section 3): key sizes, value sizes and
//! document shapes. The protocol reader knows nothing of these; events are checked
//! against them before a write.

/// Longest `Official_Account` accepted, in bytes. The account appears in sort keys as
/// `OWNS#{oa}`, and a DynamoDB sort key holds at most 1024 bytes.
pub const MAX_ACCOUNT_BYTES: usize = 1024 - "OWNS#".len();
/// Longest subscriber account or `MsgKey`, in bytes (`SUB#{user}`, `MSG#{key}` sort keys).
pub const MAX_MEMBER_BYTES: usize = 1024 - "SUB#".len();
/// Longest owner or operator account, in bytes (kept within a sort key's size too).
pub const MAX_OPERATOR_BYTES: usize = MAX_MEMBER_BYTES;
/// Longest profile text (`Name`, `Introduction`, `FaceUrl`, `Organization`), in bytes.
/// The REST API allows at most 500; the margin is for tolerance, not for abuse.
pub const MAX_PROFILE_TEXT_BYTES: usize = 4096;
/// Largest `MsgBody` (as JSON text) and `CloudCustomData`, in bytes: a message item must
/// stay well under DynamoDB's 400 KB item limit.
pub const MAX_MSG_BODY_BYTES: usize = 256 * 1024;
pub const MAX_CLOUD_CUSTOM_DATA_BYTES: usize = 64 * 1024;
/// DynamoDB nests documents at most 32 levels deep; the item adds one level for the list.
pub const MAX_MSG_BODY_DEPTH: usize = 30;
/// Most entries accepted in `SubscribeAccountList` or `WithdrawMsgList`. The REST API
/// adds at most 100 subscribers a call, so a genuine callback lists about 100; a list
/// this long still stores well inside the 2-second budget, a longer one is refused
/// before any write.
pub const MAX_LIST_ENTRIES: usize = 1000;

/// Whether a JSON value fits a DynamoDB document: depth, non-empty map keys, and numbers
/// within DynamoDB's range (magnitude below 1e126, and 0 or at least 1e-130).
pub fn check_storable(v: &serde_json::Value, depth: usize) -> Result<(), &'static str> {
    use serde_json::Value;
    if depth > MAX_MSG_BODY_DEPTH {
        return Err("is nested too deeply to store");
    }
    match v {
        Value::Object(m) => m.iter().try_for_each(|(k, v)| {
            if k.is_empty() {
                Err("has an empty key")
            } else {
                check_storable(v, depth + 1)
            }
        }),
        Value::Array(a) => a.iter().try_for_each(|v| check_storable(v, depth + 1)),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f != 0.0 && !(1e-130..1e126).contains(&f.abs()) => {
                Err("holds a number DynamoDB cannot store")
            }
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}
