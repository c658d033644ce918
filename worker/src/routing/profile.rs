//! A profile's routing, built from its checked configuration: the [`Rules`] of a multi-drop
//! profile ([`rules_for`]), and the [`Route`] every message of the profile takes — one local
//! mailbox (single-drop) or the router's decision (multi-drop). `mailpull-worker route`,
//! the configuration check and the poll all decide through here.

use mailpull_shared::config::{self, Distribute, Profile};

use super::{Decision, Recipient, Router, Rules};

/// The routing rules of a multi-drop profile.
pub fn rules_for(profile: &Profile, distribute: &Distribute, installation_id: &str) -> Rules {
    Rules {
        local_domains: distribute.local_domains.clone(),
        default_domain: profile.local.domain.clone(),
        fallback: Some(distribute.fallback.clone()),
        aliases: distribute.aliases.clone(),
        envelope_headers: distribute.envelope_headers.clone(),
        visible_headers: distribute.visible_headers.clone(),
        received_trusted: distribute.received_trusted,
        recipient_delimiter: distribute.recipient_delimiter,
        max_received: distribute.max_received,
        installation_id: installation_id.to_string(),
    }
}

/// How a profile's messages find their recipients.
pub enum Route {
    /// Everything to one local mailbox.
    Single(String),
    /// Multi-drop: the router decides; `fallback` is the qualified fallback address.
    Multi {
        router: Box<Router>,
        fallback: String,
    },
}

impl Route {
    pub fn for_profile(profile: &Profile, installation_id: &str) -> Route {
        match &profile.distribute {
            None => Route::Single(profile.local.address()),
            Some(rules) => {
                let rules = rules_for(profile, rules, installation_id);
                let fallback = rules
                    .fallback
                    .as_deref()
                    .map(|user| config::qualify(user, &profile.local.domain))
                    .unwrap_or_else(|| profile.local.address());
                Route::Multi {
                    router: Box::new(Router::new(&rules)),
                    fallback,
                }
            }
        }
    }

    /// The recipients of `message` along this route, with the reason.
    pub fn decide(&self, message: &[u8]) -> Decision {
        match self {
            Route::Single(address) => Decision {
                recipients: vec![Recipient {
                    address: address.clone(),
                    source: "single-drop".into(),
                }],
                fallback: false,
                reason: format!("single-drop profile: everything goes to {address}"),
            },
            Route::Multi { router, .. } => router.decide(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(distribute: &str) -> Profile {
        let text = format!(
            "[[profile]]\nname = \"p\"\n\
             [profile.remote]\nhost = \"h.example\"\nusername = \"u\"\npassword = {{ env = \"X\" }}\n\
             [profile.local]\nuser = \"alice\"\ndomain = \"d.example\"\n{distribute}"
        );
        let config = mailpull_shared::config::parse(&text, "test.toml").expect("config");
        config.profiles[0].clone()
    }

    #[test]
    fn a_single_drop_profile_sends_everything_to_its_local_user() {
        let decision =
            Route::for_profile(&profile(""), "id").decide(b"To: bob@else.example\r\n\r\n");
        assert_eq!(decision.recipients.len(), 1);
        assert_eq!(decision.recipients[0].address, "alice@d.example");
        assert_eq!(decision.recipients[0].source, "single-drop");
        assert!(!decision.fallback);
        assert_eq!(
            decision.reason,
            "single-drop profile: everything goes to alice@d.example"
        );
    }

    #[test]
    fn a_multi_drop_profile_decides_with_its_rules() {
        let profile = profile(
            "[profile.distribute]\nlocal_domains = [\"d.example\"]\nfallback = \"postmaster\"\n",
        );
        let route = Route::for_profile(&profile, "id");
        let Route::Multi { fallback, .. } = &route else {
            panic!("a profile with [distribute] routes multi-drop");
        };
        assert_eq!(fallback, "postmaster@d.example");
        let distribute = profile.distribute.as_ref().expect("distribute");
        let message = b"To: bob@d.example\r\nSubject: x\r\n\r\nbody";
        assert_eq!(
            route.decide(message),
            super::super::decide(message, &rules_for(&profile, distribute, "id"))
        );
    }
}
