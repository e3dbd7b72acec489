//! Every way an upstream may read a request path, and route paths matched against them
//! (SPEC 2.2a).
//!
//! Routes protect what the application behind Envoy serves, and applications read a
//! path in many ways: byte for byte, percent-decoded (`%2F` and `%5C` included), with
//! `\` as `/`, with `;params` cut from each segment, with `//` merged, with `.` and `..`
//! resolved, case-insensitively, or any mix of these. A route must be reached by every
//! spelling of its path, so the request is routed under each reading; the request
//! itself is forwarded exactly as sent.
//!
//! The rules (README "How routes match" says the same for operators):
//!
//! - The path as sent must be readable: every `%` starts a `%XX` escape, and there is no
//!   control byte, space or `#`. Decoded, it must still be free of control bytes
//!   (`%00`, `%0A`, ...) and be UTF-8 (overlong forms of `/` and `.` are refused).
//! - Bases: the path as sent, decoded once, and decoded twice when the first decoding
//!   still holds `%XX` (an upstream behind another decoding proxy). Still encoded after
//!   two decodings is refused. A decoded `?` or `#` adds the base cut there (an upstream
//!   that decodes before it splits off the query).
//! - Each base is read with every subset of: `\` as `/`, `;...` cut from each segment,
//!   runs of `/` merged, dot segments resolved (`%2e` counts as `.`), in that order.
//! - A `..` that climbs above the root under any reading is refused.
//! - Case: routes compare ASCII letters case-insensitively unless `case_sensitive`. There,
//!   a non-ASCII character may stand for up to three of any characters (Unicode case
//!   folding turns `ı` into `i`, `ſ` into `s`, `K` into `k`, `ß` into `ss`, `ﬃ` into
//!   `ffi`): a path that reaches a route only that way is refused rather than guessed at.
//! - Trailing `/` is not significant: `path_exact: /a` matches `/a/`, and
//!   `path_prefix: /a/` matches `/a`. Otherwise a prefix is a plain prefix of the path
//!   (`/hooks/github` covers `/hooks/githubx`).
//!
//! A path with nothing to interpret (see [`is_plain`]) is its only reading, and
//! nothing is allocated for it.

/// Why a path cannot be read one way: answered 400 `ambiguous_path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// `%` not followed by two hex digits.
    BadEscape,
    /// A control byte, space or `#` as sent, or a control byte once decoded.
    ControlByte,
    /// Not UTF-8 once decoded.
    NotUtf8,
    /// Still percent-encoded after two decodings.
    EncodedThrice,
    /// `..` above the root.
    AboveRoot,
}

/// Whether `path` reads one way only: no `%`, `\`, `;`, `#`, control, space or non-ASCII
/// byte, no `//`, no `.` or `..` segment. Upper-case letters are fine: routes compare
/// case-insensitively without copying.
pub fn is_plain(path: &[u8]) -> bool {
    let mut seg_start = 0;
    for (i, &b) in path.iter().enumerate() {
        match b {
            b'%' | b'\\' | b';' | b'#' | 0..=0x20 | 0x7f..=0xff => return false,
            b'/' => {
                if (i > 0 && path[i - 1] == b'/') || is_dots(&path[seg_start..i]) {
                    return false;
                }
                seg_start = i + 1;
            }
            _ => {}
        }
    }
    !is_dots(&path[seg_start..])
}

fn is_dots(seg: &[u8]) -> bool {
    seg == b"." || seg == b".."
}

/// Every reading of `path` (query string already cut off), the path as sent first.
/// Readings may repeat; the caller only asks which routes they reach.
pub fn readings(path: &[u8]) -> Result<Vec<Vec<u8>>, Unreadable> {
    check_as_sent(path)?;
    let mut bases: Vec<Vec<u8>> = vec![path.to_vec()];
    let mut level = path.to_vec();
    for decodings in 1..=3 {
        if !has_escape(&level) {
            break;
        }
        if decodings == 3 {
            return Err(Unreadable::EncodedThrice);
        }
        level = decode(&level);
        if level.iter().any(|&b| b < 0x20 || b == 0x7f) {
            return Err(Unreadable::ControlByte);
        }
        if std::str::from_utf8(&level).is_err() {
            return Err(Unreadable::NotUtf8);
        }
        if let Some(cut) = level.iter().position(|&b| b == b'?' || b == b'#') {
            bases.push(level[..cut].to_vec());
        }
        bases.push(level.clone());
    }
    let mut out = Vec::new();
    for base in &bases {
        let relevant = relevant_steps(base);
        for mask in 0..16u8 {
            if mask & !relevant != 0 {
                continue;
            }
            out.push(apply(base, mask)?);
        }
    }
    Ok(out)
}

