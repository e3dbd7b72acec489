//! The documentation against the code, so neither can change without the other: the
//! preset table of docs/providers.md and the README's list of presets name exactly the
//! presets of the code; every field the configuration reader takes has its row in
//! docs/configuration.md; every relative link in the Markdown files resolves, anchors
//! included.

// A test crate: a panic is how a test fails, so the crate's no-panic lints stop here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use webhook_guard::verify::signature::presets;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = repo().join(rel);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
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

/// The section under the heading whose text is `title`, to the next heading of the same or
/// a higher level (`whole`), or to the next heading of any level (not `whole`).
fn section<'a>(text: &'a str, title: &str, whole: bool) -> Vec<&'a str> {
    let lines = prose(text);
    let start = lines.iter().position(|(_, l)| heading(l).is_some_and(|(_, t)| t == title));
    let Some(start) = start else { panic!("no section titled {title:?}") };
    let (level, _) = heading(lines[start].1).unwrap();
    lines[start + 1..]
        .iter()
        .map(|(_, l)| *l)
        .take_while(|l| match heading(l) {
            Some((n, _)) => whole && n > level,
            None => true,
        })
        .collect()
}

/// The cells of a table row.
fn cells(row: &str) -> Vec<&str> {
    let inner = row.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split(" | ").map(str::trim).collect()
}

/// The first `code span` of a cell.
fn code(cell: &str) -> Option<&str> {
    let rest = &cell[cell.find('`')? + 1..];
    Some(&rest[..rest.find('`')?])
}

// --------------------------------------------------------------------------------------
// Presets

struct Row {
    line: String,
    anchor: String,
    name: String,
    tolerance: String,
    handshake: String,
    source: String,
    departures: String,
}

/// The rows of docs/providers.md's preset table.
fn preset_rows() -> Vec<Row> {
    let text = read("docs/providers.md");
    let lines = section(&text, "Presets", false);
    let header = lines.iter().position(|l| l.starts_with("| scheme |")).expect("the preset table's header row");
    let columns = cells(lines[header]);
    let col =
        |name: &str| columns.iter().position(|c| c.starts_with(name)).unwrap_or_else(|| panic!("no column {name:?}"));
    let (scheme, tolerance, handshake, source) = (col("scheme"), col("tolerance"), col("handshake"), col("source"));
    let departures = col("departures");
    lines[header + 2..]
        .iter()
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let c = cells(l);
            assert_eq!(c.len(), columns.len(), "docs/providers.md: wrong number of cells in {l}");
            let anchor = c[scheme]
                .strip_prefix("<a id=\"")
                .and_then(|s| s.split('"').next())
                .unwrap_or_else(|| panic!("docs/providers.md: the scheme cell has no <a id=\"...\"> anchor: {l}"));
            let url = c[source].split("](").nth(1).and_then(|s| s.strip_suffix(')'));
            Row {
                line: l.to_string(),
                anchor: anchor.to_string(),
                name: code(c[scheme]).unwrap_or_else(|| panic!("no `name` in {l}")).to_string(),
                tolerance: c[tolerance].to_string(),
                handshake: c[handshake].to_string(),
                source: url.unwrap_or_else(|| panic!("no source link in {l}")).to_string(),
                departures: c[departures].to_string(),
            }
        })
        .collect()
}

#[test]
fn the_provider_table_names_exactly_the_presets_of_the_code() {
    let rows = preset_rows();
    let table: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    let unique: BTreeSet<&str> = table.iter().copied().collect();
    assert_eq!(unique.len(), table.len(), "docs/providers.md names a preset twice");
    let code: BTreeSet<&str> = presets::names().into_iter().collect();
    let missing: Vec<_> = code.difference(&unique).collect();
    let unknown: Vec<_> = unique.difference(&code).collect();
    assert!(missing.is_empty(), "presets in the code without a row in docs/providers.md: {missing:?}");
    assert!(unknown.is_empty(), "rows in docs/providers.md for presets the code lacks: {unknown:?}");
}

#[test]
fn each_preset_row_says_what_the_code_does() {
    let mut wrong = Vec::new();
    for row in preset_rows() {
        let Some(p) = presets::preset(&row.name) else { continue };
        let name = &row.name;
        if row.anchor != row.name {
            wrong.push(format!("{name}: anchor {:?}, not the scheme name: {}", row.anchor, row.line));
        }
        if row.source != p.source {
            wrong.push(format!("{name}: source {}, but the preset follows {}", row.source, p.source));
        }
        let timestamped = p.schemes.iter().any(|s| s.timestamp.is_some());
        let expected = if timestamped { format!("{} / {}", p.window.past, p.window.future) } else { "-".into() };
        if row.tolerance != expected {
            wrong.push(format!("{name}: tolerance {:?}, the code's is {expected:?}", row.tolerance));
        }
        for d in p.departures() {
            if !row.departures.contains(&d.to_string()) {
                wrong.push(format!("{name}: departure \"{d}\" is not in the row"));
            }
        }
        if (row.handshake != "-") != p.handshake.is_some() {
            let has = if p.handshake.is_some() { "has one" } else { "has none" };
            wrong.push(format!("{name}: handshake {:?}, the preset {has}", row.handshake));
        }
    }
    assert!(wrong.is_empty(), "docs/providers.md disagrees with the code:\n{}", wrong.join("\n"));
}

