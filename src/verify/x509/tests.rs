//! Certificates made in the test with `openssl`, read as the filter reads them.

use std::path::PathBuf;
use std::process::Command;

use super::*;

/// A scratch directory of this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("webhook-guard-x509-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A self-signed certificate for a new key made by `openssl req` with `newkey`
/// (`rsa:2048`, or `ec` for P-256), valid 30 days from now; and the key's file.
pub(crate) fn certificate(name: &str, newkey: &str) -> (Vec<u8>, PathBuf) {
    let dir = scratch(name);
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "30", "-subj", "/CN=sns.us-east-1.amazonaws.com", "-newkey", newkey])
        .args(if newkey == "ec" { &["-pkeyopt", "ec_paramgen_curve:prime256v1"][..] } else { &[] })
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (std::fs::read(&cert).unwrap(), key)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn an_rsa_certificate_gives_its_key_and_validity() {
    let (pem, _) = certificate("rsa2048", "rsa:2048");
    let cert = read_pem(&pem).unwrap();
    let now = now() as i64;
    assert!(cert.not_before <= now && now - cert.not_before < 600, "{} vs {now}", cert.not_before);
    assert_eq!(cert.not_after - cert.not_before, 30 * 86_400);
    assert!(cert.is_valid_at(now as u64));
    assert!(!cert.is_valid_at((cert.not_after + 1) as u64), "expired the second after not_after");
    assert!(!cert.is_valid_at((cert.not_before - 1) as u64), "not valid before not_before");
    use rsa::traits::PublicKeyParts;
    assert_eq!(cert.key.n().bits(), 2048);
}

#[test]
fn the_key_verifies_what_its_private_half_signed() {
    let (pem, key) = certificate("sign", "rsa:3072");
    let dir = key.parent().unwrap().to_path_buf();
    let data = dir.join("data");
    std::fs::write(&data, b"Message\nhello\n").unwrap();
    let out = Command::new("openssl").args(["dgst", "-sha256", "-sign"]).arg(&key).arg(&data).output().unwrap();
    assert!(out.status.success());
    let cert = read_pem(&pem).unwrap();
    let digest = <sha2::Sha256 as sha2::Digest>::digest(b"Message\nhello\n");
    assert!(cert.key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest, &out.stdout).is_ok());
    let other = <sha2::Sha256 as sha2::Digest>::digest(b"Message\nhullo\n");
    assert!(cert.key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &other, &out.stdout).is_err());
}

#[test]
fn weak_and_other_keys_are_refused() {
    let (weak, _) = certificate("rsa1024", "rsa:1024");
    assert_eq!(read_pem(&weak).unwrap_err(), "the certificate's key is weak: an RSA modulus under 2048 bits");
    let (ec, _) = certificate("ec", "ec");
    assert_eq!(read_pem(&ec).unwrap_err(), "the certificate's key is not RSA");
}

#[test]
fn what_is_not_one_pem_certificate_is_refused_without_quoting_it() {
    let (pem, _) = certificate("bad", "rsa:2048");
    let text = String::from_utf8(pem.clone()).unwrap();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"<html>not a certificate</html>".to_vec(), "no PEM certificate"),
        (text.replace("-----END CERTIFICATE-----", "").into_bytes(), "the PEM certificate has no END line"),
        (text.replacen("MII", "M!I", 1).into_bytes(), "the PEM certificate is not base64"),
        (vec![b' '; MAX_PEM_BYTES + 1], "the certificate document is over 16 KiB"),
    ];
    for (doc, want) in cases {
        assert_eq!(read_pem(&doc).unwrap_err(), want);
    }
    // Truncated DER: every prefix of the certificate is refused, none panics.
    let der = pem_der(&pem).unwrap();
    for cut in [0, 1, 2, 4, 10, der.len() / 2, der.len() - 1] {
        assert!(read_der(&der[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = der.clone();
    longer.push(0);
    assert_eq!(read_der(&longer).unwrap_err(), "bytes after the certificate");
}

#[test]
fn times_are_read_in_both_forms_z_only() {
    let utc = [&[0x17, 13][..], b"491231235959Z"].concat();
    assert_eq!(time(&utc).unwrap().0, 2_524_607_999);
    let utc50 = [&[0x17, 13][..], b"500101000000Z"].concat();
    assert_eq!(time(&utc50).unwrap().0, -631_152_000);
    let general = [&[0x18, 15][..], b"20500101000000Z"].concat();
    assert_eq!(time(&general).unwrap().0, 2_524_608_000);
    for bad in [&b"491231235959+"[..], b"491331235959Z", b"4912312359a9Z"] {
        let t = [&[0x17, 13][..], bad].concat();
        assert!(time(&t).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}
