//! TLS client configuration: rustls with the ring provider, TLS 1.2 and 1.3 only, trusting the
//! system's roots plus an optional `ca_file`; and certificate errors a person can act on.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ClientConfig;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsSetupError {
    #[error("cannot read CA file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("CA file {path} holds no PEM certificate")]
    CaFileEmpty { path: PathBuf },
    #[error("no trusted root certificates: the system store is empty and no ca_file was given")]
    NoRoots,
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A client configuration trusting the system roots and, if given, the certificates in `ca_file`.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let roots = root_store(ca_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The trusted roots as DER certificates: the system's plus `ca_file`'s (for the OAuth HTTP
/// client, which takes certificates rather than a rustls configuration).
pub fn root_certificates(
    ca_file: Option<&Path>,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let mut certs: Vec<CertificateDer<'static>> = rustls_native_certs::load_native_certs().certs;
    if let Some(path) = ca_file {
        certs.extend(read_ca_file(path)?);
    }
    if certs.is_empty() {
        return Err(TlsSetupError::NoRoots);
    }
    Ok(certs)
}

pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|err| TlsSetupError::CaFile {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?
        .collect::<Result<_, _>>()
        .map_err(|err| TlsSetupError::CaFile {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsSetupError::CaFileEmpty {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

fn root_store(ca_file: Option<&Path>) -> Result<RootCertStore, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A malformed certificate in the system store is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        for cert in read_ca_file(path)? {
            roots.add(cert).map_err(|err| TlsSetupError::CaFile {
                path: path.to_path_buf(),
                reason: err.to_string(),
            })?;
        }
    }
    if roots.is_empty() {
        return Err(TlsSetupError::NoRoots);
    }
    Ok(roots)
}

/// Says in plain words why a handshake failed, from the error rustls gave.
pub fn explain_handshake_error(err: &std::io::Error) -> String {
    let inner = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(cert_err)) => {
            use rustls::CertificateError as C;
            match cert_err {
                C::UnknownIssuer => "the server's certificate is not signed by a trusted authority (self-signed or private CA: set ca_file)".to_string(),
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    "the server's certificate is for another host name".to_string()
                }
                C::Expired | C::ExpiredContext { .. } => "the server's certificate has expired".to_string(),
                C::NotValidYet | C::NotValidYetContext { .. } => {
                    "the server's certificate is not valid yet (check the clock)".to_string()
                }
                C::Revoked => "the server's certificate was revoked".to_string(),
                C::BadSignature => "the server's certificate does not carry a valid signature of a trusted authority (another authority of the same name?)".to_string(),
                other => format!("the server's certificate was refused: {other:?}"),
            }
        }
        Some(rustls::Error::PeerIncompatible(why)) => {
            format!(
                "the server offers no TLS version or cipher we accept (TLS 1.2/1.3 only): {why:?}"
            )
        }
        Some(rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion)) => {
            "the server refused every TLS version we offer (TLS 1.2/1.3 only; it may speak only TLS 1.0 or 1.1, which are insecure)".to_string()
        }
        Some(other) => other.to_string(),
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::explain_handshake_error;

    fn io(err: rustls::Error) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, err)
    }

    #[test]
    fn a_protocol_version_alert_names_the_tls_versions() {
        let text = explain_handshake_error(&io(rustls::Error::AlertReceived(
            rustls::AlertDescription::ProtocolVersion,
        )));
        assert!(
            text.contains("TLS version") && text.contains("1.0 or 1.1"),
            "{text}"
        );
    }

    #[test]
    fn an_expired_certificate_is_named() {
        let text = explain_handshake_error(&io(rustls::Error::InvalidCertificate(
            rustls::CertificateError::Expired,
        )));
        assert_eq!(text, "the server's certificate has expired");
    }
}
