//! A tiny blocking line-protocol client (SMTP/POP3/IMAP over plain TCP) for the harness
//! itself and for smoke tests: just enough to greet, send commands and read replies.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

use anyhow::{Context, bail};

/// A TCP connection to 127.0.0.1 read line by line.
#[derive(Debug)]
pub struct LineClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl LineClient {
    /// Connects to 127.0.0.1:`port` with 10 s read/write timeouts.
    pub fn connect(port: u16) -> anyhow::Result<Self> {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .with_context(|| format!("connecting to 127.0.0.1:{port}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        let writer = stream.try_clone().context("cloning the TCP stream")?;
        Ok(Self {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Reads one line, without its CRLF/LF. End of stream is an error.
    pub fn read_line(&mut self) -> anyhow::Result<String> {
        let mut buf = Vec::new();
        let n = self
            .reader
            .read_until(b'\n', &mut buf)
            .context("reading a reply line")?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Sends `line` followed by CRLF.
    pub fn send_line(&mut self, line: &str) -> anyhow::Result<()> {
        self.send_raw(format!("{line}\r\n").as_bytes())
    }

    /// Sends bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.writer
            .write_all(bytes)
            .context("sending to the server")?;
        self.writer.flush().context("flushing to the server")
    }

    /// Sends `line` and reads one reply line (POP3 style).
    pub fn command(&mut self, line: &str) -> anyhow::Result<String> {
        self.send_line(line)?;
        self.read_line()
    }

    /// Reads a POP3 multi-line body up to the terminating ".", undoing dot-stuffing.
    pub fn read_multiline(&mut self) -> anyhow::Result<Vec<String>> {
        let mut lines = Vec::new();
        loop {
            let line = self.read_line()?;
            if line == "." {
                return Ok(lines);
            }
            lines.push(line.strip_prefix('.').map(str::to_owned).unwrap_or(line));
        }
    }

    /// Reads an SMTP reply (all continuation lines).
    pub fn smtp_reply(&mut self) -> anyhow::Result<SmtpReply> {
        let mut lines = Vec::new();
        loop {
            let line = self.read_line()?;
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .with_context(|| format!("malformed SMTP reply line {line:?}"))?;
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_owned());
            if !more {
                return Ok(SmtpReply { code, lines });
            }
        }
    }

    /// Sends an SMTP command and reads its reply.
    pub fn smtp_command(&mut self, line: &str) -> anyhow::Result<SmtpReply> {
        self.send_line(line)?;
        self.smtp_reply()
    }
}

/// One SMTP reply: its code and the text of each line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpReply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl SmtpReply {
    /// All lines joined by spaces.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }

    fn expect(self, class: u16, what: &str) -> anyhow::Result<Self> {
        if self.code / 100 != class {
            bail!("SMTP {what} answered {} {}", self.code, self.text());
        }
        Ok(self)
    }
}

/// `raw` as SMTP DATA: line endings made CRLF, lines starting with "." doubled, a final CRLF
/// added if missing, and the ".\r\n" terminator appended.
pub fn smtp_data(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 50 + 8);
    let mut at_line_start = true;
    let mut prev = 0u8;
    for &b in raw {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        at_line_start = b == b'\n';
        prev = b;
    }
    if !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Opens an SMTP session on 127.0.0.1:`port` and says EHLO.
pub fn smtp_session(port: u16) -> anyhow::Result<LineClient> {
    let mut c = LineClient::connect(port)?;
    c.smtp_reply()?.expect(2, "greeting")?;
    c.smtp_command("EHLO mailpull-tests.localhost")?
        .expect(2, "EHLO")?;
    Ok(c)
}

/// Sends one message over SMTP; returns the reply to the end of DATA. Any refusal (4xx/5xx)
/// is an error naming the step and the server's reply.
pub fn smtp_send(port: u16, from: &str, rcpts: &[&str], raw: &[u8]) -> anyhow::Result<SmtpReply> {
    let mut c = smtp_session(port)?;
    c.smtp_command(&format!("MAIL FROM:<{from}>"))?
        .expect(2, "MAIL FROM")?;
    for rcpt in rcpts {
        c.smtp_command(&format!("RCPT TO:<{rcpt}>"))?
            .expect(2, &format!("RCPT TO {rcpt}"))?;
    }
    c.smtp_command("DATA")?.expect(3, "DATA")?;
    c.send_raw(&smtp_data(raw))?;
    let reply = c.smtp_reply()?.expect(2, "end of DATA")?;
    let _ = c.smtp_command("QUIT");
    Ok(reply)
}

/// The server's reply to `RCPT TO:<rcpt>` after `MAIL FROM:<from>` (then RSET and QUIT).
pub fn smtp_rcpt_reply(port: u16, from: &str, rcpt: &str) -> anyhow::Result<SmtpReply> {
    let mut c = smtp_session(port)?;
    c.smtp_command(&format!("MAIL FROM:<{from}>"))?
        .expect(2, "MAIL FROM")?;
    let reply = c.smtp_command(&format!("RCPT TO:<{rcpt}>"))?;
    let _ = c.smtp_command("RSET");
    let _ = c.smtp_command("QUIT");
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_data_stuffs_dots_and_normalizes_line_ends() {
        assert_eq!(
            smtp_data(b"a\n.b\r\n.\nc"),
            b"a\r\n..b\r\n..\r\nc\r\n.\r\n".to_vec()
        );
        assert_eq!(smtp_data(b""), b".\r\n".to_vec());
        assert_eq!(smtp_data(b"x.y\r\n"), b"x.y\r\n.\r\n".to_vec());
    }
}
