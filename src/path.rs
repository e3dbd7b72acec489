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
//!   (`%00`, `%0A`, ...) and be UTF-8 (overlong forms of `/` and `.` are refused), without
//!   U+FFFD (what bytes that are not UTF-8 become in the request head).
//! - Bases: the path as sent, decoded once, and decoded twice when the first decoding
//!   still holds `%XX` (an upstream behind another decoding proxy). Still encoded after
//!   two decodings is refused. A decoded `?` or `#` adds the base cut there (an upstream
//!   that decodes before it splits off the query).
//! - Each base is read with every subset of: `\` as `/`, `;...` cut from each segment,
//!   runs of `/` merged, dot segments resolved (`%2e` counts as `.`), in that order.
//! - A `..` that climbs above the root under any reading is refused, and so is a path
//!   over [`MAX_READ_LEN`] bytes that needs reading.
//! - Case: routes compare ASCII letters case-insensitively unless `case_sensitive`. There,
//!   a non-ASCII character may stand for up to three of any characters (Unicode case
//!   folding turns `ı` into `i`, `ſ` into `s`, `K` into `k`, `ß` into `ss`, `ﬃ` into
//!   `ffi`): a path that reaches a route only that way is refused rather than guessed at.
//! - The last reading is the normal form (decoded as far as it goes, every step). With
//!   `unmatched: deny` a request some reading puts on a route must be on it in its normal
//!   form too (the policy checks that).
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
    /// Longer than [`MAX_READ_LEN`] and in need of reading.
    TooLong,
}

/// The longest path that is read every way (longer plain paths are fine). Reading costs
/// up to a few dozen passes over the path; servers commonly refuse request lines over
/// 8 KiB anyway.
pub const MAX_READ_LEN: usize = 8192;

/// Whether `path` reads one way only: it starts with `/` and has no `%`, `\`, `;`, `#`,
/// control, space or non-ASCII byte, no `//`, and no segment that starts with `.`.
/// Upper-case letters are fine: routes compare case-insensitively without copying.
pub fn is_plain(path: &[u8]) -> bool {
    if path.first() != Some(&b'/') {
        return false;
    }
    let mut prev = 0;
    for &b in path {
        // One pass, no look-ahead: any segment that starts with `.` (not only `.` and
        // `..`) takes the slow path, and so does `//`.
        if is_special(b) || (prev == b'/' && (b == b'/' || b == b'.')) {
            return false;
        }
        prev = b;
    }
    true
}

/// Bytes that make a path need reading: `%`, `\`, `;`, `#`, controls, space, non-ASCII.
fn is_special(b: u8) -> bool {
    matches!(b, 0..=0x20 | 0x7f..=0xff | b'%' | b'\\' | b';' | b'#')
}

