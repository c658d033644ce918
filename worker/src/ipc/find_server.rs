//! The first-run wizard's "find my server" ([`Request::FindServer`]): each candidate (protocol,
//! port, TLS or STARTTLS) is tried up to the encrypted connection and the server's greeting,
//! all at once, each within [`FIND_TIMEOUT`]. Nothing is logged in, fetched or changed; the
//! finding says in plain words what answered or why not.
//!
//! [`Request::FindServer`]: mailpull_shared::ipc::Request::FindServer

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mailpull_shared::ipc::{ServerCandidate, ServerFinding};
use rustls::ClientConfig;

use crate::context::PollContext;
use crate::net::{self, Stream};
use crate::pop3::{self, Pop3Client};

/// How long one candidate may take (connect, handshake, greeting each).
pub const FIND_TIMEOUT: Duration = Duration::from_secs(6);

/// Tries every candidate on `host` at once; one finding per candidate, in order.
pub async fn find_server(
    ctx: &PollContext,
    host: &str,
    ca_file: Option<&Path>,
    candidates: &[ServerCandidate],
) -> Vec<ServerFinding> {
    let tls = ctx.tls_config(ca_file).map_err(|err| err.to_string());
    let tries = candidates.iter().map(|candidate| {
        let tls = tls.clone();
        async move {
            let outcome = match tls {
                Ok(tls) => try_one(host, candidate, tls).await,
                Err(err) => Err(format!("the certificate file cannot be used: {err}")),
            };
            let (works, detail) = match outcome {
                Ok(detail) => (true, detail),
                Err(detail) => (false, detail),
            };
            ServerFinding {
                candidate: candidate.clone(),
                works,
                detail,
            }
        }
    });
    futures::future::join_all(tries).await
}

/// Connects, secures and reads the greeting of one candidate: what answered, or why not.
async fn try_one(
    host: &str,
    candidate: &ServerCandidate,
    tls: Arc<ClientConfig>,
) -> Result<String, String> {
    let port = candidate.port;
    let tcp = net::connect_tcp(host, port, FIND_TIMEOUT)
        .await
        .map_err(|err| format!("nothing answers on port {port} ({err})"))?;
    let pop3 = match candidate.protocol.as_str() {
        "pop3" => true,
        "imap" => false,
        other => return Err(format!("\"{other}\" is not POP3 or IMAP")),
    };
    let handshake = |tcp| async move {
        net::tls_handshake(tcp, host, port, tls, FIND_TIMEOUT)
            .await
            .map_err(|err| format!("answers, but the encryption failed: {err}"))
    };
    let name = if pop3 { "POP3" } else { "IMAP" };
    match candidate.security.as_str() {
        "tls" => {
            let stream = handshake(tcp).await?;
            greeting(stream, pop3).await?;
            Ok(format!("{name} with TLS answers on port {port}"))
        }
        "starttls" => {
            let plain = start_tls(Stream::Plain(tcp), pop3).await?;
            let stream = handshake(plain).await?;
            drop(stream);
            Ok(format!("{name} with STARTTLS answers on port {port}"))
        }
        other => Err(format!("\"{other}\" is not TLS or STARTTLS")),
    }
}

fn limits() -> pop3::Limits {
    pop3::Limits {
        read_timeout: FIND_TIMEOUT,
        ..pop3::Limits::default()
    }
}

/// Reads the greeting of a POP3 or IMAP server on `stream`.
async fn greeting(stream: Stream, pop3: bool) -> Result<(), String> {
    if pop3 {
        let client = Pop3Client::connect(stream, limits())
            .await
            .map_err(|err| format!("answers, but not as a POP3 server: {err}"))?;
        let _ = client.quit().await;
        return Ok(());
    }
    let mut client = async_imap::Client::new(stream);
    match tokio::time::timeout(FIND_TIMEOUT, client.read_response()).await {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => Err("answers, but closed the connection before greeting".into()),
        Ok(Err(err)) => Err(format!("answers, but not as an IMAP server: {err}")),
        Err(_) => Err("answers, but sent no greeting".into()),
    }
}

/// Reads the greeting and asks for STARTTLS (POP3: STLS when CAPA offers it); the plain
/// connection to run the handshake on.
async fn start_tls(stream: Stream, pop3: bool) -> Result<tokio::net::TcpStream, String> {
    let not_offered = || "answers, but offers no encryption (STARTTLS)".to_string();
    let stream = if pop3 {
        let mut client = Pop3Client::connect(stream, limits())
            .await
            .map_err(|err| format!("answers, but not as a POP3 server: {err}"))?;
        let caps = client.capa().await.map_err(|_| not_offered())?;
        if !caps.stls() {
            return Err(not_offered());
        }
        client.stls().await.map_err(|_| not_offered())?
    } else {
        let mut client = async_imap::Client::new(stream);
        match tokio::time::timeout(FIND_TIMEOUT, client.read_response()).await {
            Ok(Ok(Some(_))) => {}
            _ => return Err("answers, but not as an IMAP server".into()),
        }
        match tokio::time::timeout(
            FIND_TIMEOUT,
            client.run_command_and_check_ok("STARTTLS", None),
        )
        .await
        {
            Ok(Ok(())) => client.into_inner(),
            _ => return Err(not_offered()),
        }
    };
    match stream {
        Stream::Plain(tcp) => Ok(tcp),
        Stream::Tls(_) => Err(not_offered()),
    }
}
