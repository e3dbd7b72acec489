//! The configurations the documentation shows are ones `webhook-guard check --strict`
//! accepts. A fenced block whose info string carries `check` (```` ```yaml check ````)
//! is a whole plugin configuration or a whole Envoy config, and must pass with the
//! examples' placeholder environment; any other `yaml` block is a part of one and says
//! where it goes in a leading `#` comment, so a reader sees it is not a whole config.

// A test crate: a panic is how a test fails, so the crate's no-panic lints stop here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{repo, run, scratch, write};

const EXAMPLES_ENV: &str = "cli/tests/examples.env";

/// A fenced block: where it starts, its info string's words, its text.
struct Block {
    file: String,
    line: usize,
    info: Vec<String>,
    text: String,
}

/// The Markdown files a reader is sent to: the front pages and docs/.
fn documents() -> Vec<String> {
    let mut out: Vec<String> = ["README.md", "CONTRIBUTING.md", "SECURITY.md"].iter().map(|s| s.to_string()).collect();
    let mut docs: Vec<String> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    docs.sort();
    out.extend(docs);
    out
}

fn blocks(file: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(repo().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let Some(rest) = line.strip_prefix("```") else {
            if let Some(b) = open.as_mut() {
                b.text.push_str(line);
                b.text.push('\n');
            }
            continue;
        };
        match open.take() {
            Some(b) => out.push(b),
            None => {
                let info = rest.split_whitespace().map(str::to_string).collect();
                open = Some(Block { file: file.to_string(), line: i + 1, info, text: String::new() });
            }
        }
    }
    assert!(open.is_none(), "{file}: a fenced block is never closed");
    out
}

fn all_blocks() -> Vec<Block> {
    documents().iter().flat_map(|f| blocks(f)).collect()
}

fn is_checked(b: &Block) -> bool {
    b.info.iter().skip(1).any(|w| w == "check")
}

#[test]
fn every_whole_configuration_in_the_docs_passes_strict_check() {
    let dir = scratch("docs");
    let mut checked = 0;
    let mut failed = Vec::new();
    for (n, b) in all_blocks().iter().filter(|b| is_checked(b)).enumerate() {
        let ext = match b.info.first().map(String::as_str) {
            Some("yaml") => "yaml",
            Some("json") => "json",
            other => panic!("{}:{}: a `check` block is yaml or json, not {other:?}", b.file, b.line),
        };
        let path = write(&dir, &format!("block{n}.{ext}"), &b.text);
        let r = run(&["check", "--strict", "--env-file", EXAMPLES_ENV, &path], &[]);
        if r.code != 0 || !r.stdout.contains(": ok, ") {
            failed.push(format!("{}:{}: exit {}\n{}{}", b.file, b.line, r.code, r.stdout, r.stderr));
        }
        checked += 1;
    }
    assert!(failed.is_empty(), "configurations in the docs that `check --strict` refuses:\n{}", failed.join("\n"));
    // The README's sample and configuration.md's complete example at least.
    assert!(checked >= 2, "only {checked} blocks marked `check`");
}

#[test]
fn every_other_yaml_block_says_it_is_a_part() {
    let mut unmarked = Vec::new();
    for b in all_blocks() {
        if is_checked(&b) || b.info.first().map(String::as_str) != Some("yaml") {
            continue;
        }
        let first = b.text.lines().next().unwrap_or("");
        // A whole plugin configuration or Envoy bootstrap must be checked, not excused.
        let whole = b.text.lines().any(|l| l.starts_with("api:") || l.starts_with("static_resources:"));
        if whole {
            unmarked.push(format!("{}:{}: a whole configuration without `check`", b.file, b.line));
        } else if !first.starts_with("# ") {
            unmarked
                .push(format!("{}:{}: a part of a configuration without a leading `# where it goes`", b.file, b.line));
        }
    }
    assert!(unmarked.is_empty(), "{}", unmarked.join("\n"));
}

#[test]
fn a_refused_configuration_fails_the_check() {
    // What the test above relies on: a block `check` refuses is reported, and one that
    // needs a variable the examples' environment lacks counts as refused.
    let dir = scratch("docs-refused");
    let broken = "api: v1\nroutes:\n  - name: x\n    match: { path_prefix: /x }\n    checks:\n      signature: { scheme: nosuch, secrets: [{ env: GITHUB_WEBHOOK_SECRET }] }\n";
    let unset = "api: v1\nroutes:\n  - name: x\n    match: { path_prefix: /x }\n    checks:\n      signature: { scheme: github, secrets: [{ env: NOT_IN_THE_EXAMPLES_ENV }] }\n";
    for (name, text) in [("broken.yaml", broken), ("unset.yaml", unset)] {
        let path = write(&dir, name, text);
        let r = run(&["check", "--strict", "--env-file", EXAMPLES_ENV, &path], &[]);
        assert_eq!(r.code, 1, "{name}: {}", r.stdout);
    }
}
