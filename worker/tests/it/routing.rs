//! Integration tests of multi-drop routing: the golden corpus under `tests/corpus/routing/` and
//! property tests of `decide`'s guarantees (no panic, never loses a message when a fallback
//! exists, never routes outside the local domains).

use std::path::{Path, PathBuf};

use mailpull_worker::routing::{Decision, Router, Rules, decide, loop_marker};
use proptest::prelude::*;
use serde::Deserialize;

/// The rules every corpus case uses unless its JSON overrides fields (shared with the unit
/// tests and the benchmark).
#[path = "../common/rules.rs"]
mod rules;
use rules::test_rules;

const LOCAL_ASCII_DOMAINS: [&str; 3] = ["mydomain.com", "mydomain.de", "xn--bcher-kva.example"];
const FALLBACK: &str = "postmaster@mydomain.com";

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/routing")
}

#[derive(Debug, Deserialize, PartialEq, Eq)]
struct ExpectedRecipient {
    address: String,
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    #[serde(default)]
    #[allow(dead_code)]
    comment: Option<String>,
    recipients: Vec<ExpectedRecipient>,
    fallback: bool,
    #[serde(default)]
    reason_contains: Option<String>,
    /// Fields of [`Rules`] that replace the test rules' values for this case.
    #[serde(default)]
    rules: Option<serde_json::Map<String, serde_json::Value>>,
}

fn rules_with(overrides: Option<&serde_json::Map<String, serde_json::Value>>) -> Rules {
    let Some(overrides) = overrides else {
        return test_rules();
    };
    let mut value = serde_json::to_value(test_rules()).expect("rules serialize");
    let object = value.as_object_mut().expect("rules are an object");
    for (key, v) in overrides {
        assert!(object.contains_key(key), "unknown rules field {key:?}");
        object.insert(key.clone(), v.clone());
    }
    serde_json::from_value(value).expect("overridden rules deserialize")
}

/// Every corpus message (`NNN-name.eml`) with its expectation (`NNN-name.json`).
fn corpus() -> Vec<(String, Vec<u8>, Expected)> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|eml| {
            let name = eml
                .file_name()
                .and_then(|n| n.to_str())
                .expect("utf-8 file name")
                .to_string();
            let json = eml.with_extension("json");
            let message = std::fs::read(&eml).expect("read eml");
            let expected: Expected = serde_json::from_slice(
                &std::fs::read(&json).unwrap_or_else(|e| panic!("{}: {e}", json.display())),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", json.display()));
            (name, message, expected)
        })
        .collect()
}

fn mismatch(decision: &Decision, expected: &Expected) -> Option<String> {
    let got: Vec<(&str, &str)> = decision
        .recipients
        .iter()
        .map(|r| (r.address.as_str(), r.source.as_str()))
        .collect();
    let want: Vec<(&str, &str)> = expected
        .recipients
        .iter()
        .map(|r| (r.address.as_str(), r.source.as_str()))
        .collect();
    let mut problems = Vec::new();
    if got != want {
        problems.push(format!("recipients: got {got:?}, want {want:?}"));
    }
    if decision.fallback != expected.fallback {
        problems.push(format!(
            "fallback: got {}, want {}",
            decision.fallback, expected.fallback
        ));
    }
    if let Some(needle) = &expected.reason_contains
        && !decision.reason.contains(needle.as_str())
    {
        problems.push(format!("reason lacks {needle:?}"));
    }
    (!problems.is_empty())
        .then(|| format!("{}\n    reason: {}", problems.join("; "), decision.reason))
}

