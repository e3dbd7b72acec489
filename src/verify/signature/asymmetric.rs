//! Public-key signatures: Ed25519 (Discord, Standard Webhooks `v1a`) and ECDSA P-256
//! with SHA-256 (SendGrid). Only verification is compiled in, and the key and signature
//! containers (SPKI, DER) are read here rather than through the `pkcs8`/`der` crates:
//! each takes a few lines for the one shape these providers use.

use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use sha2::{Digest, Sha256};

/// A verifying key, parsed once at configuration time.
#[derive(Clone)]
pub enum PublicKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PublicKey::Ed25519(_) => "PublicKey(Ed25519)",
            PublicKey::P256(_) => "PublicKey(P-256)",
        })
    }
}

/// The DER that precedes the 65-byte point in a P-256 SubjectPublicKeyInfo:
/// SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0 unused bits) }.
pub(super) const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

impl PublicKey {
    /// An Ed25519 key: its 32 bytes. Small-order and non-canonical points are refused.
    pub fn ed25519(bytes: &[u8]) -> Result<Self, &'static str> {
        let raw: &[u8; 32] = bytes.try_into().map_err(|_| "an Ed25519 public key is 32 bytes")?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(raw).map_err(|_| "not an Ed25519 public key")?;
        if key.is_weak() {
            return Err("a weak (small-order) Ed25519 key verifies forged signatures");
        }
        Ok(PublicKey::Ed25519(key))
    }

    /// A P-256 key: a DER SubjectPublicKeyInfo (what SendGrid shows, base64-decoded) or a
    /// SEC1 point (65 bytes uncompressed, 33 compressed).
    pub fn p256(bytes: &[u8]) -> Result<Self, &'static str> {
        let point = match bytes.strip_prefix(&P256_SPKI_PREFIX[..]) {
            Some(p) if bytes.len() == 91 => p,
            _ if bytes.len() == 65 || bytes.len() == 33 => bytes,
            _ => return Err("a P-256 public key is a DER SubjectPublicKeyInfo or a SEC1 point"),
        };
        p256::ecdsa::VerifyingKey::from_sec1_bytes(point).map(PublicKey::P256).map_err(|_| "not a point on P-256")
    }

    /// Verify `signature` over the concatenation of `parts`.
    pub fn verify(&self, parts: &[&[u8]], signature: &[u8]) -> bool {
        match self {
            PublicKey::Ed25519(key) => {
                let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else { return false };
                // Ed25519 hashes the message twice over (R, A, M): it needs it whole.
                let message = parts.concat();
                key.verify_strict(&message, &sig).is_ok()
            }
            PublicKey::P256(key) => {
                let Some(sig) = p256_signature(signature) else { return false };
                let mut h = Sha256::new();
                for p in parts {
                    h.update(p);
                }
                key.verify_prehash(&h.finalize(), &sig).is_ok()
            }
        }
    }
}

/// An ECDSA signature as DER (`SEQUENCE { INTEGER r, INTEGER s }`, what SendGrid sends)
/// or as 64 bytes `r || s`. Strict DER: minimal lengths and integers, nothing after.
fn p256_signature(b: &[u8]) -> Option<p256::ecdsa::Signature> {
    if b.len() == 64 {
        return p256::ecdsa::Signature::from_slice(b).ok();
    }
    let (&tag, rest) = b.split_first()?;
    let (&len, body) = rest.split_first()?;
    if tag != 0x30 || usize::from(len) != body.len() || len >= 0x80 {
        return None;
    }
    let (r, body) = der_integer(body)?;
    let (s, body) = der_integer(body)?;
    if !body.is_empty() {
        return None;
    }
    let mut rs = [0u8; 64];
    rs.get_mut(32 - r.len()..32)?.copy_from_slice(r);
    rs.get_mut(64 - s.len()..)?.copy_from_slice(s);
    p256::ecdsa::Signature::from_slice(&rs).ok()
}

/// One positive DER INTEGER of at most 32 significant bytes: (its bytes without the
/// sign byte, what follows).
fn der_integer(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let len = usize::from(len);
    if tag != 0x02 || len == 0 || len > 33 || rest.len() < len {
        return None;
    }
    let (int, after) = rest.split_at(len);
    let value = match int {
        // A leading zero only where the next byte would read as a sign.
        [0, tail @ ..] if tail.first().is_some_and(|&next| next >= 0x80) => tail,
        [0, ..] if len > 1 => return None,
        [first, ..] if *first >= 0x80 => return None,
        _ => int,
    };
    if value.len() > 32 {
        return None;
    }
    Some((value, after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::encoding::hex_decode;

    // RFC 8032 section 7.1, test 2 (one-byte message 0x72).
    #[test]
    fn ed25519_rfc8032_vector() {
        let key = PublicKey::ed25519(
            &hex_decode(b"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c").unwrap(),
        )
        .unwrap();
        let sig = hex_decode(
            b"92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
              085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        )
        .unwrap();
        assert!(key.verify(&[b"\x72"], &sig));
        assert!(key.verify(&[b"", b"\x72", b""], &sig));
        assert!(!key.verify(&[b"\x73"], &sig));
        let mut bad = sig.clone();
        bad[63] ^= 0x10;
        assert!(!key.verify(&[b"\x72"], &bad));
        assert!(!key.verify(&[b"\x72"], &sig[..63]));
        assert!(PublicKey::ed25519(&[0u8; 31]).is_err());
        // The identity point is small-order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(PublicKey::ed25519(&identity).is_err());
    }

    #[test]
    fn der_integers_are_strict() {
        assert_eq!(der_integer(&[2, 1, 5, 9]), Some((&[5u8][..], &[9u8][..])));
        assert_eq!(der_integer(&[2, 2, 0, 0x80]), Some((&[0x80u8][..], &[][..])));
        assert_eq!(der_integer(&[2, 2, 0, 0x7f]), None);
        assert_eq!(der_integer(&[2, 1, 0x80]), None);
        assert_eq!(der_integer(&[2, 0]), None);
        assert_eq!(der_integer(&[3, 1, 1]), None);
        assert_eq!(der_integer(&[2, 3, 1]), None);
        assert!(p256_signature(&[0x30, 6, 2, 1, 1, 2, 1, 1, 0]).is_none());
        assert!(p256_signature(&[0x30, 6, 2, 1, 1, 2, 1, 1]).is_some());
        assert!(p256_signature(&[0x30, 6, 2, 1, 0, 2, 1, 1]).is_none(), "r = 0");
    }

    #[test]
    fn p256_key_forms() {
        assert!(PublicKey::p256(&[4u8; 65]).is_err());
        assert!(PublicKey::p256(&[0u8; 10]).is_err());
    }
}
