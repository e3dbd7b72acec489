//! One module per check. Each takes plain request data and `now`; none touches the host.

pub mod cert;
pub mod encoding;
pub mod headers;
pub mod ip;
pub mod jwt;
pub mod mac;
pub mod payload;
pub mod signature;
