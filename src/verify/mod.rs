//! One module per check. Each takes plain request data and `now`; none touches the host.

pub mod cert;
pub mod directory;
mod encoding;
pub mod event_grid;
pub(crate) mod headers;
pub mod ip;
pub mod jwk;
pub mod jwt;
mod mac;
pub(crate) mod payload;
pub mod paypal;
pub mod signature;
pub mod sns;
#[cfg(test)]
mod test_keys;
pub mod x509;
