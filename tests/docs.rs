//! The documentation as a reader follows it: every relative link in the Markdown files
//! resolves, anchors included.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A heading line: its level and its text.
fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|&b| b == b'#').count();
    let text = line.get(level..)?.strip_prefix(' ')?;
    (level > 0).then_some((level, text.trim()))
}

/// The lines outside fenced code blocks, with their line numbers.
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push((i + 1, line));
        }
    }
    out
}

// --------------------------------------------------------------------------------------
// Links

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as `-`.
fn slug(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The anchors a Markdown file defines: its headings' (numbered when repeated) and
/// `<a id="...">`.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for (_, line) in prose(text) {
        if let Some((_, t)) = heading(line) {
            let s = slug(t);
            let n = seen.entry(s.clone()).or_insert(0);
            out.insert(if *n == 0 { s.clone() } else { format!("{s}-{n}") });
            *n += 1;
        }
        for part in line.split("<a id=\"").skip(1) {
            out.insert(part.split('"').next().unwrap_or("").to_string());
        }
    }
    out
}

/// Inline link targets of a line, code spans left out.
fn link_targets(line: &str) -> Vec<String> {
    let plain: String = line.split('`').step_by(2).collect::<Vec<_>>().join("");
    plain
        .split("](")
        .skip(1)
        .filter_map(|s| s.split(')').next())
        .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            // Build output, the virtualenv, test leftovers and fuzz inputs hold no docs.
            if !name.starts_with('.') && !["target", "corpus", "artifacts", "node_modules"].contains(&name.as_str()) {
                markdown_files(&path, out);
            }
        } else if name.ends_with(".md") {
            out.push(path);
        }
    }
}

#[test]
fn every_relative_link_resolves() {
    let root = repo();
    let mut files = Vec::new();
    markdown_files(&root, &mut files);
    assert!(files.iter().any(|f| f.ends_with("docs/providers.md")), "docs/ not found under {}", root.display());
    let mut broken = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        let rel = file.strip_prefix(&root).unwrap().display().to_string();
        for (n, line) in prose(&text) {
            for target in link_targets(line) {
                if target.contains("://") || target.starts_with("mailto:") || target.is_empty() {
                    continue;
                }
                let (path, anchor) = match target.split_once('#') {
                    Some((p, a)) => (p, Some(a)),
                    None => (target.as_str(), None),
                };
                let dest = if path.is_empty() { file.clone() } else { file.parent().unwrap().join(path) };
                if !dest.exists() {
                    broken.push(format!("{rel}:{n}: {target}: no such file"));
                    continue;
                }
                if let Some(anchor) = anchor {
                    let is_md = dest.extension().is_some_and(|e| e == "md");
                    if is_md && !anchors(&fs::read_to_string(&dest).unwrap()).contains(anchor) {
                        broken.push(format!("{rel}:{n}: {target}: no such anchor"));
                    }
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn slugs_follow_githubs_rule() {
    assert_eq!(slug("`routes[].match`"), "routesmatch");
    assert_eq!(slug("`remote_list.login`"), "remote_listlogin");
    assert_eq!(slug("Loading the plugin from a URL (remote code)"), "loading-the-plugin-from-a-url-remote-code");
    assert_eq!(slug("`webhook-guard check FILE...`"), "webhook-guard-check-file");
    assert_eq!(slug("WebhookGuardLoginFailing"), "webhookguardloginfailing");
}
