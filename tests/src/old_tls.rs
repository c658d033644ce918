//! A TLS server that speaks only an old protocol version (TLS 1.0 or 1.1): `openssl s_server`
//! with the version forced and OpenSSL's security level lowered so it agrees to run at all.
//! For tests that a client refuses such a server instead of downgrading. Killed on drop.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::tls::CertPair;

/// The protocol versions [`OldTlsServer`] can be limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldTls {
    V1_0,
    V1_1,
}

impl OldTls {
    fn flag(self) -> &'static str {
        match self {
            OldTls::V1_0 => "-tls1",
            OldTls::V1_1 => "-tls1_1",
        }
    }
}

/// `openssl s_server` on 127.0.0.1 speaking only `version`.
#[derive(Debug)]
pub struct OldTlsServer {
    child: Child,
    port: u16,
}

impl OldTlsServer {
    pub fn start(version: OldTls, cert: &CertPair) -> anyhow::Result<Self> {
        let port = crate::free_port()?;
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", version.flag()])
            .args(["-cipher", "DEFAULT:@SECLEVEL=0"])
            .arg("-accept")
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&cert.cert_file)
            .arg("-key")
            .arg(&cert.key_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start openssl s_server (package openssl)")?;
        let mut server = OldTlsServer { child, port };
        if let Err(err) = crate::wait_for_port(port, Duration::from_secs(10)) {
            let _ = server.child.kill();
            return Err(err.context("openssl s_server did not listen"));
        }
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for OldTlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
