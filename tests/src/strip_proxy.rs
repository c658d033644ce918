//! A man in the middle that strips STARTTLS: a TCP proxy on 127.0.0.1 that forwards the
//! client's bytes unchanged and the server's line by line, removing the offer of TLS (POP3's
//! `STLS` CAPA line, the `STARTTLS` word of IMAP capability lists, SMTP's `250-STARTTLS`), and
//! answering a client's `STLS`/`STARTTLS` itself with a refusal instead of forwarding it, as a
//! downgrade attacker would. It records what the client sent, so a test can prove no
//! credentials crossed in plain text.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use anyhow::Context;

/// The stripping proxy; stops accepting when dropped (open connections run to their end).
#[derive(Debug)]
pub struct StripTlsProxy {
    port: u16,
    client_bytes: Arc<Mutex<Vec<u8>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

/// One server line with the TLS offer removed; `None` drops the line.
pub fn strip_line(line: &[u8]) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(line);
    let bare = text.trim_end_matches(['\r', '\n']);
    let upper = bare.to_ascii_uppercase();
    // POP3 CAPA, SMTP EHLO continuation/last line.
    if upper == "STLS" || upper == "250-STARTTLS" {
        return None;
    }
    if upper == "250 STARTTLS" {
        return Some(b"250 HELP\r\n".to_vec());
    }
    if upper.contains("STARTTLS") {
        // IMAP: `* CAPABILITY ... STARTTLS ...` or `* OK [CAPABILITY ... STARTTLS ...]`.
        let kept: Vec<&str> = bare
            .split(' ')
            .filter(|word| !word.eq_ignore_ascii_case("STARTTLS"))
            .collect();
        let mut out = kept.join(" ").into_bytes();
        out.extend_from_slice(b"\r\n");
        return Some(out);
    }
    Some(line.to_vec())
}

/// The proxy's own refusal of a client line asking for TLS, or `None` to forward the line.
pub fn refuse_tls_command(line: &[u8]) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(line);
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [cmd] if cmd.eq_ignore_ascii_case("STLS") => {
            Some(b"-ERR command not recognised\r\n".to_vec())
        }
        [cmd] if cmd.eq_ignore_ascii_case("STARTTLS") => {
            Some(b"454 4.7.0 TLS not available\r\n".to_vec())
        }
        [tag, cmd] if cmd.eq_ignore_ascii_case("STARTTLS") => {
            Some(format!("{tag} BAD Unknown command\r\n").into_bytes())
        }
        _ => None,
    }
}

impl StripTlsProxy {
    /// Starts the proxy in front of `upstream`.
    pub fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("bind strip proxy")?;
        let port = listener.local_addr()?.port();
        let client_bytes = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (seen, stopping) = (client_bytes.clone(), stop.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let seen = seen.clone();
                thread::spawn(move || {
                    let _ = relay(client, upstream, seen);
                });
            }
        });
        Ok(StripTlsProxy {
            port,
            client_bytes,
            stop,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Everything clients sent through the proxy so far.
    pub fn client_sent(&self) -> Vec<u8> {
        self.client_bytes
            .lock()
            .map(|b| b.clone())
            .unwrap_or_default()
    }
}

impl Drop for StripTlsProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    seen: Arc<Mutex<Vec<u8>>>,
) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream)?;
    let mut server_out = server.try_clone()?;
    let client_in = client.try_clone()?;
    let client_out = Arc::new(Mutex::new(client));
    let to_client = client_out.clone();
    let up = thread::spawn(move || {
        let mut reader = BufReader::new(client_in);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if let Ok(mut s) = seen.lock() {
                s.extend_from_slice(&line);
            }
            let sent = match refuse_tls_command(&line) {
                Some(refusal) => to_client
                    .lock()
                    .map_err(|_| std::io::Error::other("poisoned"))
                    .and_then(|mut c| c.write_all(&refusal)),
                None => server_out.write_all(&line),
            };
            if sent.is_err() {
                break;
            }
        }
        let _ = server_out.shutdown(Shutdown::Write);
    });
    let mut reader = BufReader::new(server);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if let Some(out) = strip_line(&line) {
            client_out
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .write_all(&out)?;
        }
    }
    if let Ok(c) = client_out.lock() {
        let _ = c.shutdown(Shutdown::Both);
    }
    let _ = up.join();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::strip_line;

    #[test]
    fn strips_every_form_of_the_offer() {
        assert_eq!(strip_line(b"STLS\r\n"), None);
        assert_eq!(strip_line(b"250-STARTTLS\r\n"), None);
        assert_eq!(
            strip_line(b"* OK [CAPABILITY IMAP4rev1 SASL-IR STARTTLS LOGINDISABLED] ready\r\n"),
            Some(b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGINDISABLED] ready\r\n".to_vec())
        );
        assert_eq!(
            strip_line(b"* CAPABILITY IMAP4rev1 STARTTLS\r\n"),
            Some(b"* CAPABILITY IMAP4rev1\r\n".to_vec())
        );
        assert_eq!(
            strip_line(b"+OK ready\r\n"),
            Some(b"+OK ready\r\n".to_vec())
        );
    }

    #[test]
    fn refuses_the_tls_commands_itself() {
        use super::refuse_tls_command as r;
        assert!(r(b"STLS\r\n").is_some_and(|a| a.starts_with(b"-ERR")));
        assert!(r(b"a1 STARTTLS\r\n").is_some_and(|a| a.starts_with(b"a1 BAD")));
        assert!(r(b"STARTTLS\r\n").is_some_and(|a| a.starts_with(b"454")));
        assert_eq!(r(b"USER joe\r\n"), None);
        assert_eq!(r(b"a2 LOGIN joe pw\r\n"), None);
    }
}
