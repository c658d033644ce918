//! The History and routing-preview requests of the pipe: a profile's deliveries read from the
//! state database (`state::history`), and where a message would go under a profile's routing,
//! computed by the same pure functions a poll uses (`routing`), delivering nothing.

use mailpull_shared::config::Profile;
use mailpull_shared::ipc::route::{MAX_PREVIEW, RoutePreview, RouteTarget};
use mailpull_shared::ipc::{ErrorKind, IpcError, Response};

use super::handler::WorkerState;
use crate::routing::Route;
use crate::routing::parse::split_headers;

impl WorkerState {
    /// [`mailpull_shared::ipc::Request::History`].
    pub(super) async fn history(
        &self,
        profile: String,
        utc_offset: i32,
    ) -> Result<Response, IpcError> {
        self.profile(&profile)?;
        // Time zones lie within ±18 hours of UTC; anything else is not an offset.
        if utc_offset.unsigned_abs() > 18 * 3600 {
            return Err(IpcError::new(
                ErrorKind::Invalid,
                format!(
                    "utc_offset {utc_offset} is not a time zone's offset (±64800 seconds at most)"
                ),
            ));
        }
        let now = crate::context::now_secs();
        let history = self
            .ctx
            .store
            .history(profile, utc_offset, now)
            .await
            .map_err(|err| IpcError::new(ErrorKind::Internal, err.to_string()))?;
        Ok(Response::History {
            history: Box::new(history),
        })
    }

    /// [`mailpull_shared::ipc::Request::Route`].
    pub(super) fn route(&self, profile: String, message: String) -> Result<Response, IpcError> {
        let checked = self.profile(&profile)?;
        let route = Route::for_profile(&checked, self.ctx.store.installation_id());
        Ok(Response::Route {
            preview: preview(&checked, &route, message.as_bytes())?,
        })
    }
}

/// Where `message` would go along `route` (the route of `profile`); an error naming what is
/// wrong when it is too large or is not a mail message (no header fields).
pub fn preview(profile: &Profile, route: &Route, message: &[u8]) -> Result<RoutePreview, IpcError> {
    let invalid = |why: String| IpcError::new(ErrorKind::Invalid, why);
    if message.len() > MAX_PREVIEW {
        return Err(invalid(format!(
            "the message is {} KB; a routing preview reads at most {} KB (its header section is enough)",
            message.len().div_ceil(1024),
            MAX_PREVIEW / 1024
        )));
    }
    let section = split_headers(message);
    if section.fields.is_empty() {
        let why = if message.iter().all(u8::is_ascii_whitespace) {
            "the message is empty: paste or open a whole message (.eml), headers first".to_string()
        } else {
            "this is not a mail message: it has no header fields (lines like \"To: bob@example.com\" at the top, then a blank line); open the .eml file itself".to_string()
        };
        return Err(invalid(why));
    }
    let decision = route.decide(message);
    let header = |name: &str| {
        crate::routing::parse::header_value(message, name)
            .map(|value| crate::state::clean_header(&value))
            .unwrap_or_default()
    };
    Ok(RoutePreview {
        profile: profile.name.clone(),
        targets: decision
            .recipients
            .into_iter()
            .map(|r| RouteTarget {
                address: r.address,
                source: r.source,
            })
            .collect(),
        fallback: decision.fallback,
        reason: decision.reason,
        subject: header("Subject"),
        from: header("From"),
    })
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

    fn multi() -> Profile {
        profile(
            "[profile.distribute]\nlocal_domains = [\"d.example\"]\nfallback = \"postmaster\"\n",
        )
    }

    fn run(profile: &Profile, message: &str) -> Result<RoutePreview, IpcError> {
        preview(
            profile,
            &Route::for_profile(profile, "id"),
            message.as_bytes(),
        )
    }

    fn targets(preview: &RoutePreview) -> Vec<(&str, &str)> {
        preview
            .targets
            .iter()
            .map(|t| (t.address.as_str(), t.source.as_str()))
            .collect()
    }

    #[test]
    fn a_single_drop_profile_previews_its_one_mailbox() {
        let single = profile("");
        let shown = run(
            &single,
            "From: Ann <ann@x.example>\r\nTo: bob@else.example\r\nSubject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n\r\nhi",
        )
        .expect("preview");
        assert_eq!(targets(&shown), [("alice@d.example", "single-drop")]);
        assert!(!shown.fallback);
        assert_eq!(shown.profile, "p");
        assert_eq!(shown.from, "Ann <ann@x.example>");
        assert!(shown.reason.contains("single-drop"), "{}", shown.reason);
    }

    #[test]
    fn a_multi_drop_profile_previews_by_envelope_header_then_visible_headers() {
        let multi = multi();
        let shown = run(
            &multi,
            "X-Original-To: carol@d.example\r\nTo: bob@d.example\r\nSubject: s\r\n\r\nbody",
        )
        .expect("envelope");
        assert_eq!(targets(&shown), [("carol@d.example", "X-Original-To")]);
        let shown = run(
            &multi,
            "To: Bob <bob@d.example>, out@elsewhere.example\r\nCc: dave@D.example\r\n\r\nbody",
        )
        .expect("visible");
        assert_eq!(
            targets(&shown),
            [("bob@d.example", "To"), ("dave@d.example", "Cc")]
        );
        assert!(!shown.fallback);
        let shown = run(&multi, "To: someone@elsewhere.example\r\n\r\nbody").expect("fallback");
        assert_eq!(targets(&shown), [("postmaster@d.example", "fallback")]);
        assert!(shown.fallback);
        assert!(!shown.reason.is_empty());
    }

    #[test]
    fn bad_input_is_a_clear_error_and_never_a_panic() {
        let multi = multi();
        let err = run(&multi, "").expect_err("empty");
        assert!(err.message.contains("empty"), "{}", err.message);
        let err = run(&multi, "just some words\nand more\n").expect_err("no headers");
        assert!(
            err.message.contains("not a mail message"),
            "{}",
            err.message
        );
        assert_eq!(err.kind, ErrorKind::Invalid);
        let big = format!("To: a@d.example\r\nX: {}\r\n\r\n", "y".repeat(MAX_PREVIEW));
        let err = run(&multi, &big).expect_err("too big");
        assert!(err.message.contains("at most 256 KB"), "{}", err.message);
        // Garbage bytes of every kind: an answer or an error, never a panic.
        for seed in 0..200u64 {
            fastrand::seed(seed);
            let len = fastrand::usize(0..400);
            let bytes: Vec<u8> = (0..len).map(|_| fastrand::u8(..)).collect();
            let text = String::from_utf8_lossy(&bytes);
            let _ = run(&multi, &text);
        }
    }
}
