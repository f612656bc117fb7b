//! Tencent Cloud Chat's REST API, as a sync reads it (docs/protocol.md section 7): UserSig,
//! the client, the secret key. A local stand-in of the API for tests and `make run` is test
//! code: tests/standin (crate `tencent-standin`).

pub mod rest;
pub mod secret;
pub mod usersig;
