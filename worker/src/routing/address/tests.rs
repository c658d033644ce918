//! Tests of address-list parsing and normalisation.

use super::*;

fn specs(v: &str) -> Vec<String> {
    parse_address_list(v.as_bytes())
        .iter()
        .map(Mailbox::addr_spec)
        .collect()
}

#[test]
fn bare_bracketed_and_listed_addresses() {
    assert_eq!(specs("alice@example.com"), ["alice@example.com"]);
    assert_eq!(specs(" <alice@example.com> "), ["alice@example.com"]);
    assert_eq!(
        specs("a@x.example, <b@y.example>,c@z.example"),
        ["a@x.example", "b@y.example", "c@z.example"]
    );
    assert_eq!(
        specs("a@x.example b@y.example; c@z.example"),
        ["a@x.example", "b@y.example", "c@z.example"]
    );
}

#[test]
fn display_names_quoted_with_specials_do_not_leak_addresses() {
    let list = parse_address_list(
        br#""Doe, John <evil@bad.example>" <john@example.com>, Ann <ann@example.com>"#,
    );
    let got: Vec<_> = list.iter().map(Mailbox::addr_spec).collect();
    assert_eq!(got, ["john@example.com", "ann@example.com"]);
    assert_eq!(
        list[0].display_name().as_deref(),
        Some("Doe, John <evil@bad.example>")
    );
    assert_eq!(list[1].display_name().as_deref(), Some("Ann"));
}

#[test]
fn encoded_word_display_names_are_decoded() {
    let list = parse_address_list(
        b"=?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <juergen@example.com>, =?ISO-8859-1?Q?Andr=E9?= <andre@example.com>",
    );
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].display_name().as_deref(), Some("Jürgen Müller"));
    assert_eq!(list[1].display_name().as_deref(), Some("André"));
    assert_eq!(list[1].addr_spec(), "andre@example.com");
}

#[test]
fn raw_8bit_display_name() {
    let list = parse_address_list(b"J\xc3\xbcrgen <j@example.com>, Andr\xe9 <a@example.com>");
    assert_eq!(
        list.iter().map(Mailbox::addr_spec).collect::<Vec<_>>(),
        ["j@example.com", "a@example.com"]
    );
}

#[test]
fn groups() {
    assert!(specs("undisclosed-recipients:;").is_empty());
    let list = parse_address_list(b"team: a@x.example, Bee <b@y.example>; c@z.example");
    let got: Vec<_> = list.iter().map(|m| (m.addr_spec(), m.group())).collect();
    assert_eq!(
        got,
        [
            ("a@x.example".to_string(), Some("team".to_string())),
            ("b@y.example".to_string(), Some("team".to_string())),
            ("c@z.example".to_string(), None),
        ]
    );
}

#[test]
fn comments_anywhere() {
    assert_eq!(
        specs("alice(the boss)@(x)example.com (Alice (nested) Smith), (c) <b@example.com>"),
        ["alice@example.com", "b@example.com"]
    );
    assert_eq!(specs("(unclosed <x@y.example>"), Vec::<String>::new());
}

#[test]
fn quoted_local_parts() {
    let list =
        parse_address_list(br#""john doe"@example.com, "a\"b"@example.com, "x".y@example.com"#);
    let got: Vec<_> = list.iter().map(|m| m.local_part.to_string()).collect();
    assert_eq!(got, ["john doe", "a\"b", "x.y"]);
}

#[test]
fn sloppy_input() {
    assert_eq!(specs("Alice alice@example.com"), ["alice@example.com"]);
    assert_eq!(
        specs("<@relay.example,@r2.example:alice@example.com>"),
        ["alice@example.com"]
    );
    assert_eq!(specs("alice@example.com."), ["alice@example.com"]);
    assert_eq!(specs("alice @ example . com"), ["alice@example.com"]);
    assert_eq!(specs("<alice@example.com"), ["alice@example.com"]);
    assert_eq!(specs("\"unclosed@example.com"), Vec::<String>::new());
    assert_eq!(specs("a@b@c.example"), ["a@b"]);
    assert_eq!(
        specs("<>, alice, @, @example.com, a@"),
        Vec::<String>::new()
    );
    assert_eq!(specs("mailto:alice@example.com"), ["alice@example.com"]);
    assert_eq!(specs("a@[192.0.2.1]"), ["a@[192.0.2.1]"]);
    assert_eq!(
        specs("\r\n\t<alice@example.com>\r\n"),
        ["alice@example.com"]
    );
}

#[test]
fn domains_normalise_to_lowercase_ascii() {
    assert_eq!(
        normalize_domain("MyDomain.COM.").as_deref(),
        Some("mydomain.com")
    );
    assert_eq!(
        normalize_domain("bücher.example").as_deref(),
        Some("xn--bcher-kva.example")
    );
    assert_eq!(
        normalize_domain("BÜCHER.example").as_deref(),
        Some("xn--bcher-kva.example")
    );
    assert_eq!(
        normalize_domain("XN--BCHER-KVA.example").as_deref(),
        Some("xn--bcher-kva.example")
    );
    assert_eq!(normalize_domain("[192.0.2.1]"), None);
    assert_eq!(normalize_domain("a..b"), None);
    assert_eq!(normalize_domain("bad domain"), None);
    assert_eq!(normalize_domain(""), None);
}

#[test]
fn local_parts_normalise() {
    assert_eq!(
        normalize_local("Alice+Tag", Some('+')).as_deref(),
        Some("alice")
    );
    assert_eq!(
        normalize_local("alice+tag", None).as_deref(),
        Some("alice+tag")
    );
    assert_eq!(normalize_local("+tag", Some('+')).as_deref(), Some("+tag"));
    assert_eq!(
        normalize_local("ÄRGER", Some('+')).as_deref(),
        Some("ärger")
    );
    assert_eq!(normalize_local("a\r\nb", None), None);
    assert_eq!(normalize_local("a\u{FFFD}", None), None);
    assert_eq!(normalize_local(&"x".repeat(65), None), None);
    assert_eq!(normalize_local("", None), None);
}

#[test]
fn rcpt_form_quotes_only_when_needed() {
    let a = |l: &str| {
        NormalAddress {
            local: l.into(),
            domain: "example.com".into(),
        }
        .to_rcpt()
    };
    assert_eq!(a("alice.smith"), "alice.smith@example.com");
    assert_eq!(a("john doe"), "\"john doe\"@example.com");
    assert_eq!(a("a\"b"), "\"a\\\"b\"@example.com");
    assert_eq!(a(".alice"), "\".alice\"@example.com");
    assert_eq!(a("jürgen"), "jürgen@example.com");
}

#[test]
fn configured_addresses() {
    let p = |t: &str| parse_configured_address(t, "MyDomain.com").map(|a| a.to_rcpt());
    assert_eq!(p("alice").as_deref(), Some("alice@mydomain.com"));
    assert_eq!(p(" Bob@MyDomain.DE ").as_deref(), Some("bob@mydomain.de"));
    assert_eq!(p("x+y@mydomain.de").as_deref(), Some("x+y@mydomain.de"));
    assert_eq!(
        p("\"john doe\"").as_deref(),
        Some("\"john doe\"@mydomain.com")
    );
    assert_eq!(p(""), None);
    assert_eq!(p("a@x.example, b@y.example"), None);
    assert_eq!(p("a\nb"), None);
}
