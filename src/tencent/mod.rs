//! Tencent Cloud Chat's REST API, as a sync reads it (protocol.md section 7): UserSig,
//! the client, and a local stand-in of the API for tests and `make run`.

pub mod rest;
pub mod secret;
pub mod standin;
pub mod usersig;