#[test]
fn golden_corpus() {
    let cases = corpus();
    assert!(
        cases.len() >= 60,
        "corpus has only {} messages",
        cases.len()
    );
    let mut failures = Vec::new();
    for (name, message, expected) in &cases {
        let rules = rules_with(expected.rules.as_ref());
        let decision = decide(message, &rules);
        if let Some(problem) = mismatch(&decision, expected) {
            failures.push(format!("{name}: {problem}"));
        }
        // The prepared router must agree with the one-shot function.
        assert_eq!(Router::new(&rules).decide(message), decision, "{name}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_corpus_message_has_its_expectation_and_the_reverse() {
    let dir = corpus_dir();
    for entry in std::fs::read_dir(&dir).expect("corpus dir") {
        let path = entry.expect("dir entry").path();
        let twin = match path.extension().and_then(|e| e.to_str()) {
            Some("eml") => path.with_extension("json"),
            Some("json") => path.with_extension("eml"),
            _ => panic!("unexpected file in corpus: {}", path.display()),
        };
        assert!(
            twin.exists(),
            "{} has no {}",
            path.display(),
            twin.display()
        );
    }
}

#[test]
fn decision_serializes_to_json() {
    let d = decide(b"X-Envelope-To: sales@mydomain.de\r\n\r\n", &test_rules());
    let json = serde_json::to_value(&d).expect("serialize");
    assert_eq!(
        json,
        serde_json::json!({
            "recipients": [{"address": "alice@mydomain.com", "source": "X-Envelope-To"}],
            "fallback": false,
            "reason": "1 recipient from X-Envelope-To, 1 through an alias"
        })
    );
}

#[test]
fn loop_marker_written_by_the_worker_is_detected() {
    let rules = test_rules();
    let trace = format!(
        "Received: from pop.isp.example by host.local ({}) with POP3 id 1;\r\n\tTue, 12 Mar 2024 10:00:00 +0100\r\n",
        loop_marker(&rules.installation_id)
    );
    let message = format!("{trace}X-Envelope-To: carol@mydomain.com\r\n\r\nbody");
    let d = decide(message.as_bytes(), &rules);
    assert!(d.fallback);
    assert_eq!(d.recipients.len(), 1);
    assert_eq!(d.recipients[0].address, FALLBACK);
    assert!(d.reason.contains("mail loop"), "{}", d.reason);
}

/// The guarantees that hold for every input under the test rules.
fn check_invariants(message: &[u8], rules: &Rules) -> Result<(), TestCaseError> {
    let d = decide(message, rules);
    prop_assert!(!d.reason.is_empty());
    if rules.fallback.is_some() {
        prop_assert!(!d.recipients.is_empty(), "lost message: {}", d.reason);
    }
    for r in &d.recipients {
        prop_assert!(
            !r.address
                .chars()
                .any(|c| c.is_control() || c == '<' || c == '>'),
            "unsafe RCPT {:?}",
            r.address
        );
        if r.source == "fallback" {
            prop_assert!(d.fallback);
            prop_assert_eq!(r.address.as_str(), FALLBACK);
        } else {
            prop_assert!(!d.fallback);
            let domain = r.address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
            prop_assert!(
                LOCAL_ASCII_DOMAINS.contains(&domain),
                "recipient {:?} outside the local domains",
                r.address
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    for r in &d.recipients {
        prop_assert!(seen.insert(&r.address), "duplicate {:?}", r.address);
    }
    Ok(())
}

/// Header names the router looks at, plus some it must ignore.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("To".to_string()),
        Just("Cc".to_string()),
        Just("X-Envelope-To".to_string()),
        Just("Envelope-To".to_string()),
        Just("X-Original-To".to_string()),
        Just("Delivered-To".to_string()),
        Just("X-Rcpt-To".to_string()),
        Just("Received".to_string()),
        Just("Resent-To".to_string()),
        Just("From".to_string()),
        Just("List-Id".to_string()),
        "[A-Za-z-]{1,12}",
    ]
}

/// Address-shaped text: local parts, domains (local and foreign, IDN, literals), display names,
/// brackets, quotes, comments, groups and separators in random combinations.
fn address_text() -> impl Strategy<Value = String> {
    let local = prop_oneof![
        "[a-zA-Z0-9._+-]{0,10}",
        Just("\"john doe\"".to_string()),
        Just("\"a\\\"b\"".to_string()),
        Just("sales".to_string()),
        Just("info".to_string()),
        Just("SALES+x".to_string()),
    ];
    let domain = prop_oneof![
        Just("mydomain.com".to_string()),
        Just("MyDomain.DE".to_string()),
        Just("bücher.example".to_string()),
        Just("xn--bcher-kva.example".to_string()),
        Just("other.example".to_string()),
        Just("[192.0.2.1]".to_string()),
        "[a-z.]{0,12}",
    ];
    let piece = prop_oneof![
        (local, domain).prop_map(|(l, d)| format!("{l}@{d}")),
        Just("<".to_string()),
        Just(">".to_string()),
        Just(",".to_string()),
        Just(";".to_string()),
        Just(":".to_string()),
        Just("\"".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just(" for ".to_string()),
        Just("=?UTF-8?B?SsO8cmdlbg==?=".to_string()),
        Just("mailpull-id=test-install-1".to_string()),
        Just("\r\n ".to_string()),
        "[ -~]{0,8}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|p| p.join(" "))
}

fn real_message() -> impl Strategy<Value = Vec<u8>> {
    let messages: Vec<Vec<u8>> = corpus().into_iter().map(|(_, m, _)| m).collect();
    prop::sample::select(messages)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        check_invariants(&bytes, &test_rules())?;
        let mut no_fallback = test_rules();
        no_fallback.fallback = None;
        let _ = decide(&bytes, &no_fallback);
    }

    #[test]
    fn never_panics_on_structured_headers(
        headers in prop::collection::vec((header_name(), address_text()), 0..12),
        body in "[ -~\r\n]{0,64}",
    ) {
        let mut message = String::new();
        for (name, value) in &headers {
            message.push_str(&format!("{name}: {value}\r\n"));
        }
        message.push_str("\r\n");
        message.push_str(&body);
        check_invariants(message.as_bytes(), &test_rules())?;
    }

    #[test]
    fn arbitrary_lines_glued_to_real_messages(
        message in real_message(),
        lines in prop::collection::vec(
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..200),
                (header_name(), address_text()).prop_map(|(n, v)| format!("{n}: {v}").into_bytes()),
            ],
            1..6,
        ),
        at in any::<prop::sample::Index>(),
    ) {
        // Insert the lines at a line boundary of the real message (possibly in its body).
        let boundaries: Vec<usize> = std::iter::once(0)
            .chain(message.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1))
            .collect();
        let pos = boundaries[at.index(boundaries.len())];
        let mut glued = message[..pos].to_vec();
        for line in &lines {
            glued.extend_from_slice(line);
            glued.extend_from_slice(b"\r\n");
        }
        glued.extend_from_slice(&message[pos..]);
        check_invariants(&glued, &test_rules())?;
    }

    #[test]
    fn truncated_real_messages(message in real_message(), cut in any::<prop::sample::Index>()) {
        let end = cut.index(message.len() + 1);
        check_invariants(&message[..end], &test_rules())?;
    }
}

/// Large hostile inputs must finish quickly (a quadratic parser would take minutes here) and
/// still keep the guarantees.
#[test]
fn adversarial_large_inputs_finish() {
    let mb = 1 << 20;
    let mut inputs: Vec<Vec<u8>> = vec![
        [b"To: ".as_slice(), &vec![b'<'; mb]].concat(),
        [b"To: ".as_slice(), &vec![b'('; mb]].concat(),
        [b"To: ".as_slice(), &vec![b'"'; mb]].concat(),
        [b"To: ".as_slice(), &b"a@".repeat(mb / 2)].concat(),
        [b"To: ".as_slice(), &b"a.".repeat(mb / 2), b"@mydomain.com"].concat(),
        [b"To: ".as_slice(), &b"<a@mydomain.com> ".repeat(mb / 17)].concat(),
        [b"Received: ".as_slice(), &b"for <".repeat(mb / 5)].concat(),
        [
            b"Received: ".as_slice(),
            &b"mailpull-id=test-install-1x".repeat(mb / 27),
        ]
        .concat(),
        b"X-Envelope-To: a@mydomain.com\r\n".repeat(mb / 32),
        b"Received: from a by b; date\r\n".repeat(mb / 30),
        vec![b'\r'; mb],
        vec![0u8; mb],
    ];
    // Many distinct local recipients: the duplicate check must not be quadratic either.
    let mut many = b"To: ".to_vec();
    for i in 0..50_000 {
        many.extend_from_slice(format!("u{i}@mydomain.com, ").as_bytes());
    }
    inputs.push(many);
    let rules = test_rules();
    for (i, input) in inputs.iter().enumerate() {
        let started = std::time::Instant::now();
        let d = decide(input, &rules);
        let took = started.elapsed();
        assert!(!d.recipients.is_empty(), "input {i}: {}", d.reason);
        assert!(took.as_secs() < 10, "input {i} took {took:?}");
    }
}
