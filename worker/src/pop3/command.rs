//! POP3 command encoding: turns a [`Command`] into the exact bytes to send, refusing
//! arguments that could inject further commands, and describes commands for logs and errors
//! without ever showing passwords or SASL payloads.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest as _, Md5};

use super::reply::ReplyKind;

/// Longest command line (CRLF included) RFC 2449 and RFC 5034 allow a client to send; an
/// `AUTH` initial response that would make the line longer must be sent after an empty
/// challenge instead.
pub const MAX_COMMAND_LINE: usize = 255;

/// A command argument that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The argument contains CR, LF or NUL, which would end the command early or confuse the
    /// server (command injection). The value itself is never shown: it may be a password.
    #[error("the {what} contains a CR, LF or NUL character")]
    ForbiddenCharacter {
        /// Which argument, e.g. "password".
        what: &'static str,
    },
    /// The argument contains a space where the command syntax does not allow one.
    #[error("the {what} contains a space, which {command} cannot carry")]
    ForbiddenSpace {
        /// Which argument, e.g. "user name".
        what: &'static str,
        /// The command, e.g. "APOP".
        command: &'static str,
    },
    /// Message numbers start at 1.
    #[error("message number 0 is invalid (POP3 message numbers start at 1)")]
    ZeroMessageNumber,
}

/// One POP3 command. Arguments holding secrets are redacted by [`Command::describe`], by
/// `Display` and by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub enum Command {
    /// `USER name`
    User(String),
    /// `PASS password` (secret)
    Pass(String),
    /// `APOP name digest` (the digest is treated as a secret)
    Apop {
        /// Mailbox name.
        user: String,
        /// Lower-case hex MD5 of timestamp + password, see [`apop_digest`].
        digest: String,
    },
    /// `AUTH PLAIN [initial-response]` (the base64 initial response is secret)
    AuthPlain {
        /// The base64 initial response, or `None` to wait for an empty challenge.
        initial_response: Option<String>,
    },
    /// `AUTH LOGIN`
    AuthLogin,
    /// `AUTH XOAUTH2 [initial-response]` or `AUTH OAUTHBEARER [initial-response]` (the base64
    /// initial response holds the access token: secret)
    AuthOAuth {
        /// `XOAUTH2` or `OAUTHBEARER`.
        mechanism: &'static str,
        /// The base64 initial response, or `None` to wait for an empty challenge.
        initial_response: Option<String>,
    },
    /// A base64 answer to a SASL challenge (secret).
    SaslResponse(String),
    /// `*`: cancels a SASL exchange.
    SaslCancel,
    /// `CAPA`
    Capa,
    /// `STLS`
    Stls,
    /// `STAT`
    Stat,
    /// `UIDL` for all messages (`None`) or one.
    Uidl(Option<u32>),
    /// `LIST` for all messages (`None`) or one.
    List(Option<u32>),
    /// `RETR n`
    Retr(u32),
    /// `DELE n`
    Dele(u32),
    /// `RSET`
    Rset,
    /// `NOOP`
    Noop,
    /// `QUIT`
    Quit,
}

/// Refuses a command argument containing CR, LF or NUL (`what` names it in the error; the
/// value is never shown).
pub fn check_argument(value: &str, what: &'static str) -> Result<(), CommandError> {
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        Err(CommandError::ForbiddenCharacter { what })
    } else {
        Ok(())
    }
}

fn check_number(n: u32) -> Result<(), CommandError> {
    if n == 0 {
        Err(CommandError::ZeroMessageNumber)
    } else {
        Ok(())
    }
}