const BACKSLASH: u8 = 1;
const PARAMS: u8 = 2;
const MERGE: u8 = 4;
const DOTS: u8 = 8;

/// The steps that can change `base`: the others are skipped (same result).
fn relevant_steps(base: &[u8]) -> u8 {
    let mut steps = 0;
    if base.contains(&b'\\') {
        // `\` as `/` may also make `//` and dot segments.
        steps |= BACKSLASH | MERGE | DOTS;
    }
    if base.contains(&b';') {
        // Cutting `..;x` leaves a dot segment, `/;x/` an empty one.
        steps |= PARAMS | MERGE | DOTS;
    }
    if base.windows(2).any(|w| w == b"//") {
        steps |= MERGE;
    }
    if base.contains(&b'.') || base.windows(3).any(|w| w.eq_ignore_ascii_case(b"%2e")) {
        steps |= DOTS;
    }
    steps
}

fn apply(base: &[u8], mask: u8) -> Result<Vec<u8>, Unreadable> {
    let mut s = base.to_vec();
    if mask & BACKSLASH != 0 {
        for b in &mut s {
            if *b == b'\\' {
                *b = b'/';
            }
        }
    }
    if mask & PARAMS != 0 {
        s = cut_params(&s);
    }
    if mask & MERGE != 0 {
        s.dedup_by(|a, b| *a == b'/' && *b == b'/');
    }
    if mask & DOTS != 0 {
        s = resolve_dots(&s)?;
    }
    Ok(s)
}