#[test]
fn the_readme_links_every_preset_and_counts_them() {
    let readme = read("README.md");
    let providers = section(&readme, "Providers", false).join("\n");
    let linked: Vec<&str> =
        providers.split("](docs/providers.md#").skip(1).map(|s| s.split(')').next().unwrap_or("")).collect();
    let set: BTreeSet<&str> = linked.iter().copied().collect();
    assert_eq!(set.len(), linked.len(), "the README links a preset twice");
    let code: BTreeSet<&str> = presets::names().into_iter().collect();
    assert_eq!(set, code, "the README's preset links (section Providers) against the presets of the code");
    // The link text is the scheme name itself.
    for name in presets::names() {
        assert!(providers.contains(&format!("[`{name}`](docs/providers.md#{name})")), "README: link text of {name}");
    }
    let count = format!("**{} provider presets**", presets::all().len());
    assert!(readme.contains(&count), "the README does not say {count}");
}

// --------------------------------------------------------------------------------------
// Configuration fields

/// The fields the configuration reader takes for the object where `probe` puts an unknown
/// field first: its error lists them (`unknown field `x`, expected one of `a`, `b``).
fn fields_at(probe: &str) -> BTreeSet<String> {
    let err = webhook_guard::config::read(probe.as_bytes()).expect_err(probe).to_string();
    let (_, expected) = err
        .split_once("unknown field `zz_probe`, expected ")
        .unwrap_or_else(|| panic!("{probe}: not an unknown-field error: {err}"));
    expected.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

#[test]
fn every_configuration_field_has_its_row() {
    let checks = |inner: &str| format!(r#"{{"api":"v1","routes":[{{"checks":{inner}}}]}}"#);
    let probes: &[(String, &str)] = &[
        (r#"{"zz_probe":1}"#.into(), "Top level"),
        (r#"{"api":"v1","routes":[{"zz_probe":1}]}"#.into(), "`routes[]`"),
        (r#"{"api":"v1","routes":[{"match":{"zz_probe":1}}]}"#.into(), "`routes[].match`"),
        (checks(r#"{"zz_probe":1}"#), "`routes[].checks`"),
        (checks(r#"{"signature":{"zz_probe":1}}"#), "`checks.signature`"),
        (checks(r#"{"signature":{"secrets":[{"zz_probe":1}]}}"#), "Secrets"),
        (checks(r#"{"signature":{"list":{"zz_probe":1}}}"#), "`checks.signature.list`"),
        (checks(r#"{"signature":{"declared":[{"zz_probe":1}]}}"#), "`checks.signature.declared[]`"),
        (checks(r#"{"signature":{"dedupe":{"zz_probe":1}}}"#), "`checks.signature.dedupe`"),
        (checks(r#"{"headers":[{"zz_probe":1}]}"#), "`checks.headers[]`"),
        (checks(r#"{"ip_allowlist":{"zz_probe":1}}"#), "`checks.ip_allowlist`"),
        (checks(r#"{"ip_allowlist":{"remote_list":{"zz_probe":1}}}"#), "`remote_list`"),
        (checks(r#"{"ip_allowlist":{"remote_list":{"login":{"zz_probe":1}}}}"#), "`remote_list.login`"),
        (checks(r#"{"rate_limit":{"zz_probe":1}}"#), "`checks.rate_limit`"),
        (checks(r#"{"jwt":{"zz_probe":1}}"#), "`checks.jwt`"),
        (checks(r#"{"jwt":{"jwks":{"zz_probe":1}}}"#), "`checks.jwt.jwks`"),
        (checks(r#"{"developer_payload":{"zz_probe":1}}"#), "`checks.developer_payload`"),
        (checks(r#"{"client_cert":{"zz_probe":1}}"#), "`checks.client_cert`"),
        (checks(r#"{"paypal":{"zz_probe":1}}"#), "`checks.paypal`"),
        (checks(r#"{"paypal":{"certificates":{"zz_probe":1}}}"#), "`checks.paypal.certificates`"),
        (checks(r#"{"plaid":{"zz_probe":1}}"#), "`checks.plaid`"),
        (checks(r#"{"plaid":{"keys":{"zz_probe":1}}}"#), "`checks.plaid.keys`"),
        (checks(r#"{"sns":{"zz_probe":1}}"#), "`checks.sns`"),
        (checks(r#"{"sns":{"certificates":{"zz_probe":1}}}"#), "`checks.sns.certificates`"),
        (checks(r#"{"event_grid":{"zz_probe":1}}"#), "`checks.event_grid`"),
    ];
    let text = read("docs/configuration.md");
    let rows = |lines: &[&str]| -> BTreeSet<String> {
        lines.iter().filter(|l| l.starts_with("| `")).filter_map(|l| code(l).map(str::to_string)).collect()
    };
    let (mut missing, mut stale) = (BTreeMap::new(), BTreeMap::new());
    for (probe, title) in probes {
        let fields = fields_at(probe);
        // The object's rows may sit in its subsections (the generic scheme's under
        // `checks.signature`); its own table lists no field it does not take.
        let documented = rows(&section(&text, title, true));
        let own = rows(&section(&text, title, false));
        let lacking: Vec<_> = fields.difference(&documented).cloned().collect();
        if !lacking.is_empty() {
            missing.insert(*title, lacking);
        }
        let extra: Vec<_> = own.difference(&fields).cloned().collect();
        if !extra.is_empty() {
            stale.insert(*title, extra);
        }
    }
    assert!(missing.is_empty(), "fields without a row in docs/configuration.md: {missing:?}");
    assert!(stale.is_empty(), "rows in docs/configuration.md for fields the reader does not take: {stale:?}");
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