impl Command {
    /// The command keyword, e.g. `RETR`.
    pub fn name(&self) -> &'static str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Apop { .. } => "APOP",
            Command::AuthPlain { .. } | Command::AuthLogin | Command::AuthOAuth { .. } => "AUTH",
            Command::SaslResponse(_) => "SASL response",
            Command::SaslCancel => "SASL cancel",
            Command::Capa => "CAPA",
            Command::Stls => "STLS",
            Command::Stat => "STAT",
            Command::Uidl(_) => "UIDL",
            Command::List(_) => "LIST",
            Command::Retr(_) => "RETR",
            Command::Dele(_) => "DELE",
            Command::Rset => "RSET",
            Command::Noop => "NOOP",
            Command::Quit => "QUIT",
        }
    }

    /// Which reply shape the server answers this command with.
    pub fn reply_kind(&self) -> ReplyKind {
        match self {
            Command::Capa | Command::Uidl(None) | Command::List(None) | Command::Retr(_) => {
                ReplyKind::MultiLine
            }
            _ => ReplyKind::SingleLine,
        }
    }

    /// A description for logs and errors, e.g. `RETR 3` or `PASS ****`; never contains a
    /// password, digest or SASL payload.
    pub fn describe(&self) -> String {
        match self {
            Command::User(user) => format!("USER {}", user.escape_debug()),
            Command::Pass(_) => "PASS ****".to_owned(),
            Command::Apop { user, .. } => format!("APOP {} ****", user.escape_debug()),
            Command::AuthPlain {
                initial_response: Some(_),
            } => "AUTH PLAIN ****".to_owned(),
            Command::AuthPlain {
                initial_response: None,
            } => "AUTH PLAIN".to_owned(),
            Command::AuthLogin => "AUTH LOGIN".to_owned(),
            Command::AuthOAuth {
                mechanism,
                initial_response: Some(_),
            } => format!("AUTH {mechanism} ****"),
            Command::AuthOAuth {
                mechanism,
                initial_response: None,
            } => format!("AUTH {mechanism}"),
            Command::SaslResponse(_) => "SASL response ****".to_owned(),
            Command::SaslCancel => "SASL cancel (*)".to_owned(),
            Command::Uidl(Some(n)) => format!("UIDL {n}"),
            Command::List(Some(n)) => format!("LIST {n}"),
            Command::Retr(n) => format!("RETR {n}"),
            Command::Dele(n) => format!("DELE {n}"),
            other => other.name().to_owned(),
        }
    }

    /// The exact bytes to send, CRLF included. Refuses arguments containing CR, LF or NUL
    /// and message number 0.
    pub fn encode(&self) -> Result<Vec<u8>, CommandError> {
        let line = match self {
            Command::User(user) => {
                check_argument(user, "user name")?;
                format!("USER {user}")
            }
            Command::Pass(password) => {
                check_argument(password, "password")?;
                format!("PASS {password}")
            }
            Command::Apop { user, digest } => {
                check_argument(user, "user name")?;
                check_argument(digest, "APOP digest")?;
                if user.contains(' ') {
                    return Err(CommandError::ForbiddenSpace {
                        what: "user name",
                        command: "APOP",
                    });
                }
                format!("APOP {user} {digest}")
            }
            Command::AuthPlain { initial_response } => match initial_response {
                Some(ir) => {
                    check_argument(ir, "SASL initial response")?;
                    // RFC 5034: an empty initial response is sent as "=".
                    let ir = if ir.is_empty() { "=" } else { ir.as_str() };
                    format!("AUTH PLAIN {ir}")
                }
                None => "AUTH PLAIN".to_owned(),
            },
            Command::AuthLogin => "AUTH LOGIN".to_owned(),
            Command::AuthOAuth {
                mechanism,
                initial_response,
            } => match initial_response {
                Some(ir) => {
                    check_argument(ir, "SASL initial response")?;
                    format!("AUTH {mechanism} {ir}")
                }
                None => format!("AUTH {mechanism}"),
            },
            Command::SaslResponse(payload) => {
                check_argument(payload, "SASL response")?;
                payload.clone()
            }
            Command::SaslCancel => "*".to_owned(),
            Command::Uidl(Some(n)) | Command::List(Some(n)) => {
                check_number(*n)?;
                format!("{} {n}", self.name())
            }
            Command::Retr(n) | Command::Dele(n) => {
                check_number(*n)?;
                format!("{} {n}", self.name())
            }
            Command::Capa
            | Command::Stls
            | Command::Stat
            | Command::Uidl(None)
            | Command::List(None)
            | Command::Rset
            | Command::Noop
            | Command::Quit => self.name().to_owned(),
        };
        let mut bytes = line.into_bytes();
        bytes.extend_from_slice(b"\r\n");
        Ok(bytes)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Command({})", self.describe())
    }
}

