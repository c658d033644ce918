//! TLS to the shared state's PostgreSQL: `sslmode` and `sslrootcert` in the state URL (as
//! libpq spells them), read here because tokio-postgres knows neither `verify-ca`,
//! `verify-full` nor `sslrootcert`; the connection itself is rustls (ring, TLS 1.2/1.3, as
//! every other TLS connection of the worker) through tokio-postgres's `MakeTlsConnect`.
//!
//! Modes: `verify-full` checks the certificate chain and the host name; `verify-ca` the
//! chain only; `require` encrypts without checking the certificate (as libpq: with an
//! `sslrootcert` it checks the chain, like `verify-ca`); `disable` speaks plain text.
//! `prefer` and `allow` are refused: they fall back to plain text without a word. **Default**
//! (no `sslmode`): `verify-full` for every host but the loopback (`localhost`, 127.0.0.0/8,
//! `::1`, a Unix socket), where nothing crosses a network and plain text stays the default.
//! Roots: the certificates in `sslrootcert`'s file, or the system's (also with
//! `sslrootcert=system`).

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{VerifierBuilderError, WebPkiServerVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use crate::state::error::StateError;

/// How the connection to the database is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Security {
    Disable,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Security {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Security::Disable => "disable",
            Security::Require => "require",
            Security::VerifyCa => "verify-ca",
            Security::VerifyFull => "verify-full",
        }
    }
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Roots {
    System,
    File(PathBuf),
}

/// The state URL without the TLS parameters (for tokio-postgres), and what they said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsParams {
    pub(crate) url: String,
    pub(crate) mode: Option<Security>,
    pub(crate) root: Option<Roots>,
}

fn refused(message: String) -> StateError {
    StateError::Shared { message }
}

/// Takes `sslmode` and `sslrootcert` out of the URL's query (`?a=b&c=d`, values
/// percent-decoded); the rest is left for tokio-postgres.
pub(crate) fn split_params(url: &str) -> Result<TlsParams, StateError> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut kept = Vec::new();
    let (mut mode, mut root) = (None, None);
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => {
                mode = Some(match value {
                    "disable" => Security::Disable,
                    "require" => Security::Require,
                    "verify-ca" => Security::VerifyCa,
                    "verify-full" => Security::VerifyFull,
                    "prefer" | "allow" => {
                        return Err(refused(format!(
                            "the state URL's sslmode={value} falls back to an unencrypted connection without a word: write sslmode=verify-full (or require, verify-ca, disable)"
                        )));
                    }
                    other => {
                        return Err(refused(format!(
                            "the state URL's sslmode={other:?} is not one of disable, require, verify-ca, verify-full"
                        )));
                    }
                });
            }
            "sslrootcert" => {
                let path = percent_decode(value)?;
                root = Some(match path.as_str() {
                    "" => {
                        return Err(refused(
                            "the state URL's sslrootcert= names no file".to_string(),
                        ));
                    }
                    "system" => Roots::System,
                    _ => Roots::File(PathBuf::from(path)),
                });
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok(TlsParams { url, mode, root })
}

fn percent_decode(text: &str) -> Result<String, StateError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| {
                    refused(format!(
                        "the state URL's sslrootcert={text:?} has a bad %-escape"
                    ))
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| refused(format!("the state URL's sslrootcert={text:?} is not UTF-8")))
}

/// Whether every host of `config` is this machine (plain text is the default only there).
pub(crate) fn loopback_only(config: &tokio_postgres::Config) -> bool {
    config.get_hosts().iter().all(|host| match host {
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        Host::Unix(_) => true,
    })
}

/// The connector for `mode` (also set on `config`): `None` for plain text.
pub(crate) fn connector(
    config: &mut tokio_postgres::Config,
    mode: Security,
    root: Option<&Roots>,
) -> Result<Option<RustlsConnect>, StateError> {
    if mode == Security::Disable {
        config.ssl_mode(SslMode::Disable);
        return Ok(None);
    }
    config.ssl_mode(SslMode::Require);
    let roots = || -> Result<RootCertStore, StateError> {
        let certs: Vec<CertificateDer<'static>> = match root {
            Some(Roots::File(path)) => crate::tls::read_ca_file(path)
                .map_err(|err| refused(format!("sslrootcert: {err}")))?,
            None | Some(Roots::System) => rustls_native_certs::load_native_certs().certs,
        };
        let mut store = RootCertStore::empty();
        let (added, _) = store.add_parsable_certificates(certs);
        if added == 0 {
            return Err(refused(
                "no trusted root certificate for the database (the system store is empty): set sslrootcert= in the state URL".to_string(),
            ));
        }
        Ok(store)
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, root) {
        (Security::Require, None) => Arc::new(Unverified(provider.clone())),
        (Security::VerifyFull, _) => webpki(roots()?, &provider)?,
        _ => Arc::new(ChainOnly(webpki(roots()?, &provider)?)),
    };
    let tls = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|err| refused(format!("TLS configuration: {err}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Some(RustlsConnect(Arc::new(tls))))
}

fn webpki(
    roots: RootCertStore,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, StateError> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|err: VerifierBuilderError| refused(format!("TLS roots: {err}")))
}

