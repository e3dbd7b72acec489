//! HMAC with the key schedule done once: a keyed MAC is prepared when the configuration
//! loads (the key padded and hashed into the inner and outer states), and each request
//! only clones that state and hashes its own bytes. Saves two compressions per secret
//! per request, and keeps every MAC of the plugin in one place.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    pub fn output_len(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha384 => 48,
            Algorithm::Sha512 => 64,
        }
    }
}

/// An HMAC state keyed with one secret. Holds key material: `Debug` is redacted.
#[derive(Clone)]
pub enum KeyedMac {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha384(Hmac<Sha384>),
    Sha512(Hmac<Sha512>),
}

impl std::fmt::Debug for KeyedMac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedMac([redacted])")
    }
}

/// The largest MAC (SHA-512): results live on the stack, not in an allocation.
pub const MAX_LEN: usize = 64;

/// A computed MAC: `len` bytes of `bytes`.
pub struct Tag {
    bytes: [u8; MAX_LEN],
    len: usize,
}

impl Tag {
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }

    /// Constant-time comparison with a presented MAC (lengths are public: they follow
    /// from the algorithm).
    pub fn matches(&self, presented: &[u8]) -> subtle::Choice {
        self.as_slice().ct_eq(presented)
    }
}

impl KeyedMac {
    pub fn new(algorithm: Algorithm, key: &[u8]) -> Self {
        // HMAC takes keys of any length (a long key is hashed first), so
        // `new_from_slice` cannot fail for it; `Mac::new_from_slice` is still fallible
        // by signature, and an empty key is the harmless fallback that never happens.
        fn keyed<M: Mac + hmac::digest::KeyInit>(key: &[u8]) -> M {
            <M as hmac::digest::KeyInit>::new_from_slice(key)
                .unwrap_or_else(|_| <M as hmac::digest::KeyInit>::new(&Default::default()))
        }
        match algorithm {
            Algorithm::Sha1 => KeyedMac::Sha1(keyed(key)),
            Algorithm::Sha256 => KeyedMac::Sha256(keyed(key)),
            Algorithm::Sha384 => KeyedMac::Sha384(keyed(key)),
            Algorithm::Sha512 => KeyedMac::Sha512(keyed(key)),
        }
    }

    /// The MAC of the concatenation of `parts`, fed in order (nothing is copied).
    pub fn tag(&self, parts: &[&[u8]]) -> Tag {
        fn run<M: Mac + Clone>(m: &M, parts: &[&[u8]]) -> Tag {
            let mut m = m.clone();
            for p in parts {
                m.update(p);
            }
            let out = m.finalize().into_bytes();
            let mut tag = Tag { bytes: [0; MAX_LEN], len: out.len().min(MAX_LEN) };
            if let (Some(dst), Some(src)) = (tag.bytes.get_mut(..tag.len), out.get(..tag.len)) {
                dst.copy_from_slice(src);
            }
            tag
        }
        match self {
            KeyedMac::Sha1(m) => run(m, parts),
            KeyedMac::Sha256(m) => run(m, parts),
            KeyedMac::Sha384(m) => run(m, parts),
            KeyedMac::Sha512(m) => run(m, parts),
        }
    }
}

/// The plain hash of the concatenation of `parts`: for senders that hash their secret
/// together with the message rather than keying a MAC with it (HubSpot's v1 and v2).
pub fn digest(algorithm: Algorithm, parts: &[&[u8]]) -> Tag {
    fn run<D: sha2::Digest>(parts: &[&[u8]]) -> Tag {
        let mut d = D::new();
        for p in parts {
            d.update(p);
        }
        let out = d.finalize();
        let mut tag = Tag { bytes: [0; MAX_LEN], len: out.len().min(MAX_LEN) };
        if let (Some(dst), Some(src)) = (tag.bytes.get_mut(..tag.len), out.get(..tag.len)) {
            dst.copy_from_slice(src);
        }
        tag
    }
    match algorithm {
        Algorithm::Sha1 => run::<Sha1>(parts),
        Algorithm::Sha256 => run::<Sha256>(parts),
        Algorithm::Sha384 => run::<Sha384>(parts),
        Algorithm::Sha512 => run::<Sha512>(parts),
    }
}

/// One-off MAC (tests, and values computed once at configuration).
pub fn compute(algorithm: Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    KeyedMac::new(algorithm, key).tag(parts).as_slice().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::encoding::hex_encode;

    // RFC 4231 test case 2 (key "Jefe").
    #[test]
    fn rfc4231_case_2() {
        let data: &[u8] = b"what do ya want for nothing?";
        assert_eq!(
            hex_encode(&compute(Algorithm::Sha256, b"Jefe", &[data])),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex_encode(&compute(Algorithm::Sha384, b"Jefe", &[data])),
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"
        );
        assert_eq!(
            hex_encode(&compute(Algorithm::Sha512, b"Jefe", &[data])),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }

    #[test]
    fn prepared_state_is_reusable_and_parts_concatenate() {
        let k = KeyedMac::new(Algorithm::Sha256, b"key");
        let one = k.tag(&[b"hello world"]);
        let two = k.tag(&[b"hello", b" ", b"world"]);
        assert_eq!(one.as_slice(), two.as_slice());
        assert_eq!(one.as_slice(), compute(Algorithm::Sha256, b"key", &[b"hello world"]));
        assert!(bool::from(one.matches(two.as_slice())));
        assert!(!bool::from(one.matches(&two.as_slice()[..31])));
        // A key longer than the block is hashed first, as HMAC specifies.
        let long = [7u8; 200];
        assert_eq!(KeyedMac::new(Algorithm::Sha1, &long).tag(&[b"x"]).as_slice().len(), 20);
        assert!(!format!("{k:?}").contains("key\""));
    }
}
