//! The connection test of a profile, step by step: TCP connect, TLS, login, message count,
//! local SMTP. Each step reports passed, failed or skipped with what it saw; nothing is
//! fetched, delivered or deleted.

use mailpull_shared::config::{Credentials, Profile, Security};
use mailpull_shared::ipc::{StepOutcome, TestStep};
use mailpull_shared::secrets::Secret;

use crate::context::PollContext;
use crate::net;
use crate::remote::{self, Connection};
use crate::source::{Mailbox, SourceError};

fn step(name: &str, outcome: StepOutcome, detail: impl Into<String>) -> TestStep {
    TestStep {
        step: name.to_string(),
        outcome,
        detail: detail.into(),
    }
}

fn passed(name: &str, detail: impl Into<String>) -> TestStep {
    step(name, StepOutcome::Passed, detail)
}

fn failed(name: &str, detail: impl Into<String>) -> TestStep {
    step(name, StepOutcome::Failed, detail)
}

fn skipped(name: &str, detail: impl Into<String>) -> TestStep {
    step(name, StepOutcome::Skipped, detail)
}

/// Runs every step for `profile`. `typed`: a password typed into the Pull Manager and not
/// saved yet; a password profile logs in with it instead of reading its source. It lives
/// only for this test.
pub async fn test_profile(
    ctx: &PollContext,
    profile: &Profile,
    typed: Option<Secret>,
) -> Vec<TestStep> {
    let mut steps = remote_steps(ctx, profile, typed).await;
    let local = &profile.local;
    let timeout = crate::deliver::smtp_timeout(profile.remote.timeout);
    steps.push(match ctx.deliverer.test_connection(local, timeout).await {
        Ok(()) => passed(
            "local_smtp",
            format!(
                "{}:{} answers ({})",
                local.smtp_host,
                local.smtp_port,
                local.smtp_security.as_str()
            ),
        ),
        Err(err) => failed("local_smtp", err.to_string()),
    });
    steps
}

async fn remote_steps(
    ctx: &PollContext,
    profile: &Profile,
    typed: Option<Secret>,
) -> Vec<TestStep> {
    let remote = &profile.remote;
    let server = format!("{}:{}", remote.host, remote.port);
    let not_run = "not run: an earlier step failed";
    let mut steps = Vec::new();
    let tcp = match net::connect_tcp(&remote.host, remote.port, remote.timeout).await {
        Ok(tcp) => {
            steps.push(passed("connect", format!("connected to {server}")));
            tcp
        }
        Err(err) => {
            steps.push(failed("connect", err.to_string()));
            for name in ["tls", "login", "messages"] {
                steps.push(skipped(name, not_run));
            }
            return steps;
        }
    };
    let tls = match ctx.tls_config(remote.ca_file.as_deref()) {
        Ok(tls) => tls,
        Err(err) => {
            steps.push(failed("tls", err.to_string()));
            steps.push(skipped("login", not_run));
            steps.push(skipped("messages", not_run));
            return steps;
        }
    };
    match remote.security {
        Security::Tls => {
            match net::tls_handshake(tcp, &remote.host, remote.port, tls.clone(), remote.timeout)
                .await
            {
                Ok(stream) => steps.push(passed(
                    "tls",
                    format!(
                        "{} with a certificate valid for {}",
                        stream.tls_version().unwrap_or_else(|| "TLS".into()),
                        remote.host
                    ),
                )),
                Err(err) => {
                    steps.push(failed("tls", err.to_string()));
                    steps.push(skipped("login", not_run));
                    steps.push(skipped("messages", not_run));
                    return steps;
                }
            }
        }
        Security::Plain => {
            drop(tcp);
            steps.push(skipped("tls", "security = \"plain\": no encryption"));
        }
        // Checked as part of the login below (STLS / STARTTLS comes first there).
        Security::StartTls => drop(tcp),
    }
    let secret = match (typed, &remote.credentials) {
        (Some(typed), Credentials::Password(_)) => Ok(typed),
        _ => crate::credentials::login_secret(&ctx.tokens, profile).await,
    };
    let password = match secret {
        Ok(password) => password,
        Err(err) => {
            if remote.security == Security::StartTls {
                steps.push(skipped("tls", "not run: no password to log in with"));
            }
            steps.push(failed("login", err.to_string()));
            steps.push(skipped("messages", not_run));
            return steps;
        }
    };
    let starttls_failed = |err: &SourceError| {
        matches!(
            err,
            SourceError::StartTlsUnavailable { .. } | SourceError::Net(_)
        )
    };
    let record_login = |steps: &mut Vec<TestStep>, result: Result<(), &SourceError>| {
        if remote.security == Security::StartTls {
            match result {
                Err(err) if starttls_failed(err) => {
                    steps.push(failed("tls", err.to_string()));
                    steps.push(skipped("login", not_run));
                    return false;
                }
                _ => steps.push(passed("tls", "STARTTLS negotiated, certificate verified")),
            }
        }
        match result {
            Ok(()) => {
                steps.push(passed("login", format!("logged in as {}", remote.username)));
                true
            }
            Err(err) => {
                steps.push(failed("login", err.to_string()));
                false
            }
        }
    };
    match remote::connect_with(ctx, profile, password, tls).await {
        Ok(conn) => {
            record_login(&mut steps, Ok(()));
            steps.push(count_messages(profile, conn).await);
        }
        Err(err) => {
            record_login(&mut steps, Err(&err));
            steps.push(skipped("messages", not_run));
        }
    }
    steps
}

/// The "messages" step: what the mailbox (every folder of an IMAP profile) holds; then logs
/// out without changing anything.
async fn count_messages(profile: &Profile, conn: Connection) -> TestStep {
    match conn {
        Connection::Pop3(mut mailbox) => {
            let step = match mailbox.list().await {
                Ok(listed) => {
                    let bytes: u64 = listed.iter().filter_map(|m| m.size).sum();
                    passed(
                        "messages",
                        format!("{} message(s), {bytes} bytes", listed.len()),
                    )
                }
                Err(err) => failed("messages", err.to_string()),
            };
            let _ = mailbox.quit().await;
            step
        }
        Connection::Imap(mut conn) => {
            let mut counts = Vec::new();
            let mut error = None;
            for folder in &profile.remote.folders {
                let listed = match conn.open_folder(folder).await {
                    Ok(mut mailbox) => mailbox.list().await,
                    Err(err) => Err(err),
                };
                match listed {
                    Ok(listed) => counts.push(format!("{folder}: {}", listed.len())),
                    Err(err) => {
                        error = Some(err.to_string());
                        break;
                    }
                }
            }
            conn.logout().await;
            match error {
                None => passed("messages", counts.join(", ")),
                Some(err) => failed("messages", err),
            }
        }
    }
}
