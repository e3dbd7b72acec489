//! Keys and certificates the tests of the checks make (never the plugin's code).

use base64::Engine;
use rsa::rand_core::{CryptoRng, RngCore};
use std::sync::OnceLock;

/// A deterministic generator for the tests' keys (not for anything else).
struct TestRng(u64);
impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for TestRng {}

/// Two RSA keys made once for the whole test binary: a sender's, and another.
pub fn keys() -> &'static (rsa::RsaPrivateKey, rsa::RsaPrivateKey) {
    static KEYS: OnceLock<(rsa::RsaPrivateKey, rsa::RsaPrivateKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = TestRng(7);
        (rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap(), rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap())
    })
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    der(0x30, &parts.concat())
}

fn integer(bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    if b.first().is_some_and(|x| x & 0x80 != 0) {
        b.insert(0, 0);
    }
    der(0x02, &b)
}

/// A certificate as a CA would write it, with this key and validity (the signature is
/// not checked by the reader, so any bytes serve).
pub fn certificate(n: &[u8], e: &[u8], oid: &[u8], not_before: &[u8], not_after: &[u8]) -> Vec<u8> {
    let name = seq(&[der(0x31, &seq(&[der(0x06, &[0x55, 0x04, 0x03]), der(0x0c, b"messageverificationcerts")]))]);
    let alg = seq(&[der(0x06, &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]), der(0x05, &[])]);
    let spki = seq(&[
        seq(&[der(0x06, oid), der(0x05, &[])]),
        der(0x03, &[&[0u8][..], &seq(&[integer(n), integer(e)])].concat()),
    ]);
    let tbs = seq(&[
        der(0xa0, &der(0x02, &[2])),
        integer(&[0x10, 0x20]),
        alg.clone(),
        name.clone(),
        seq(&[not_before.to_vec(), not_after.to_vec()]),
        name,
        spki,
    ]);
    seq(&[tbs, alg, der(0x03, &[0, 1, 2, 3])])
}

pub fn pem(der: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n")).into_bytes()
}

/// The PEM certificate of an RSA public key, valid from 2023 to 2049.
pub fn rsa_certificate(key: &rsa::RsaPublicKey) -> Vec<u8> {
    use rsa::traits::PublicKeyParts;
    pem(&certificate(
        &key.n().to_bytes_be(),
        &key.e().to_bytes_be(),
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
        b"\x17\x0d230101000000Z",
        b"\x18\x0f20491231235959Z",
    ))
}
