//! The little HTTP the metrics endpoint reads, from bytes and nothing else: the request line
//! (method and path) and where the request's head ends. Header fields are not parsed; a head
//! longer than [`MAX_HEAD`] is refused before more is read. Pure, sans-IO.

/// The longest request head (request line and header fields) the endpoint reads.
pub const MAX_HEAD: usize = 8 * 1024;

/// What the bytes received so far say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head {
    /// The head is not complete yet: read more.
    Incomplete,
    /// A complete head whose request line is well formed.
    Request(Request),
    /// Not a request this endpoint answers (the reason, for the 400 page).
    Bad(&'static str),
    /// The head is longer than [`MAX_HEAD`].
    TooLarge,
}

/// A request line: the method, and the path without its query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
}

/// Reads `buf`, the bytes of a connection so far.
pub fn parse_head(buf: &[u8]) -> Head {
    let end = find(buf, b"\r\n\r\n")
        .map(|at| at + 4)
        .or_else(|| find(buf, b"\n\n").map(|at| at + 2));
    let Some(end) = end else {
        return if buf.len() >= MAX_HEAD {
            Head::TooLarge
        } else {
            Head::Incomplete
        };
    };
    if end > MAX_HEAD {
        return Head::TooLarge;
    }
    let line_end = find(buf, b"\n").unwrap_or(end);
    let line = &buf[..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    request_line(line)
}

fn request_line(line: &[u8]) -> Head {
    let Ok(line) = std::str::from_utf8(line) else {
        return Head::Bad("the request line is not text");
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Head::Bad("expected METHOD PATH HTTP/1.x");
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Head::Bad("the method is not a token");
    }
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return Head::Bad("only HTTP/1.0 and HTTP/1.1 are spoken");
    }
    if !target.starts_with('/') {
        return Head::Bad("the path must start with /");
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    Head::Request(Request {
        method: method.to_string(),
        path: path.to_string(),
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str) -> Head {
        Head::Request(Request {
            method: method.into(),
            path: path.into(),
        })
    }

    #[test]
    fn a_scrape_is_read_whatever_the_chunks() {
        let raw =
            b"GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9464\r\nAccept: text/plain\r\n\r\n";
        for size in [1, 2, 4, 8, 16, 32, 64, 128, 512] {
            let mut buf = Vec::new();
            let mut result = Head::Incomplete;
            for chunk in raw.chunks(size) {
                assert_eq!(
                    result,
                    Head::Incomplete,
                    "decided early at chunk size {size}"
                );
                buf.extend_from_slice(chunk);
                result = parse_head(&buf);
            }
            assert_eq!(result, request("GET", "/metrics"), "chunk size {size}");
        }
    }

    #[test]
    fn bare_line_feeds_end_a_head_too() {
        assert_eq!(
            parse_head(b"HEAD /healthz HTTP/1.0\n\n"),
            request("HEAD", "/healthz")
        );
    }

    #[test]
    fn malformed_request_lines_are_bad() {
        for raw in [
            &b"GET /metrics\r\n\r\n"[..],
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"get /metrics HTTP/1.1\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/2\r\n\r\n",
            b"GET /metrics HTTP/1.1 extra\r\n\r\n",
            b"\xff /metrics HTTP/1.1\r\n\r\n",
            b"\r\n\r\n",
        ] {
            assert!(matches!(parse_head(raw), Head::Bad(_)), "{raw:?}");
        }
    }

    #[test]
    fn a_head_over_the_limit_is_refused_before_it_ends() {
        let mut raw = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        raw.resize(MAX_HEAD - 1, b'a');
        assert_eq!(parse_head(&raw), Head::Incomplete);
        raw.push(b'a');
        assert_eq!(parse_head(&raw), Head::TooLarge);
        raw.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse_head(&raw), Head::TooLarge);
    }
}
