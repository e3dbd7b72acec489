use super::*;
use crate::verify::encoding::hex_encode;

fn no_env(_: &str) -> Option<String> {
    None
}

fn env(name: &str) -> Option<String> {
    (name == "COPYLEAKS_DEVELOPER_PAYLOAD").then(|| "dp-s3cr3t".to_string())
}

fn check(json: &str) -> PayloadCheck {
    let c: PayloadConfig = crate::wire::read_str(json).unwrap();
    PayloadCheck::compile(&c, "dp", &env).unwrap()
}

fn compile_err(json: &str) -> String {
    let c: PayloadConfig = crate::wire::read_str(json).unwrap();
    PayloadCheck::compile(&c, "dp", &no_env).unwrap_err().to_string()
}

/// A Copyleaks "completed" webhook, shortened; `payload` and `scan_id` are spliced
/// in as raw JSON so tests can put any token there.
fn completed(payload: &str, scan_id: &str) -> String {
    format!(
        r#"{{
  "status": 0,
  "developerPayload": {payload},
  "scannedDocument": {{
    "scanId": {scan_id},
    "totalWords": 1203,
    "totalExcluded": 0,
    "credits": 2,
    "expectedCredits": 2,
    "creationTime": "2024-03-01T10:00:00.000000Z",
    "metadata": {{ "filename": "essay.docx" }}
  }},
  "results": {{
    "score": {{ "identicalWords": 12, "minorChangedWords": 0, "relatedMeaningWords": 4, "aggregatedScore": 1.3 }},
    "internet": [ {{ "id": "2a1b402420", "title": "An essay", "matchedWords": 16, "url": "https://example.com/a" }} ],
    "database": [], "batch": [], "repositories": []
  }},
  "notifications": {{ "alerts": [] }}
}}"#
    )
}

const PLAIN: &str = r#"{"secrets":[{"id":"current","env":"COPYLEAKS_DEVELOPER_PAYLOAD"},
        {"id":"previous","value":"old-payload","not_after":"2027-01-31T00:00:00Z"}]}"#;
const BOUND: &str = r#"{"secrets":[{"id":"k1","value":"binding-key"}],"bound_to":"/scannedDocument/scanId"}"#;

fn bound_payload(key: &[u8], scan_id: &str) -> String {
    hex_encode(&crate::verify::mac::compute(Algorithm::Sha256, key, &[scan_id.as_bytes()]))
}

