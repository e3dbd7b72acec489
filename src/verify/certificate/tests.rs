use super::*;
use rsa::traits::PublicKeyParts;

const NOW: u64 = 1_700_000_000; // 2023-11-14T22:13:20Z

use crate::verify::test_keys::{certificate, pem};

fn modulus(bits: usize) -> Vec<u8> {
    // An odd number of exactly `bits` bits: the reader checks size, not primality.
    let mut n = vec![0x5au8; bits / 8];
    n[0] = 0xc3;
    *n.last_mut().unwrap() |= 1;
    n
}

const UTC_2023: &[u8] = b"\x17\x0d230101000000Z";
const UTC_2024: &[u8] = b"\x17\x0d240101000000Z";
const GEN_2049: &[u8] = b"\x18\x0f20491231235959Z";

#[test]
fn the_leafs_rsa_key_and_validity_are_read() {
    let n = modulus(2048);
    let doc = pem(&certificate(&n, &[1, 0, 1], RSA_ENCRYPTION, UTC_2023, UTC_2024));
    // A chain: the leaf first, then an intermediate.
    let other = pem(&certificate(&modulus(4096), &[3], RSA_ENCRYPTION, UTC_2023, GEN_2049));
    let chain = [doc.clone(), other].concat();
    for d in [&doc, &chain] {
        let c = rsa_from_pem(d, NOW).unwrap();
        assert_eq!(c.key.n().to_bytes_be(), n);
        assert_eq!(c.key.e().to_bytes_be(), vec![1, 0, 1]);
        assert_eq!((c.not_before, c.not_after), (1_672_531_200, 1_704_067_200));
    }
    let far = rsa_from_pem(&pem(&certificate(&n, &[1, 0, 1], RSA_ENCRYPTION, UTC_2023, GEN_2049)), NOW).unwrap();
    assert_eq!(far.not_after, 2_524_607_999);
}

#[test]
fn expired_weak_and_other_keys_are_refused() {
    let n = modulus(2048);
    let cert = |n: &[u8], oid: &[u8], nb: &[u8], na: &[u8]| pem(&certificate(n, &[1, 0, 1], oid, nb, na));
    assert_eq!(
        rsa_from_pem(&cert(&n, RSA_ENCRYPTION, UTC_2023, UTC_2024), 1_704_067_201).err(),
        Some(CertError::Expired)
    );
    assert_eq!(
        rsa_from_pem(&cert(&n, RSA_ENCRYPTION, UTC_2023, UTC_2024), 1_672_531_199).err(),
        Some(CertError::NotYetValid)
    );
    assert_eq!(
        rsa_from_pem(&cert(&modulus(1024), RSA_ENCRYPTION, UTC_2023, UTC_2024), NOW).err(),
        Some(CertError::Weak)
    );
    assert_eq!(
        rsa_from_pem(&cert(&modulus(8192), RSA_ENCRYPTION, UTC_2023, UTC_2024), NOW).err(),
        Some(CertError::Weak)
    );
    // id-ecPublicKey
    let ec = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    assert_eq!(rsa_from_pem(&cert(&n, &ec, UTC_2023, UTC_2024), NOW).err(), Some(CertError::NotRsa));
    assert_eq!(rsa_from_pem(b"hello", NOW).err(), Some(CertError::NotPem));
    assert_eq!(
        rsa_from_pem(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----", NOW).err(),
        Some(CertError::NotPem)
    );
    assert_eq!(rsa_from_pem(&vec![b'A'; MAX_PEM_BYTES + 1], NOW).err(), Some(CertError::TooLarge));
}

#[test]
fn every_truncation_and_byte_change_is_refused_or_read_without_panicking() {
    let der = certificate(&modulus(2048), &[1, 0, 1], RSA_ENCRYPTION, UTC_2023, UTC_2024);
    for cut in 0..der.len() {
        assert!(rsa_from_pem(&pem(&der[..cut]), NOW).is_err(), "cut at {cut}");
    }
    for i in 0..der.len().min(400) {
        let mut d = der.clone();
        d[i] ^= 0xff;
        let _ = rsa_from_pem(&pem(&d), NOW);
    }
}