fn check_as_sent(path: &[u8]) -> Result<(), Unreadable> {
    let mut i = 0;
    while i < path.len() {
        match path[i] {
            0..=0x20 | 0x7f | b'#' => return Err(Unreadable::ControlByte),
            b'%' => {
                if !escape_at(path, i) {
                    return Err(Unreadable::BadEscape);
                }
                i += 3;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if std::str::from_utf8(path).is_err() {
        return Err(Unreadable::NotUtf8);
    }
    Ok(())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn escape_at(s: &[u8], i: usize) -> bool {
    s.get(i) == Some(&b'%')
        && s.get(i + 1).copied().and_then(hex).is_some()
        && s.get(i + 2).copied().and_then(hex).is_some()
}

fn has_escape(s: &[u8]) -> bool {
    (0..s.len()).any(|i| escape_at(s, i))
}

/// Every `%XX` decoded; a `%` without two hex digits stays as it is.
fn decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if let (true, Some(h), Some(l)) =
            (escape_at(s, i), s.get(i + 1).copied().and_then(hex), s.get(i + 2).copied().and_then(hex))
        {
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// `;...` cut from every segment (servlet containers drop path parameters so).
fn cut_params(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut in_params = false;
    for &b in s {
        if b == b'/' {
            in_params = false;
        } else if b == b';' {
            in_params = true;
        }
        if !in_params {
            out.push(b);
        }
    }
    out
}

/// How many dots a segment is, if it is only dots (`.`, `%2e`), one or two.
fn dot_segment(seg: &[u8]) -> Option<usize> {
    let mut n = 0;
    let mut i = 0;
    while i < seg.len() {
        if seg[i] == b'.' {
            i += 1;
        } else if seg.len() >= i + 3 && seg[i..i + 3].eq_ignore_ascii_case(b"%2e") {
            i += 3;
        } else {
            return None;
        }
        n += 1;
    }
    (n == 1 || n == 2).then_some(n)
}

/// RFC 3986 remove_dot_segments, except that `..` above the root is an error (an
/// upstream may clamp it, refuse it, or serve a file outside its root).
fn resolve_dots(s: &[u8]) -> Result<Vec<u8>, Unreadable> {
    let segs: Vec<&[u8]> = s.split(|&b| b == b'/').collect();
    let mut out: Vec<&[u8]> = Vec::with_capacity(segs.len());
    let last = segs.len().saturating_sub(1);
    for (i, seg) in segs.iter().enumerate() {
        if i == 0 {
            // Before the first `/`: empty for an absolute path.
            out.push(seg);
            continue;
        }
        match dot_segment(seg) {
            Some(dots) => {
                if dots == 2 {
                    if out.len() <= 1 {
                        return Err(Unreadable::AboveRoot);
                    }
                    out.pop();
                }
                if i == last {
                    // `/a/.` is `/a/`.
                    out.push(b"");
                }
            }
            None => out.push(seg),
        }
    }
    if out.len() == 1 && s.first() == Some(&b'/') {
        return Ok(b"/".to_vec());
    }
    Ok(out.join(&b'/'))
}

/// How a route compares its path with a reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    /// A plain path: starts with `/`, no escape, `\`, `;`, `//` or dot segment. Lower
    /// case unless `case_sensitive`; an exact path has no trailing `/` (but `/`).
    path: String,
    exact: bool,
    case_sensitive: bool,
}

/// Whether a reading reaches a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    No,
    Yes,
    /// Only if a non-ASCII character is read as some ASCII ones: refused.
    Maybe,
}

impl Matcher {
    /// A route path from the configuration. `Err` says what is wrong with it.
    pub fn compile(path: &str, exact: bool, case_sensitive: bool) -> Result<Matcher, String> {
        let bad = |what: &str| Err(format!("\"{}\" {what}", path.escape_debug()));
        if !path.starts_with('/') {
            return bad("must start with '/'");
        }
        if let Some(c) = path.chars().find(|c| matches!(c, '?' | '#')) {
            return bad(&format!("holds '{c}': give the path without query or fragment"));
        }
        if let Some(c) = path.chars().find(|c| matches!(c, '%' | '\\' | ';')) {
            return bad(&format!(
                "holds '{c}': give the path as the application names it (every spelling of it is matched)"
            ));
        }
        if path.chars().any(|c| !c.is_ascii_graphic()) {
            return bad("holds a space, a control or a non-ASCII character");
        }
        if path.contains("//") || path.split('/').any(|s| s == "." || s == "..") {
            return bad("holds `//` or a `.`/`..` segment: give the path it resolves to");
        }
        let mut path = path.to_string();
        if !case_sensitive {
            path.make_ascii_lowercase();
        }
        if exact {
            while path.len() > 1 && path.ends_with('/') {
                path.pop();
            }
        }
        Ok(Matcher { path, exact, case_sensitive })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn is_exact(&self) -> bool {
        self.exact
    }

    pub fn test(&self, reading: &[u8]) -> Hit {
        let pat = self.path.as_bytes();
        let fold = !self.case_sensitive;
        let trimmed = trim_slashes(reading);
        let plain = if self.exact {
            eq(trimmed, pat, fold)
        } else {
            (reading.len() >= pat.len() && eq(&reading[..pat.len()], pat, fold))
                || (pat.len() > 1 && pat.ends_with(b"/") && eq(trimmed, &pat[..pat.len() - 1], fold))
        };
        if plain {
            return Hit::Yes;
        }
        if !fold || reading.is_ascii() {
            return Hit::No;
        }
        let maybe = if self.exact {
            wild_match(pat, trimmed, true)
        } else {
            wild_match(pat, reading, false)
                || (pat.len() > 1 && pat.ends_with(b"/") && wild_match(&pat[..pat.len() - 1], trimmed, true))
        };
        if maybe {
            Hit::Maybe
        } else {
            Hit::No
        }
    }
}

fn eq(a: &[u8], b: &[u8], fold: bool) -> bool {
    if fold {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

/// Trailing `/` removed, but a path of slashes is `/`.
fn trim_slashes(s: &[u8]) -> &[u8] {
    let mut end = s.len();
    while end > 1 && s[end - 1] == b'/' {
        end -= 1;
    }
    &s[..end]
}

/// Whether `pat` (ASCII, lower case) is `s` (whole) or a prefix of `s`, when each
/// non-ASCII character of `s` may stand for one to three of any characters and ASCII
/// compares case-insensitively. Each step consumes at least one byte of `pat`, so this
/// runs at most `pat.len()` steps whatever the length of `s`.
fn wild_match(pat: &[u8], s: &[u8], whole: bool) -> bool {
    let n = pat.len();
    let mut cur = vec![false; n + 1];
    let mut next = vec![false; n + 1];
    cur[0] = true;
    let mut i = 0;
    while i < s.len() {
        if !whole && cur[n] {
            return true;
        }
        let b = s[i];
        let (width, wild) = match b {
            0..=0x7f => (1, false),
            0xc0..=0xdf => (2, true),
            0xe0..=0xef => (3, true),
            0xf0..=0xff => (4, true),
            _ => (1, true),
        };
        next.iter_mut().for_each(|x| *x = false);
        let mut any = false;
        for p in (0..=n).filter(|&p| cur[p]) {
            if wild {
                for k in 1..=3 {
                    if p + k <= n {
                        next[p + k] = true;
                        any = true;
                    }
                }
            } else if p < n && pat[p] == b.to_ascii_lowercase() {
                next[p + 1] = true;
                any = true;
            }
        }
        if !any {
            return false;
        }
        std::mem::swap(&mut cur, &mut next);
        i += width;
    }
    cur[n]
}

/// A host as routes compare it: lower case, without port, brackets or trailing dots.
pub fn host_key(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw).to_ascii_lowercase();
    let host = if let Some(rest) = s.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        match s.rsplit_once(':') {
            Some((h, port)) if !h.contains(':') && port.bytes().all(|c| c.is_ascii_digit()) => h,
            _ => s.as_str(),
        }
    };
    host.trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests;
