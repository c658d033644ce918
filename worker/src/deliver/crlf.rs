//! Line ends on the way out (SMTP smuggling): every bare LF and bare CR in a message becomes
//! CRLF before the message goes to the local server. lettre dot-stuffs only after CRLF, so a
//! bare `\n.\n` from a hostile remote server would otherwise reach the local server
//! unstuffed, and a server that takes a bare LF as a line end would see the end of the data
//! there and read what follows as SMTP commands (a second, forged message). Pure.

use std::borrow::Cow;

/// `message` with every bare LF and bare CR made CRLF; borrowed when it has none.
pub fn normalize_line_ends(message: &[u8]) -> Cow<'_, [u8]> {
    if !has_bare_line_end(message) {
        return Cow::Borrowed(message);
    }
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 2);
    let mut i = 0;
    while i < message.len() {
        match message[i] {
            b'\r' if message.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 2;
            }
            b'\r' | b'\n' => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

fn has_bare_line_end(message: &[u8]) -> bool {
    message.iter().enumerate().any(|(i, &byte)| match byte {
        b'\n' => i == 0 || message[i - 1] != b'\r',
        b'\r' => message.get(i + 1) != Some(&b'\n'),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_lf_and_bare_cr_become_crlf_and_crlf_stays() {
        let cases: [(&[u8], &[u8]); 9] = [
            (b"a\r\nb\r\n", b"a\r\nb\r\n"),
            (b"a\nb\n", b"a\r\nb\r\n"),
            (b"a\rb\r", b"a\r\nb\r\n"),
            (
                b"a\n.\nMAIL FROM:<x@y>\r\n",
                b"a\r\n.\r\nMAIL FROM:<x@y>\r\n",
            ),
            (b"a\r.\rb\r\n", b"a\r\n.\r\nb\r\n"),
            (b"\n", b"\r\n"),
            (b"\r", b"\r\n"),
            (b"\r\r\n\n", b"\r\n\r\n\r\n"),
            (b"", b""),
        ];
        for (input, want) in cases {
            assert_eq!(
                normalize_line_ends(input).as_ref(),
                want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// A local server that records the raw bytes of the DATA phase (up to CRLF "." CRLF).
    async fn record_data(listener: tokio::net::TcpListener) -> Vec<u8> {
        use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
        let (stream, _) = listener.accept().await.expect("accept");
        let (read, mut write) = stream.into_split();
        let mut read = tokio::io::BufReader::new(read);
        write
            .write_all(b"220 local ESMTP\r\n")
            .await
            .expect("greet");
        let mut line = String::new();
        loop {
            line.clear();
            read.read_line(&mut line).await.expect("command");
            let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "EHLO" => b"250-local\r\n250 8BITMIME\r\n",
                "DATA" => b"354 go ahead\r\n",
                _ => b"250 ok\r\n",
            };
            write.write_all(reply).await.expect("reply");
            if verb == "DATA" {
                break;
            }
        }
        let mut data = Vec::new();
        while !data.ends_with(b"\r\n.\r\n") {
            let mut byte = [0u8; 1];
            if read.read(&mut byte).await.expect("data") == 0 {
                break;
            }
            data.push(byte[0]);
        }
        write.write_all(b"250 queued\r\n").await.expect("queued");
        data
    }

    #[tokio::test]
    async fn the_local_server_sees_crlf_only_and_a_stuffed_dot() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(record_data(listener));
        let local = mailpull_shared::config::Local {
            smtp_host: "127.0.0.1".into(),
            smtp_port: port,
            smtp_security: mailpull_shared::config::Security::Plain,
            ca_file: None,
            user: "alice".into(),
            domain: "d.example".into(),
        };
        let message =
            b"Subject: smuggle\r\n\r\nline 1\n.\nMAIL FROM:<evil@x.example>\r\nline 3\rend\r\n";
        super::super::Deliverer::new(1)
            .send(
                &local,
                std::time::Duration::from_secs(10),
                None,
                &["alice@d.example".to_string()],
                message.to_vec(),
                |_| (),
            )
            .await
            .1
            .expect("accepted");
        let data = server.await.expect("server");
        assert_eq!(
            String::from_utf8_lossy(&data),
            "Subject: smuggle\r\n\r\nline 1\r\n..\r\nMAIL FROM:<evil@x.example>\r\nline 3\r\nend\r\n.\r\n"
        );
    }

    #[test]
    fn a_clean_message_is_not_copied() {
        let message = b"Subject: x\r\n\r\nhello\r\n.\r\n";
        assert!(matches!(normalize_line_ends(message), Cow::Borrowed(_)));
    }
}
