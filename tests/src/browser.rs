//! A simulated browser for the OAuth browser sign-in. Shared by the e2e suite and the Pull
//! Manager's GUI tests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One HTTP/1.1 GET to `http://host:port/path`; the whole answer (status line, headers, body).
pub fn http_get(url: &str) -> String {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(authority).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n",
        if path.is_empty() { "/" } else { path }
    )
    .expect("send");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// The browser flow as a person's browser would run it: the authorization URL answers with
/// a redirect to the worker's loopback listener, which is then followed. Returns the
/// listener's answer.
pub fn browse(authorization_url: &str) -> String {
    let answer = http_get(authorization_url);
    assert!(answer.starts_with("HTTP/1.1 302"), "{answer}");
    let location = answer
        .lines()
        .find_map(|l| l.strip_prefix("Location: "))
        .expect("Location header")
        .trim()
        .to_string();
    assert!(location.starts_with("http://127.0.0.1:"), "{location}");
    http_get(&location)
}
