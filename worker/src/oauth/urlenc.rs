//! Percent-encoding (RFC 3986 unreserved characters kept) for query strings and form bodies,
//! and decoding of a query string.

/// `value` percent-encoded: everything but `A-Z a-z 0-9 - . _ ~` becomes `%XX`.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `k1=v1&k2=v2`, both sides encoded.
pub fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Decodes `%XX` and `+` (form encoding); `None` for a broken escape or invalid UTF-8.
pub fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The pairs of a query string; pairs that do not decode are skipped.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(key)?, decode(value)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let text = "https://outlook.office.com/POP.AccessAsUser.All offline_access ü&=+";
        assert_eq!(decode(&encode(text)).as_deref(), Some(text));
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
        assert_eq!(query(&[("a", "1 2"), ("b&", "=")]), "a=1%202&b%26=%3D");
        assert_eq!(
            parse_query("code=abc%2F1&state=x+y&&bad=%zz&empty"),
            vec![
                ("code".to_string(), "abc/1".to_string()),
                ("state".to_string(), "x y".to_string()),
                ("empty".to_string(), String::new())
            ]
        );
        assert_eq!(decode("%4"), None);
    }
}