/// Every reading of `path` (query string already cut off), the path as sent first and
/// its normal form last: decoded as far as it goes and read with every step. Readings
/// may repeat; the caller only asks which routes they reach.
pub fn readings(path: &[u8]) -> Result<Vec<Vec<u8>>, Unreadable> {
    if path.len() > MAX_READ_LEN {
        return Err(Unreadable::TooLong);
    }
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
        if !is_utf8(&level) {
            return Err(Unreadable::NotUtf8);
        }
        if let Some(head) = level.iter().position(|&b| b == b'?' || b == b'#').and_then(|cut| level.get(..cut)) {
            bases.push(head.to_vec());
        }
        bases.push(level.clone());
    }
    let mut out = Vec::new();
    for base in bases {
        // Each step doubles the readings of the one before (with and without it); steps
        // that cannot change this base are skipped.
        let relevant = relevant_steps(&base);
        let mut layer = vec![base];
        for step in [BACKSLASH, PARAMS, MERGE, DOTS] {
            if relevant & step == 0 {
                continue;
            }
            let mut next = Vec::with_capacity(layer.len() * 2);
            for r in layer {
                let changed = apply(&r, step)?;
                next.push(r);
                next.push(changed);
            }
            layer = next;
        }
        out.append(&mut layer);
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

fn apply(s: &[u8], step: u8) -> Result<Vec<u8>, Unreadable> {
    Ok(match step {
        BACKSLASH => s.iter().map(|&b| if b == b'\\' { b'/' } else { b }).collect(),
        PARAMS => cut_params(s),
        MERGE => {
            let mut v = s.to_vec();
            v.dedup_by(|a, b| *a == b'/' && *b == b'/');
            v
        }
        _ => resolve_dots(s)?,
    })
}

fn check_as_sent(path: &[u8]) -> Result<(), Unreadable> {
    let mut i = 0;
    while let Some(&b) = path.get(i) {
        match b {
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
    if !is_utf8(path) {
        return Err(Unreadable::NotUtf8);
    }
    Ok(())
}

/// UTF-8 without U+FFFD: the request head turns bytes that are not UTF-8 into it, so
/// it may stand for an overlong `/` (and no application names a path with it).
fn is_utf8(s: &[u8]) -> bool {
    std::str::from_utf8(s).is_ok_and(|t| !t.contains('\u{fffd}'))
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
    while let Some(&b) = s.get(i) {
        if let (true, Some(h), Some(l)) =
            (escape_at(s, i), s.get(i + 1).copied().and_then(hex), s.get(i + 2).copied().and_then(hex))
        {
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(b);
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
fn dot_segment(mut seg: &[u8]) -> Option<usize> {
    let mut n = 0;
    while !seg.is_empty() {
        seg = match seg {
            [b'.', rest @ ..] | [b'%', b'2', b'e' | b'E', rest @ ..] => rest,
            _ => return None,
        };
        n += 1;
    }
    (n == 1 || n == 2).then_some(n)
}

/// RFC 3986 remove_dot_segments, except that `..` above the root is an error (an
/// upstream may clamp it, refuse it, or serve a file outside its root).
fn resolve_dots(s: &[u8]) -> Result<Vec<u8>, Unreadable> {
    let mut out = Vec::with_capacity(s.len());
    let mut segs = s.split(|&b| b == b'/').peekable();
    // Before the first `/`: empty for an absolute path.
    out.extend_from_slice(segs.next().unwrap_or_default());
    let root = out.len();
    let mut depth = 0usize;
    while let Some(seg) = segs.next() {
        let last = segs.peek().is_none();
        match dot_segment(seg) {
            Some(dots) => {
                if dots == 2 {
                    if depth == 0 {
                        return Err(Unreadable::AboveRoot);
                    }
                    let cut =
                        out.get(root..).and_then(|t| t.iter().rposition(|&b| b == b'/')).map_or(root, |p| root + p);
                    out.truncate(cut);
                    depth -= 1;
                }
                if last {
                    // `/a/.` is `/a/`.
                    out.push(b'/');
                }
            }
            None => {
                out.push(b'/');
                out.extend_from_slice(seg);
                depth += 1;
            }
        }
    }
    Ok(out)
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

    #[cfg(test)]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `ascii`: whether `reading` is all ASCII (known to the caller once per reading).
    pub fn test(&self, reading: &[u8], ascii: bool) -> Hit {
        let pat = self.path.as_bytes();
        let fold = !self.case_sensitive;
        let trimmed = trim_slashes(reading);
        let plain = if self.exact {
            eq(trimmed, pat, fold)
        } else {
            reading.get(..pat.len()).is_some_and(|head| eq(head, pat, fold))
                || (pat.len() > 1 && pat.strip_suffix(b"/").is_some_and(|dir| eq(trimmed, dir, fold)))
        };
        if plain {
            return Hit::Yes;
        }
        if !fold || ascii {
            return Hit::No;
        }
        let maybe = if self.exact {
            wild_match(pat, trimmed, true)
        } else {
            wild_match(pat, reading, false)
                || (pat.len() > 1 && pat.strip_suffix(b"/").is_some_and(|dir| wild_match(dir, trimmed, true)))
        };
        if maybe {
            Hit::Maybe
        } else {
            Hit::No
        }
    }
}

/// `b` is lower case when `fold`: a path already in lower case compares as one memcmp.
fn eq(a: &[u8], b: &[u8], fold: bool) -> bool {
    a.len() == b.len() && (a == b || (fold && a.iter().zip(b).all(|(x, y)| x.to_ascii_lowercase() == *y)))
}

/// Trailing `/` removed, but a path of slashes is `/`.
fn trim_slashes(mut s: &[u8]) -> &[u8] {
    while s.len() > 1 {
        match s.strip_suffix(b"/") {
            Some(rest) => s = rest,
            None => break,
        }
    }
    s
}

/// Whether `pat` (ASCII, lower case) is `s` (whole) or a prefix of `s`, when each
/// non-ASCII character of `s` may stand for one to three of any characters and ASCII
/// compares case-insensitively. Each step consumes at least one byte of `pat`, so this
/// runs at most `pat.len()` steps whatever the length of `s`.
fn wild_match(pat: &[u8], s: &[u8], whole: bool) -> bool {
    let n = pat.len();
    let mut cur = vec![false; n + 1];
    let mut next = vec![false; n + 1];
    if let Some(start) = cur.first_mut() {
        *start = true;
    }
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if !whole && cur.last() == Some(&true) {
            return true;
        }
        let (width, wild) = match b {
            0..=0x7f => (1, false),
            0xc0..=0xdf => (2, true),
            0xe0..=0xef => (3, true),
            0xf0..=0xff => (4, true),
            _ => (1, true),
        };
        next.iter_mut().for_each(|x| *x = false);
        let mut any = false;
        for p in cur.iter().enumerate().filter_map(|(p, &on)| on.then_some(p)) {
            if wild {
                for reached in next.iter_mut().skip(p + 1).take(3) {
                    *reached = true;
                    any = true;
                }
            } else if pat.get(p) == Some(&b.to_ascii_lowercase()) {
                if let Some(reached) = next.get_mut(p + 1) {
                    *reached = true;
                    any = true;
                }
            }
        }
        if !any {
            return false;
        }
        std::mem::swap(&mut cur, &mut next);
        i += width;
    }
    cur.last() == Some(&true)
}

/// A host as routes compare it: lower case, without port, brackets or trailing dots.
/// Everything from a `:` on is the port, digits or not (an upstream may cut it there).
pub fn host_key(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw).to_ascii_lowercase();
    let host = match s.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => s.split(':').next().unwrap_or_default(),
    };
    host.trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests;
