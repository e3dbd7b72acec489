//! Hex and base64 decoding that never panics on hostile input.

use base64::Engine;

/// Decode hex of either case. `None` on odd length or a non-hex byte.
pub fn hex_decode(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    s.chunks_exact(2)
        .map(|p| match p {
            &[high, low] => Some(nibble(high)? << 4 | nibble(low)?),
            _ => None,
        })
        .collect()
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

pub fn hex_encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for n in [b >> 4, b & 0x0f] {
            s.push(char::from(if n < 10 { b'0' + n } else { b'a' + n - 10 }));
        }
    }
    s
}

/// Standard-alphabet base64 with padding (what GitHub-era providers send).
pub fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejects() {
        assert_eq!(hex_decode(b"00ffAb"), Some(vec![0, 255, 0xab]));
        assert_eq!(hex_encode(&[0, 255, 0xab]), "00ffab");
        assert_eq!(hex_decode(b"abc"), None);
        assert_eq!(hex_decode(b"zz"), None);
        assert_eq!(hex_decode(b""), Some(vec![]));
    }

    #[test]
    fn base64_rejects_garbage() {
        assert_eq!(base64_decode(b"aGk="), Some(b"hi".to_vec()));
        assert_eq!(base64_decode(b"a*k="), None);
    }
}
