//! One module per check. Each takes plain request data and `now`; none touches the host.

pub mod encoding;
pub mod signature;
