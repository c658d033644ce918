//! The routing rules that the routing tests and the routing benchmark share: three local
//! domains (one of them IDN), the default domain, a fallback, one local-part alias and one
//! full-address alias, and the installation id `test-install-1` (loop marker
//! `mailpull-id=test-install-1`).
//!
//! Included with `#[path]` by `tests/it/routing.rs` (the corpus and property tests),
//! `benches/route.rs` and the unit tests of `src/routing/decide.rs`; the including module has
//! `Rules` (`mailpull_worker::routing::Rules` or `crate::routing::Rules`) in scope.

use super::Rules;

/// The rules every corpus case and routing test starts from.
pub fn test_rules() -> Rules {
    Rules {
        local_domains: vec![
            "mydomain.com".into(),
            "mydomain.de".into(),
            "bücher.example".into(),
        ],
        default_domain: "mydomain.com".into(),
        fallback: Some("postmaster".into()),
        aliases: [
            ("sales".to_string(), "alice".to_string()),
            ("info@mydomain.de".to_string(), "bob".to_string()),
        ]
        .into(),
        installation_id: "test-install-1".into(),
        ..Rules::default()
    }
}
