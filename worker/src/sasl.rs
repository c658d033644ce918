//! The two OAuth 2.0 SASL mechanisms, as pure functions used by both the POP3 client (`AUTH`)
//! and the IMAP source (`AUTHENTICATE`):
//! - `XOAUTH2` (Google, Microsoft): `user=U ^A auth=Bearer T ^A ^A`;
//! - `OAUTHBEARER` (RFC 7628): a GS2 header `n,a=U,` then `host`, `port`, `auth` key/values.
//!
//! A server that refuses the token sends a challenge holding a JSON error (RFC 7628 §3.2.2:
//! `{"status":"invalid_token",...}`); the client answers it (XOAUTH2: an empty response,
//! OAUTHBEARER: `%x01`) and the server then fails the command. [`describe_error_challenge`]
//! turns that JSON into a short text for the error message. Payloads hold the access token:
//! they are never logged, and callers redact them from server texts.

/// The raw (not base64) XOAUTH2 initial response.
pub fn xoauth2_payload(user: &str, token: &str) -> Vec<u8> {
    format!("user={user}\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// The raw (not base64) OAUTHBEARER initial response (RFC 7628 §3.1) for `user` at
/// `host:port`. `,` and `=` in the user name are escaped as RFC 5801 requires.
pub fn oauthbearer_payload(user: &str, host: &str, port: u16, token: &str) -> Vec<u8> {
    let user = user.replace('=', "=3D").replace(',', "=2C");
    format!("n,a={user},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// What the client answers to a server's error challenge: XOAUTH2 an empty response,
/// OAUTHBEARER a single `%x01` (RFC 7628 §3.2.3).
pub fn error_challenge_answer(oauthbearer: bool) -> &'static [u8] {
    if oauthbearer { b"\x01" } else { b"" }
}

/// A one-line account of a server's (decoded) error challenge, e.g.
/// `status=invalid_token scope=https://mail.google.com/`; `None` when it is not a JSON object.
pub fn describe_error_challenge(decoded: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(decoded).ok()?;
    let object = value.as_object()?;
    let mut parts = Vec::new();
    for key in ["status", "schemes", "scope"] {
        if let Some(text) = object.get(key).and_then(serde_json::Value::as_str) {
            let clean: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
            parts.push(format!("{key}={clean}"));
        }
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoauth2_matches_the_documented_format() {
        // Google's documented example: user=someuser@example.com^Aauth=Bearer ya29...^A^A
        assert_eq!(
            xoauth2_payload("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"),
            b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
        );
    }

    #[test]
    fn oauthbearer_matches_rfc_7628_and_escapes_the_user() {
        // RFC 7628 §4.1 (with port): n,a=user@example.com,^Ahost=server.example.com^Aport=143^A
        // auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==^A^A
        assert_eq!(
            oauthbearer_payload("user@example.com", "server.example.com", 143, "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="),
            b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        let payload = oauthbearer_payload("a,b=c", "h", 1, "t");
        assert!(payload.starts_with(b"n,a=a=2Cb=3Dc,\x01"));
    }

    #[test]
    fn error_challenges_are_summarised_without_anything_else() {
        let json = br#"{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}"#;
        assert_eq!(
            describe_error_challenge(json).as_deref(),
            Some("status=invalid_token scope=example_scope")
        );
        assert_eq!(describe_error_challenge(b"not json"), None);
        assert_eq!(describe_error_challenge(b"[1,2]"), None);
        assert_eq!(error_challenge_answer(false), b"");
        assert_eq!(error_challenge_answer(true), b"\x01");
    }
}
