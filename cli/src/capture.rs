//! A captured request: HTTP/1.1 text (request line, headers, blank line, body), or
//! header lines alone with the body in its own file. Header lines may also be written
//! with Envoy's pseudo-headers (`:method: POST`, `:path: /hooks`).

/// The request as the plugin would see it: header names lower-case, pseudo-headers
/// first, the body as sent.
#[derive(Debug)]
pub struct Captured {
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Captured {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }
}

/// What comes before the first `needle` in `haystack`, and what follows it.
fn split_around<'a>(haystack: &'a [u8], needle: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = haystack.windows(needle.len()).position(|w| w == needle)?;
    Some((haystack.get(..at)?, haystack.get(at + needle.len()..)?))
}

/// Read a capture. `body` replaces what follows the headers (which must then be empty).
pub fn parse(text: &[u8], body: Option<Vec<u8>>, scheme: &str) -> Result<Captured, String> {
    let (head, rest) = match (split_around(text, b"\r\n\r\n"), split_around(text, b"\n\n")) {
        (Some(crlf), Some(lf)) if lf.0.len() < crlf.0.len() => lf,
        (Some(crlf), _) => crlf,
        (None, Some(lf)) => lf,
        (None, None) => (text, &b""[..]),
    };
    let head = std::str::from_utf8(head).map_err(|_| "the request head is not UTF-8 text".to_string())?;
    let mut lines = head.lines().map(|l| l.strip_suffix('\r').unwrap_or(l)).filter(|l| !l.is_empty()).peekable();
    let mut pseudo: Vec<(String, Vec<u8>)> = Vec::new();
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(first) = lines.peek() {
        let words: Vec<&str> = first.split(' ').collect();
        if let [method, target, version] = words.as_slice() {
            if version.starts_with("HTTP/") {
                let (authority, path) = match target.split_once("://") {
                    Some((_, rest)) => match rest.find('/') {
                        Some(i) => (Some(&rest[..i]), &rest[i..]),
                        None => (Some(rest), "/"),
                    },
                    None => (None, *target),
                };
                pseudo.push((":method".into(), method.as_bytes().to_vec()));
                pseudo.push((":path".into(), path.as_bytes().to_vec()));
                if let Some(a) = authority {
                    pseudo.push((":authority".into(), a.as_bytes().to_vec()));
                }
                lines.next();
            }
        }
    }
    for line in lines {
        let (name, value) = match line.strip_prefix(':') {
            Some(rest) => {
                let (n, v) = rest.split_once(':').ok_or_else(|| format!("not a header line: {line:?}"))?;
                (format!(":{n}"), v)
            }
            None => {
                let (n, v) = line.split_once(':').ok_or_else(|| format!("not a header line: {line:?}"))?;
                (n.to_string(), v)
            }
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("not a header line: {line:?}"));
        }
        let name = name.to_ascii_lowercase();
        let value = value.trim_matches([' ', '\t']).as_bytes().to_vec();
        if name.starts_with(':') {
            pseudo.retain(|(n, _)| *n != name);
            pseudo.push((name, value));
        } else {
            headers.push((name, value));
        }
    }
    // Envoy gives the Host header as `:authority`.
    if !pseudo.iter().any(|(n, _)| n == ":authority") {
        if let Some(i) = headers.iter().position(|(n, _)| n == "host") {
            let (_, v) = headers.remove(i);
            pseudo.push((":authority".into(), v));
        }
    }
    if !pseudo.iter().any(|(n, _)| n == ":scheme") {
        pseudo.push((":scheme".into(), scheme.as_bytes().to_vec()));
    }
    for required in [":method", ":path"] {
        if !pseudo.iter().any(|(n, _)| n == required) {
            return Err(format!("no request line (e.g. POST /hooks HTTP/1.1) and no {required} header"));
        }
    }
    let body = match body {
        Some(b) => {
            if !rest.is_empty() {
                return Err("the capture holds a body and a body file was given: use one".into());
            }
            b
        }
        None => framed_body(&headers, rest)?,
    };
    pseudo.extend(headers);
    Ok(Captured { headers: pseudo, body })
}

/// The body as the headers frame it: chunked decoded, or cut to Content-Length.
fn framed_body(headers: &[(String, Vec<u8>)], rest: &[u8]) -> Result<Vec<u8>, String> {
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && String::from_utf8_lossy(v).to_ascii_lowercase().contains("chunked"));
    if chunked {
        return dechunk(rest);
    }
    let length = headers.iter().find(|(n, _)| n == "content-length");
    match length {
        Some((_, v)) => {
            let n: usize = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| "Content-Length is not a number".to_string())?;
            rest.get(..n)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| format!("the capture holds {} bytes of body, Content-Length says {n}", rest.len()))
        }
        None => Ok(rest.to_vec()),
    }
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let (line, after) = split_around(rest, b"\n").ok_or("a chunk size line is missing")?;
        let line = std::str::from_utf8(line).map_err(|_| "bad chunk size")?.trim();
        let size = usize::from_str_radix(line.split(';').next().unwrap_or_default().trim(), 16)
            .map_err(|_| format!("bad chunk size {line:?}"))?;
        rest = after;
        if size == 0 {
            return Ok(out);
        }
        let (chunk, after) = rest.split_at_checked(size).ok_or("a chunk is shorter than its size")?;
        out.extend_from_slice(chunk);
        rest = after;
        rest = rest.strip_prefix(b"\r\n").or_else(|| rest.strip_prefix(b"\n")).unwrap_or(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http1_text_with_body() {
        let c = parse(
            b"POST /hooks/github?x=1 HTTP/1.1\r\nHost: example.test\r\nX-Hub-Signature-256: sha256=ab\r\nContent-Length: 4\r\n\r\nbodyEXTRA",
            None,
            "https",
        )
        .unwrap();
        assert_eq!(c.header(":method"), Some(&b"POST"[..]));
        assert_eq!(c.header(":path"), Some(&b"/hooks/github?x=1"[..]));
        assert_eq!(c.header(":authority"), Some(&b"example.test"[..]));
        assert_eq!(c.header(":scheme"), Some(&b"https"[..]));
        assert_eq!(c.header("x-hub-signature-256"), Some(&b"sha256=ab"[..]));
        assert_eq!(c.header("host"), None);
        assert_eq!(c.body, b"body");
    }

    #[test]
    fn chunked_pseudo_headers_and_body_files() {
        let c =
            parse(b"POST /a HTTP/1.1\nTransfer-Encoding: chunked\n\n3\nabc\n2;x=y\r\nde\r\n0\r\n\r\n", None, "http")
                .unwrap();
        assert_eq!(c.body, b"abcde");
        let c = parse(b":method: POST\n:path: /b\n:authority: h\nx-a: 1\n", Some(b"{}".to_vec()), "http").unwrap();
        assert_eq!((c.header(":path"), c.body.as_slice()), (Some(&b"/b"[..]), &b"{}"[..]));
        assert!(parse(b"x-a: 1\n", None, "http").unwrap_err().contains("no request line"));
        assert!(parse(b"POST / HTTP/1.1\nContent-Length: 9\n\nabc", None, "http").unwrap_err().contains("9"));
        assert!(parse(b"POST / HTTP/1.1\n\nabc", Some(vec![1]), "http").is_err());
        assert!(parse(b"POST / HTTP/1.1\nno colon\n\n", None, "http").is_err());
    }
}