#[test]
fn copyleaks_completed_webhook_with_secret_payload() {
    let c = check(PLAIN);
    let body = completed(r#""dp-s3cr3t""#, r#""scan-1""#);
    assert_eq!(c.verify(body.as_bytes(), 0), Ok("current"));
    let old = completed(r#""old-payload""#, r#""scan-1""#);
    let t = 1_801_353_600; // 2027-01-31T00:00:00Z
    assert_eq!(c.verify(old.as_bytes(), t), Ok("previous"));
    assert_eq!(c.verify(old.as_bytes(), t + 1), Err(Denial::PayloadMismatch));
    // Escapes are decoded before comparing: this is the same string.
    let escaped = completed(r#""dp-s\u0033cr\u0033t""#, r#""scan-1""#);
    assert_eq!(c.verify(escaped.as_bytes(), 0), Ok("current"));
    assert_eq!(c.secret_ids().collect::<Vec<_>>(), ["current", "previous"]);
}

#[test]
fn mismatch() {
    let c = check(PLAIN);
    for payload in [r#""dp-s3cr3""#, r#""dp-s3cr3t ""#, r#""DP-S3CR3T""#, r#""""#, r#""dp-s3cr3tdp-s3cr3t""#] {
        let body = completed(payload, r#""scan-1""#);
        assert_eq!(c.verify(body.as_bytes(), 0), Err(Denial::PayloadMismatch), "{payload}");
    }
}

#[test]
fn missing_or_not_a_string() {
    let c = check(PLAIN);
    for payload in ["null", "1", "true", "false", "{}", r#"["dp-s3cr3t"]"#, "-0.5e3"] {
        let body = completed(payload, r#""scan-1""#);
        assert_eq!(c.verify(body.as_bytes(), 0), Err(Denial::PayloadMissing), "{payload}");
    }
    for body in [r#"{}"#, r#"{"properties":{"developerPayload":"dp-s3cr3t"}}"#, r#"[]"#, r#""dp-s3cr3t""#, "1"] {
        assert_eq!(c.verify(body.as_bytes(), 0), Err(Denial::PayloadMissing), "{body}");
    }
}

#[test]
fn not_json() {
    let c = check(PLAIN);
    let good = completed(r#""dp-s3cr3t""#, r#""scan-1""#);
    let trailing = format!("{good} x");
    let two_documents = format!("{good}{good}");
    let mut non_utf8 = good.clone().into_bytes();
    non_utf8.push(0xff);
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(good.as_bytes());
    for body in [
        b"".as_slice(),
        b"   ",
        b"developerPayload=dp-s3cr3t",
        trailing.as_bytes(),
        two_documents.as_bytes(),
        &non_utf8,
        &bom,
        &good.as_bytes()[..good.len() - 1],
    ] {
        assert_eq!(c.verify(body, 0), Err(Denial::PayloadNotJson), "{}", String::from_utf8_lossy(body));
    }
    // Invalid UTF-8 inside the payload string itself.
    let mut inside = br#"{"developerPayload":"dp-s3cr3t"#.to_vec();
    inside.extend_from_slice(b"\xc3\x28\"}");
    assert_eq!(c.verify(&inside, 0), Err(Denial::PayloadNotJson));
    // Whitespace around the document is JSON; a trailing newline is common.
    assert_eq!(c.verify(format!("\r\n\t {good}\n").as_bytes(), 0), Ok("current"));
}

#[test]
fn duplicate_keys_on_the_path_are_refused() {
    let c = check(PLAIN);
    let table = [
        // Last wins in serde_json and most parsers, first wins in some.
        r#"{"developerPayload":"dp-s3cr3t","developerPayload":"forged"}"#,
        r#"{"developerPayload":"forged","developerPayload":"dp-s3cr3t"}"#,
        r#"{"developerPayload":"dp-s3cr3t","developerPayload":"dp-s3cr3t"}"#,
        // The same name spelled with escapes.
        r#"{"developerPayload":"dp-s3cr3t","developer\u0050ayload":"forged"}"#,
        r#"{"\u0064eveloperPayload":"dp-s3cr3t","developerPayload":"forged"}"#,
        // A non-string duplicate is as ambiguous.
        r#"{"developerPayload":"dp-s3cr3t","developerPayload":{"x":1}}"#,
        // Case-insensitive binders (Go, .NET) take these for the same member.
        r#"{"developerPayload":"dp-s3cr3t","DeveloperPayload":"forged"}"#,
        r#"{"developerPayload":"dp-s3cr3t","DEVELOPERPAYLOAD":"forged"}"#,
        // Parsers built on C strings stop at NUL.
        r#"{"developerPayload":"dp-s3cr3t","developerPayload\u0000x":"forged"}"#,
    ];
    // Go folds U+017F (long s) to 'S' and U+212A (Kelvin sign) to 'K'.
    let long_s = check(r#"{"pointer":"/s","secrets":[{"value":"v"}]}"#);
    assert_eq!(long_s.verify(r#"{"s":"v","ſ":1}"#.as_bytes(), 0), Err(Denial::PayloadDuplicateKey));
    let kelvin = check(r#"{"pointer":"/k","secrets":[{"value":"v"}]}"#);
    assert_eq!(kelvin.verify("{\"\u{212a}\":1,\"k\":\"v\"}".as_bytes(), 0), Err(Denial::PayloadDuplicateKey));
    for body in table {
        assert_eq!(c.verify(body.as_bytes(), 0), Err(Denial::PayloadDuplicateKey), "{body}");
    }
    // A duplicate after an otherwise complete, valid payload is still found.
    let late = completed(r#""dp-s3cr3t""#, r#""scan-1""#).trim_end().trim_end_matches('}').to_string()
        + r#","developerPayload":"forged"}"#;
    assert_eq!(c.verify(late.as_bytes(), 0), Err(Denial::PayloadDuplicateKey));
}

#[test]
fn duplicate_keys_nested_along_the_path_are_refused() {
    let c = check(r#"{"pointer":"/properties/developerPayload","secrets":[{"value":"v"}]}"#);
    assert_eq!(c.verify(br#"{"properties":{"developerPayload":"v"}}"#, 0), Ok("0"));
    for body in [
        r#"{"properties":{"developerPayload":"v"},"properties":{"developerPayload":"x"}}"#,
        r#"{"properties":{"developerPayload":"v"},"propertie\u0073":{}}"#,
        r#"{"properties":{"developerPayload":"v","developer\u0050ayload":"x"}}"#,
        r#"{"properties":{"developerPayload":"v"},"Properties":{"developerPayload":"x"}}"#,
    ] {
        assert_eq!(c.verify(body.as_bytes(), 0), Err(Denial::PayloadDuplicateKey), "{body}");
    }
    // Through an array.
    let a = check(r#"{"pointer":"/items/1/token","secrets":[{"value":"v"}]}"#);
    assert_eq!(
        a.verify(br#"{"items":[{"token":"x","token":"y"},{"token":"v"}]}"#, 0),
        Ok("0"),
        "element 0 is off the path"
    );
    assert_eq!(a.verify(br#"{"items":[{},{"token":"v","token":"v"}]}"#, 0), Err(Denial::PayloadDuplicateKey));
}

#[test]
fn duplicate_keys_off_the_path_are_fine() {
    let c = check(PLAIN);
    for body in [
        // Nested in a member the pointer does not follow.
        r#"{"results":{"score":1,"score":2},"developerPayload":"dp-s3cr3t"}"#,
        r#"{"a":[{"x":1,"x":1}],"developerPayload":"dp-s3cr3t","b":{"c":{"d":1,"d":2}}}"#,
        // Siblings of the payload: they do not change what the pointer reads.
        r#"{"status":0,"status":1,"developerPayload":"dp-s3cr3t"}"#,
        // Inside the payload's own neighbourhood but not a name the pointer uses.
        r#"{"developerPayloadX":"a","xdeveloperPayload":"b","developerPayload":"dp-s3cr3t"}"#,
    ] {
        assert_eq!(c.verify(body.as_bytes(), 0), Ok("current"), "{body}");
    }
}

#[test]
fn bound_to_known_answer() {
    let c = check(BOUND);
    let mac = bound_payload(b"binding-key", "scan-1");
    let body = completed(&format!("\"{mac}\""), r#""scan-1""#);
    assert_eq!(c.verify(body.as_bytes(), 0), Ok("k1"));
    // Either hex case from the sender.
    let upper = completed(&format!("\"{}\"", mac.to_ascii_uppercase()), r#""scan-1""#);
    assert_eq!(c.verify(upper.as_bytes(), 0), Ok("k1"));
    // The bound value is decoded before it is hashed.
    let escaped = completed(&format!("\"{mac}\""), r#""scan\u002d1""#);
    assert_eq!(c.verify(escaped.as_bytes(), 0), Ok("k1"));
    // The same payload is useless for another scan.
    let other = completed(&format!("\"{mac}\""), r#""scan-2""#);
    assert_eq!(c.verify(other.as_bytes(), 0), Err(Denial::PayloadMismatch));
    // The secret itself is not a valid payload in this mode.
    let raw = completed(r#""binding-key""#, r#""scan-1""#);
    assert_eq!(c.verify(raw.as_bytes(), 0), Err(Denial::PayloadMismatch));
    for bad in [&mac[..62], "", "zz"] {
        let b = completed(&format!("\"{bad}\""), r#""scan-1""#);
        assert_eq!(c.verify(b.as_bytes(), 0), Err(Denial::PayloadMismatch), "{bad}");
    }
    // The binding target must be a non-empty string.
    for scan_id in ["null", "12345", r#""""#, "{}"] {
        let b = completed(&format!("\"{mac}\""), scan_id);
        assert_eq!(c.verify(b.as_bytes(), 0), Err(Denial::PayloadMissing), "{scan_id}");
    }
    let no_doc = format!(r#"{{"developerPayload":"{mac}"}}"#);
    assert_eq!(c.verify(no_doc.as_bytes(), 0), Err(Denial::PayloadMissing));
    // A replayed payload next to a forged scan id, in a duplicate member.
    for forged in [
        format!(
            r#"{{"developerPayload":"{mac}","scannedDocument":{{"scanId":"scan-1"}},"scannedDocument":{{"scanId":"scan-2"}}}}"#
        ),
        format!(r#"{{"developerPayload":"{mac}","scannedDocument":{{"scanId":"scan-1","scanId":"scan-2"}}}}"#),
        format!(r#"{{"developerPayload":"{mac}","scannedDocument":{{"scanId":"scan-1","ScanID":"scan-2"}}}}"#),
        format!(
            r#"{{"developerPayload":"{mac}","scannedDocument":{{"scanId":"scan-1"}},"scanned\u0044ocument":{{}}}}"#
        ),
    ] {
        assert_eq!(c.verify(forged.as_bytes(), 0), Err(Denial::PayloadDuplicateKey), "{forged}");
    }
}

#[test]
fn bound_to_independent_vector() {
    // HMAC-SHA256(key "key", "The quick brown fox jumps over the lazy dog"),
    // the well-known example value.
    let c = check(r#"{"pointer":"/p","secrets":[{"value":"key"}],"bound_to":"/m"}"#);
    let body = br#"{"m":"The quick brown fox jumps over the lazy dog",
            "p":"f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"}"#;
    assert_eq!(c.verify(body, 0), Ok("0"));
    assert_eq!(
        bound_payload(b"key", "The quick brown fox jumps over the lazy dog"),
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    );
}

#[test]
fn pointer_syntax() {
    let body = br#"{"a/b":{"m~n":"v1"},"list":["x",{"k":"v2"}],"":{"":"v3"},"01":"v4","-":"v5"}"#;
    for (pointer, want) in [
        ("/a~1b/m~0n", Ok("0")),
        ("/list/1/k", Ok("0")),
        ("//", Ok("0")),
        ("/01", Ok("0")),
        ("/-", Ok("0")),
        ("/list/01/k", Err(Denial::PayloadMissing)),
        ("/list/-", Err(Denial::PayloadMissing)),
        ("/list/2", Err(Denial::PayloadMissing)),
        ("/list/k", Err(Denial::PayloadMissing)),
        ("/list/99999999999999999999999", Err(Denial::PayloadMissing)),
        ("/a~1b/m~0n/deeper", Err(Denial::PayloadMissing)),
    ] {
        let secret = match pointer {
            "/list/1/k" => "v2",
            "//" => "v3",
            "/01" => "v4",
            "/-" => "v5",
            _ => "v1",
        };
        let c = check(&format!(r#"{{"pointer":"{pointer}","secrets":[{{"value":"{secret}"}}]}}"#));
        assert_eq!(c.verify(body, 0), want, "{pointer}");
    }
    // The empty pointer is the whole document.
    let whole = check(r#"{"pointer":"","secrets":[{"value":"v"}]}"#);
    assert_eq!(whole.verify(br#" "v" "#, 0), Ok("0"));
    assert_eq!(whole.verify(br#"{"v":"v"}"#, 0), Err(Denial::PayloadMissing));
}

#[test]
fn config_errors_name_the_field() {
    let table = [
        (
            r#"{"pointer":"developerPayload","secrets":[{"value":"k"}]}"#,
            "dp.pointer: \"developerPayload\" is not a JSON pointer (RFC 6901): it must be empty or start with '/'",
        ),
        (
            r#"{"pointer":"/a~2","secrets":[{"value":"k"}]}"#,
            "dp.pointer: \"/a~2\" is not a JSON pointer (RFC 6901): '~' must be followed by 0 or 1",
        ),
        (
            r#"{"pointer":"/a~","secrets":[{"value":"k"}]}"#,
            "dp.pointer: \"/a~\" is not a JSON pointer (RFC 6901): '~' must be followed by 0 or 1",
        ),
        (r#"{"secrets":[{"value":"k"}],"bound_to":"scanId"}"#, "dp.bound_to: \"scanId\" is not a JSON pointer"),
        (
            r#"{"secrets":[{"value":"k"}],"bound_to":"/developerPayload"}"#,
            "dp.bound_to: \"/developerPayload\" overlaps `pointer` \"/developerPayload\"",
        ),
        (
            r#"{"secrets":[{"value":"k"}],"bound_to":"/developerPayload/x"}"#,
            "dp.bound_to: \"/developerPayload/x\" overlaps `pointer`",
        ),
        (r#"{"secrets":[{"value":"k"}],"bound_to":""}"#, "dp.bound_to: \"\" overlaps `pointer`"),
        (r#"{"secrets":[]}"#, "dp.secrets: at least one secret is required"),
        (
            r#"{"secrets":[{"env":"COPYLEAKS_DEVELOPER_PAYLOAD"}]}"#,
            "dp.secrets[0].env: environment variable COPYLEAKS_DEVELOPER_PAYLOAD is unset",
        ),
    ];
    for (json, want) in table {
        let got = compile_err(json);
        assert!(got.starts_with(want), "{json}\n got {got:?}\nwant {want:?}");
    }
    let deep = format!(r#"{{"pointer":"{}","secrets":[{{"value":"k"}}]}}"#, "/a".repeat(MAX_DEPTH + 1));
    assert!(compile_err(&deep).contains("deeper than 127 levels"));
    // Unknown fields are refused by the wire type.
    assert!(crate::wire::read_str::<PayloadConfig>(r#"{"secrets":[],"pointr":"/x"}"#).is_err());
    // The default pointer.
    let c = check(r#"{"secrets":[{"value":"k"}]}"#);
    assert_eq!(c.pointer.text, DEFAULT_POINTER);
}

#[test]
fn errors_never_print_secrets() {
    let c = check(PLAIN);
    let printed = format!("{c:?}");
    assert!(!printed.contains("dp-s3cr3t") && !printed.contains("old-payload"), "{printed}");
    let b = check(BOUND);
    assert!(!format!("{b:?}").contains("binding-key"));
}

fn nested(depth: usize, inner: &str) -> String {
    let mut s = String::new();
    for _ in 0..depth {
        s.push_str(r#"{"a":"#);
    }
    s.push_str(inner);
    s.push_str(&"}".repeat(depth));
    s
}

#[test]
fn nesting_depth_is_bounded() {
    // The payload inside 127 objects: the string is the 128th level, which holds no
    // container.
    let pointer = "/a".repeat(MAX_DEPTH);
    let c = check(&format!(r#"{{"pointer":"{pointer}","secrets":[{{"value":"v"}}]}}"#));
    assert_eq!(c.verify(nested(MAX_DEPTH, r#""v""#).as_bytes(), 0), Ok("0"));
    assert_eq!(c.verify(nested(MAX_DEPTH + 1, r#""v""#).as_bytes(), 0), Err(Denial::PayloadNotJson));
    // 127 containers are fine, the 128th is refused, wherever it is.
    let top = check(r#"{"pointer":"/p","secrets":[{"value":"v"}]}"#);
    let ok = format!(r#"{{"p":"v","x":{}}}"#, nested(MAX_DEPTH - 2, "[]"));
    assert_eq!(top.verify(ok.as_bytes(), 0), Ok("0"));
    let too_deep = format!(r#"{{"p":"v","x":{}}}"#, nested(MAX_DEPTH - 1, "[]"));
    assert_eq!(top.verify(too_deep.as_bytes(), 0), Err(Denial::PayloadNotJson));
    // A hostile body cannot exhaust the stack.
    let brackets = "[".repeat(500_000);
    assert_eq!(top.verify(brackets.as_bytes(), 0), Err(Denial::PayloadNotJson));
    let balanced = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(top.verify(balanced.as_bytes(), 0), Err(Denial::PayloadNotJson));
}

#[test]
fn one_mebibyte_body() {
    let c = check(BOUND);
    let mac = bound_payload(b"binding-key", "scan-big");
    let mut internet = String::new();
    let mut i = 0;
    while internet.len() < 1024 * 1024 - 600 {
        internet.push_str(&format!(
            r#"{{"id":"{i:08x}","title":"Result \"{i}\" \u00e9\ud83d\ude00","matchedWords":{i},"score":{i}.5e-1,"ok":true,"x":null}},"#
        ));
        i += 1;
    }
    internet.pop();
    let body = format!(
        r#"{{"status":0,"results":{{"internet":[{internet}]}},"scannedDocument":{{"scanId":"scan-big"}},"developerPayload":"{mac}"}}"#
    );
    assert!(body.len() <= 1024 * 1024, "{}", body.len());
    assert!(body.len() > 1024 * 1024 - 1024, "{}", body.len());
    let started = std::time::Instant::now();
    assert_eq!(c.verify(body.as_bytes(), 0), Ok("k1"));
    // Generous even for an unoptimized test build; it guards against a quadratic scan.
    assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    // A large object on the path with many members.
    let mut wide = String::from("{");
    for i in 0..60_000 {
        wide.push_str(&format!(r#""k{i}":1,"#));
    }
    wide.push_str(r#""p":"v"}"#);
    let top = check(r#"{"pointer":"/p","secrets":[{"value":"v"}]}"#);
    assert_eq!(top.verify(wide.as_bytes(), 0), Ok("0"));
}

#[test]
fn strict_json_grammar() {
    let c = check(r#"{"pointer":"/p","secrets":[{"value":"v"}]}"#);
    let accepted = [
        r#"{"p":"v"}"#,
        r#"{"p":"v","n":[0,-0,1.5,-1e10,2E+3,3e-2,0.0,123456789012345678901234567890]}"#,
        r#"{"p":"v","s":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00","e":{},"a":[],"l":[true,false,null]}"#,
        "{\"p\":\"v\",\"raw\":\"é😀\u{7f}\"}",
        "{ \"p\" :\t\"v\" \r\n}",
    ];
    for body in accepted {
        assert_eq!(c.verify(body.as_bytes(), 0), Ok("0"), "{body}");
    }
    let refused = [
        r#"{"p":"v","n":01}"#,
        r#"{"p":"v","n":1.}"#,
        r#"{"p":"v","n":.5}"#,
        r#"{"p":"v","n":+1}"#,
        r#"{"p":"v","n":1e}"#,
        r#"{"p":"v","n":-}"#,
        r#"{"p":"v","n":NaN}"#,
        r#"{"p":"v","n":Infinity}"#,
        r#"{"p":"v","n":0x10}"#,
        r#"{"p":"v","s":'x'}"#,
        r#"{'p':"v"}"#,
        r#"{p:"v"}"#,
        r#"{"p":"v",}"#,
        r#"{"p":"v","a":[1,]}"#,
        r#"{"p":"v","a":[,1]}"#,
        r#"{"p":"v" "q":1}"#,
        r#"{"p":"v","q"}"#,
        r#"{"p":"v","q":}"#,
        r#"{"p":"v"]"#,
        r#"{"p":"v","a":[}"#,
        r#"{"p":"v"} // comment"#,
        r#"/* c */ {"p":"v"}"#,
        r#"{"p":"v","t":tru}"#,
        r#"{"p":"v","t":True}"#,
        r#"{"p":"v","t":nulls}"#,
        r#"{"p":"v","s":"\x41"}"#,
        r#"{"p":"v","s":"\u12"}"#,
        r#"{"p":"v","s":"\u12G4"}"#,
        r#"{"p":"v","s":"\uD800"}"#,
        r#"{"p":"v","s":"\uDC00"}"#,
        r#"{"p":"v","s":"\uD800\u0041"}"#,
        r#"{"p":"v","s":"\uD800x"}"#,
        r#"{"p":"v\uDBFF"}"#,
        "{\"p\":\"v\",\"s\":\"a\tb\"}",
        "{\"p\":\"v\",\"s\":\"a\nb\"}",
        "{\"p\":\"v\",\"s\":\"\u{0}\"}",
        "{\"p\":\"v\"}\u{0}",
        "{\"p\":\"v\"}\u{a0}",
        "\u{feff}{\"p\":\"v\"}",
    ];
    for body in refused {
        assert_eq!(c.verify(body.as_bytes(), 0), Err(Denial::PayloadNotJson), "{body}");
    }
}

#[test]
fn no_panic_on_garbage() {
    let plain = check(r#"{"pointer":"/a/0/b","secrets":[{"value":"v"}]}"#);
    let bound = check(BOUND);
    let mut table: Vec<Vec<u8>> = [
        "",
        "{",
        "}",
        "[",
        "]",
        "\"",
        "\\",
        "{\"",
        "{\"a\"",
        "{\"a\":",
        "{\"a\":[",
        "[\"\\",
        "[\"\\u",
        "[\"\\uD83D\\",
        "[\"\\uD83D\\u",
        "[-",
        "[1e+",
        "[1.",
        "nul",
        "t",
        ",",
        ":",
        "{\"a\":[{\"b\":\"v\"}",
        "{\"a\":[{\"b\":\"v\"}]",
        "{\"a\":[{\"b\":\"v\"}]}}",
        "[\"\u{10ffff}\"]",
        "{\"\":\"\"}",
        "0",
        "-0",
        "1e999999999",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    table.extend([
        vec![0xff],
        vec![0xc0, 0x80],
        vec![0xed, 0xa0, 0x80],
        vec![b'"', 0xf4, 0x90, 0x80, 0x80, b'"'],
        b"{\"a\":\"\xe2\x82\"}".to_vec(),
        vec![0; 64],
    ]);
    // Every prefix of a valid body.
    let valid = br#"{"a":[{"b":"v","c":[1.5e-3,true,null,"\u00e9\ud83d\ude00"]}],"z":{}}"#;
    for n in 0..valid.len() {
        table.push(valid[..n].to_vec());
    }
    for body in &table {
        assert!(plain.verify(body, 0).is_err(), "{}", String::from_utf8_lossy(body));
        assert!(bound.verify(body, 0).is_err());
    }
    assert_eq!(plain.verify(valid, 0), Ok("0"));
}

/// Whether the walk takes `body` for JSON: anything but `PayloadNotJson` (the
/// pointer selects nothing the mutations below can spell, so no duplicate either).
fn walk_accepts(c: &PayloadCheck, body: &[u8]) -> bool {
    c.verify(body, 0) != Err(Denial::PayloadNotJson)
}

fn serde_json_accepts(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok()
}

/// One definition of JSON: the walk accepts exactly the documents serde_json reads
/// as a `Value`, on tricky documents and on many random mutations of them.
#[test]
fn accepts_exactly_what_serde_json_accepts() {
    let c = check(r#"{"pointer":"/zz/0","secrets":[{"value":"v"}]}"#);
    let deep = |open: &str, close: &str, n: usize| format!("{}{}", open.repeat(n), close.repeat(n));
    let mut docs: Vec<Vec<u8>> = [
        r#"{"a":[1,-0,0.5,-1e10,2E+3,3e-2,1e-400,123456789012345678901234567890,18446744073709551616]}"#,
        r#"{"s":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00\u0000","e":{},"a":[],"l":[true,false,null]}"#,
        "{\"raw\":\"é😀\u{7f}\"}",
        " \t\r\n{ \"a\" :\t[ ] }\n ",
        r#"[1e308,-1.7976931348623157e308,1e309,-1e400,1.8e308]"#,
        r#"["\uD800","\uDC00","\uD800\uDC00","\uDBFF\uDFFF","\uD800\u0041","\ud83d\ude00"]"#,
        r#"["\u12","\u12G4","\x41","\'"]"#,
        "\u{feff}{}",
        "{}\u{0}",
        "{} {}",
        "{}\u{a0}",
        "[01, 1., .5, +1, -, 1e, 0x10, NaN, Infinity]",
        r#"{"a":1,}"#,
        r#"{"a":1,"a":2}"#,
        r#""top-level string""#,
        "123",
        "null",
        "",
        "\"a\tb\"",
        "\"a\u{1f}b\"",
        "[\"\u{10ffff}\"]",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    for n in [126, 127, 128, 129] {
        docs.push(deep("[", "]", n).into_bytes());
        docs.push(nested(n, "1").into_bytes());
    }
    docs.push(b"[\"\xc3\x28\"]".to_vec());
    docs.push(b"[\"\xed\xa0\x80\"]".to_vec());
    docs.push(b"[\"\xf4\x90\x80\x80\"]".to_vec());
    docs.push(b"{\"\xff\":1}".to_vec());
    for doc in &docs {
        assert_eq!(walk_accepts(&c, doc), serde_json_accepts(doc), "{}", String::from_utf8_lossy(doc));
    }
    // Mutations: insert, delete or replace bytes that matter to a JSON reader.
    const BYTES: &[u8] = b"{}[]\",:\\/u0123456789abcdefABCDEF.eE+-truefalsn \t\r\n\x00\x1f\x7f\xc3\xa9\xed\xa0\xff";
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut agreed = [0usize; 2];
    for round in 0..20_000 {
        let mut doc = docs[round % docs.len()].clone();
        for _ in 0..1 + next() % 3 {
            let at = if doc.is_empty() { 0 } else { (next() as usize) % (doc.len() + 1) };
            let byte = BYTES[(next() as usize) % BYTES.len()];
            match next() % 3 {
                0 => doc.insert(at, byte),
                1 if at < doc.len() => {
                    doc.remove(at);
                }
                _ if at < doc.len() => doc[at] = byte,
                _ => doc.push(byte),
            }
        }
        let want = serde_json_accepts(&doc);
        assert_eq!(walk_accepts(&c, &doc), want, "{:?}", String::from_utf8_lossy(&doc));
        agreed[usize::from(want)] += 1;
    }
    // Both verdicts were exercised.
    assert!(agreed[0] > 1000 && agreed[1] > 1000, "{agreed:?}");
}