/// The APOP digest (RFC 1939 §7): lower-case hex of MD5(timestamp + password), where the
/// timestamp includes its angle brackets.
pub fn apop_digest(timestamp: &str, password: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(timestamp.as_bytes());
    md5.update(password.as_bytes());
    md5.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The base64 SASL PLAIN message (RFC 4616) with an empty authorization identity:
/// `base64("\0" user "\0" password)`. Refuses CR, LF and NUL in either part.
pub fn sasl_plain_payload(user: &str, password: &str) -> Result<String, CommandError> {
    check_argument(user, "user name")?;
    check_argument(password, "password")?;
    let mut raw = Vec::with_capacity(user.len() + password.len() + 2);
    raw.push(0);
    raw.extend_from_slice(user.as_bytes());
    raw.push(0);
    raw.extend_from_slice(password.as_bytes());
    Ok(BASE64.encode(raw))
}

/// Base64 of one SASL LOGIN answer (user name or password). Refuses CR, LF and NUL.
pub fn sasl_login_payload(value: &str, what: &'static str) -> Result<String, CommandError> {
    check_argument(value, what)?;
    Ok(BASE64.encode(value.as_bytes()))
}

/// Whether `AUTH <mechanism> <initial_response>` fits in [`MAX_COMMAND_LINE`]; when it does
/// not, RFC 5034 requires sending the response after an empty challenge.
pub fn initial_response_fits(mechanism: &str, initial_response: &str) -> bool {
    "AUTH ".len() + mechanism.len() + 1 + initial_response.len() + 2 <= MAX_COMMAND_LINE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(cmd: Command) -> Vec<u8> {
        cmd.encode().expect("must succeed")
    }

    #[test]
    fn encodes_every_command() {
        assert_eq!(enc(Command::User("alice".into())), b"USER alice\r\n");
        assert_eq!(
            enc(Command::Pass("s3cret pw".into())),
            b"PASS s3cret pw\r\n"
        );
        assert_eq!(
            enc(Command::Apop {
                user: "mrose".into(),
                digest: "c4c9334bac560ecc979e58001b3e22fb".into()
            }),
            b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"
        );
        assert_eq!(
            enc(Command::AuthPlain {
                initial_response: Some("AGEAYg==".into())
            }),
            b"AUTH PLAIN AGEAYg==\r\n"
        );
        assert_eq!(
            enc(Command::AuthPlain {
                initial_response: Some(String::new())
            }),
            b"AUTH PLAIN =\r\n"
        );
        assert_eq!(
            enc(Command::AuthPlain {
                initial_response: None
            }),
            b"AUTH PLAIN\r\n"
        );
        assert_eq!(enc(Command::AuthLogin), b"AUTH LOGIN\r\n");
        assert_eq!(
            enc(Command::AuthOAuth {
                mechanism: "XOAUTH2",
                initial_response: Some("dXNlcj0=".into())
            }),
            b"AUTH XOAUTH2 dXNlcj0=\r\n"
        );
        assert_eq!(
            enc(Command::AuthOAuth {
                mechanism: "OAUTHBEARER",
                initial_response: None
            }),
            b"AUTH OAUTHBEARER\r\n"
        );
        assert_eq!(
            Command::AuthOAuth {
                mechanism: "XOAUTH2",
                initial_response: Some("c2VjcmV0".into())
            }
            .describe(),
            "AUTH XOAUTH2 ****"
        );
        assert_eq!(
            enc(Command::SaslResponse("YWxpY2U=".into())),
            b"YWxpY2U=\r\n"
        );
        assert_eq!(enc(Command::SaslCancel), b"*\r\n");
        assert_eq!(enc(Command::Capa), b"CAPA\r\n");
        assert_eq!(enc(Command::Stls), b"STLS\r\n");
        assert_eq!(enc(Command::Stat), b"STAT\r\n");
        assert_eq!(enc(Command::Uidl(None)), b"UIDL\r\n");
        assert_eq!(enc(Command::Uidl(Some(7))), b"UIDL 7\r\n");
        assert_eq!(enc(Command::List(None)), b"LIST\r\n");
        assert_eq!(enc(Command::List(Some(2))), b"LIST 2\r\n");
        assert_eq!(enc(Command::Retr(3)), b"RETR 3\r\n");
        assert_eq!(enc(Command::Dele(4294967295)), b"DELE 4294967295\r\n");
        assert_eq!(enc(Command::Rset), b"RSET\r\n");
        assert_eq!(enc(Command::Noop), b"NOOP\r\n");
        assert_eq!(enc(Command::Quit), b"QUIT\r\n");
    }

    #[test]
    fn refuses_injection() {
        for bad in ["a\r\nDELE 1", "a\nb", "a\rb", "a\0b"] {
            assert_eq!(
                Command::User(bad.into()).encode(),
                Err(CommandError::ForbiddenCharacter { what: "user name" })
            );
            let err = Command::Pass(bad.into()).encode().expect_err("must fail");
            assert_eq!(err, CommandError::ForbiddenCharacter { what: "password" });
            assert!(!err.to_string().contains(bad));
            assert!(sasl_plain_payload("u", bad).is_err());
            assert!(sasl_plain_payload(bad, "p").is_err());
            assert!(sasl_login_payload(bad, "password").is_err());
        }
        assert_eq!(
            Command::SaslResponse("x\r\nQUIT".into()).encode(),
            Err(CommandError::ForbiddenCharacter {
                what: "SASL response"
            })
        );
        assert_eq!(
            Command::Apop {
                user: "a b".into(),
                digest: "00".into()
            }
            .encode(),
            Err(CommandError::ForbiddenSpace {
                what: "user name",
                command: "APOP"
            })
        );
        assert_eq!(
            Command::Retr(0).encode(),
            Err(CommandError::ZeroMessageNumber)
        );
        assert_eq!(
            Command::Dele(0).encode(),
            Err(CommandError::ZeroMessageNumber)
        );
    }

    #[test]
    fn descriptions_hide_secrets() {
        let secret = "hunter2-secret";
        let cmds = [
            Command::Pass(secret.into()),
            Command::Apop {
                user: "bob".into(),
                digest: secret.into(),
            },
            Command::AuthPlain {
                initial_response: Some(secret.into()),
            },
            Command::SaslResponse(secret.into()),
        ];
        for cmd in &cmds {
            assert!(!cmd.describe().contains(secret));
            assert!(!format!("{cmd}").contains(secret));
            assert!(!format!("{cmd:?}").contains(secret));
            assert!(cmd.describe().contains("****"));
        }
        assert_eq!(Command::Pass(secret.into()).describe(), "PASS ****");
        assert_eq!(Command::Retr(3).describe(), "RETR 3");
        assert_eq!(Command::User("bob".into()).describe(), "USER bob");
        assert_eq!(Command::Uidl(None).describe(), "UIDL");
    }

    #[test]
    fn reply_kinds() {
        assert_eq!(Command::Capa.reply_kind(), ReplyKind::MultiLine);
        assert_eq!(Command::Uidl(None).reply_kind(), ReplyKind::MultiLine);
        assert_eq!(Command::Uidl(Some(1)).reply_kind(), ReplyKind::SingleLine);
        assert_eq!(Command::List(None).reply_kind(), ReplyKind::MultiLine);
        assert_eq!(Command::List(Some(1)).reply_kind(), ReplyKind::SingleLine);
        assert_eq!(Command::Retr(1).reply_kind(), ReplyKind::MultiLine);
        assert_eq!(Command::Dele(1).reply_kind(), ReplyKind::SingleLine);
        assert_eq!(Command::Stat.reply_kind(), ReplyKind::SingleLine);
    }

    #[test]
    fn apop_digest_matches_rfc_1939() {
        assert_eq!(
            apop_digest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf"),
            "c4c9334bac560ecc979e58001b3e22fb"
        );
    }

    #[test]
    fn sasl_payloads() {
        // base64("\0user\0pass")
        assert_eq!(
            sasl_plain_payload("user", "pass").expect("must succeed"),
            "AHVzZXIAcGFzcw=="
        );
        assert_eq!(
            sasl_login_payload("user", "user name").expect("must succeed"),
            "dXNlcg=="
        );
        assert!(initial_response_fits("PLAIN", "AHVzZXIAcGFzcw=="));
        // "AUTH PLAIN " (11) + 242 + CRLF (2) = 255 fits; one more does not.
        assert!(initial_response_fits("PLAIN", &"A".repeat(242)));
        assert!(!initial_response_fits("PLAIN", &"A".repeat(243)));
    }
}