/// `verify-ca`: the chain is checked, the host name is not.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `require` without `sslrootcert`: encrypted, the certificate not checked (the handshake's
/// signatures still are).
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// tokio-postgres's `MakeTlsConnect` over rustls.
#[derive(Clone)]
pub(crate) struct RustlsConnect(Arc<ClientConfig>);

/// One connection's handshake, for `host`.
pub(crate) struct RustlsHandshake {
    config: Arc<ClientConfig>,
    host: String,
}

impl<S> MakeTlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsHandshake;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsHandshake, io::Error> {
        Ok(RustlsHandshake {
            config: self.0.clone(),
            host: domain.to_string(),
        })
    }
}

impl<S> TlsConnect<S> for RustlsHandshake
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let name = ServerName::try_from(self.host.clone()).map_err(|_| {
                io::Error::other(format!("{:?} is not a host name for TLS", self.host))
            })?;
            let connector = tokio_rustls::TlsConnector::from(self.config);
            match connector.connect(name, stream).await {
                Ok(tls) => Ok(RustlsStream(Box::new(tls))),
                Err(err) => Err(io::Error::other(format!(
                    "TLS with {}: {}",
                    self.host,
                    crate::tls::explain_handshake_error(&err)
                        .replace("ca_file", "sslrootcert= in the state URL")
                ))),
            }
        })
    }
}

/// A TLS connection to the database.
pub(crate) struct RustlsStream<S>(Box<tokio_rustls::client::TlsStream<S>>);

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // No tls-server-end-point binding: its hash depends on the certificate's signature
        // algorithm; SCRAM without channel binding (the server's certificate is what
        // `verify-full` checks).
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> tokio_postgres::Config {
        split_params(url)
            .expect("params")
            .url
            .parse()
            .expect("tokio-postgres parses the rest")
    }

    #[test]
    fn the_tls_parameters_are_taken_out_of_the_url() {
        let p = split_params(
            "postgres://u@db.example:5432/mp?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem",
        )
        .expect("params");
        assert_eq!(p.url, "postgres://u@db.example:5432/mp?application_name=x");
        assert_eq!(p.mode, Some(Security::VerifyFull));
        assert_eq!(p.root, Some(Roots::File(PathBuf::from("/etc/ca.pem"))));
        let p = split_params("postgres://u@h/db?sslmode=require&sslrootcert=system").expect("p");
        assert_eq!(
            (p.mode, p.root),
            (Some(Security::Require), Some(Roots::System))
        );
        assert_eq!(p.url, "postgres://u@h/db");
        let p = split_params("postgres://u@h/db").expect("none");
        assert_eq!((p.mode, p.root), (None, None));
    }

    #[test]
    fn fallback_modes_and_unknown_values_are_refused_in_words() {
        for (url, words) in [
            (
                "postgres://u@h/db?sslmode=prefer",
                "falls back to an unencrypted",
            ),
            (
                "postgres://u@h/db?sslmode=allow",
                "falls back to an unencrypted",
            ),
            (
                "postgres://u@h/db?sslmode=on",
                "is not one of disable, require",
            ),
            ("postgres://u@h/db?sslrootcert=", "names no file"),
            ("postgres://u@h/db?sslrootcert=%zz", "bad %-escape"),
        ] {
            let err = split_params(url).expect_err(url).to_string();
            assert!(err.contains(words), "{url}: {err}");
        }
    }

    #[test]
    fn only_this_machine_is_loopback() {
        for url in [
            "postgres://u@localhost/db",
            "postgres://u@127.0.0.1:5432/db",
            "postgres://u@127.8.0.1/db",
            "postgres://u@[::1]:5432/db",
        ] {
            assert!(loopback_only(&parsed(url)), "{url}");
        }
        for url in [
            "postgres://u@db.example/db",
            "postgres://u@10.0.0.5/db",
            "postgres://u@localhost,db.example/db",
        ] {
            assert!(!loopback_only(&parsed(url)), "{url}");
        }
    }

    #[test]
    fn a_missing_root_file_is_named() {
        let mut config = parsed("postgres://u@db.example/db");
        let err = connector(
            &mut config,
            Security::VerifyFull,
            Some(&Roots::File(PathBuf::from("/nonexistent/ca.pem"))),
        )
        .err()
        .expect("no such file")
        .to_string();
        assert!(
            err.contains("sslrootcert") && err.contains("/nonexistent/ca.pem"),
            "{err}"
        );
        let mut config = parsed("postgres://u@db.example/db");
        assert!(
            connector(&mut config, Security::Require, None)
                .expect("require")
                .is_some()
        );
        assert!(
            connector(&mut config, Security::Disable, None)
                .expect("disable")
                .is_none()
        );
    }
}
