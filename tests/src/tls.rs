//! Test certificates: a private CA, a server certificate for `localhost`/127.0.0.1 it signs,
//! and deliberately bad certificates (untrusted, wrong host, expired) for TLS failure tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, date_time_ymd,
};

use crate::system::write_file;

/// A certificate and its private key, both PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPair {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// A private certificate authority plus a server certificate it issued for `DNS:localhost`
/// and `IP:127.0.0.1` (clients should dial `localhost`: some, like fetchmail, check DNS names
/// only). Files live in the directory given to [`TestCa::new`].
pub struct TestCa {
    dir: PathBuf,
    ca_file: PathBuf,
    ca_pem: String,
    server: CertPair,
    issuer: Issuer<'static, KeyPair>,
    /// Set by [`TestCa::temporary`]: the directory is removed with the CA.
    _owned_dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("dir", &self.dir)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Host names and addresses a normal test server certificate carries.
pub const SERVER_NAMES: &[&str] = &["localhost", "127.0.0.1"];

fn leaf_params(common_name: &str, names: &[&str]) -> anyhow::Result<CertificateParams> {
    let sans: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    let mut params = CertificateParams::new(sans)
        .with_context(|| format!("certificate parameters for {names:?}"))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "Mailpull tests");
    params.distinguished_name = dn;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2099, 12, 31);
    Ok(params)
}

fn write_pair(dir: &Path, stem: &str, cert_pem: &str, key: &KeyPair) -> anyhow::Result<CertPair> {
    let pair = CertPair {
        cert_file: dir.join(format!("{stem}.crt")),
        key_file: dir.join(format!("{stem}.key")),
    };
    write_file(&pair.cert_file, cert_pem.as_bytes(), 0o644)?;
    write_file(&pair.key_file, key.serialize_pem().as_bytes(), 0o600)?;
    Ok(pair)
}

impl TestCa {
    /// Creates the CA (`ca.crt`) and the localhost server certificate (`server.crt`,
    /// `server.key`) in `dir`, which must exist.
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        let ca_key = KeyPair::generate().context("generating the test CA key")?;
        let mut ca_params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Mailpull Test CA");
        dn.push(DnType::OrganizationName, "Mailpull tests");
        ca_params.distinguished_name = dn;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params.not_before = date_time_ymd(2020, 1, 1);
        ca_params.not_after = date_time_ymd(2099, 12, 31);
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .context("self-signing the test CA")?;
        let ca_pem = ca_cert.pem();
        let ca_file = dir.join("ca.crt");
        write_file(&ca_file, ca_pem.as_bytes(), 0o644)?;

        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().context("generating the server key")?;
        let server_cert = leaf_params("localhost", SERVER_NAMES)?
            .signed_by(&server_key, &issuer)
            .context("signing the server certificate")?;
        let server = write_pair(dir, "server", &server_cert.pem(), &server_key)?;
        Ok(Self {
            dir: dir.to_owned(),
            ca_file,
            ca_pem,
            server,
            issuer,
            _owned_dir: None,
        })
    }

    /// Like [`TestCa::new`] in a temp dir of its own, removed when the CA is dropped.
    pub fn temporary() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("mailpull-ca-")
            .tempdir()
            .context("creating a temp dir for the test CA")?;
        let mut ca = Self::new(dir.path())?;
        ca._owned_dir = Some(dir);
        Ok(ca)
    }

    /// The directory holding the certificate files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate (PEM) that clients should trust.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The CA certificate as PEM text.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The server certificate for localhost/127.0.0.1 (PEM).
    pub fn cert_file(&self) -> &Path {
        &self.server.cert_file
    }

    /// The server certificate's private key (PEM, PKCS#8).
    pub fn key_file(&self) -> &Path {
        &self.server.key_file
    }

    /// The server certificate and key as a pair.
    pub fn server_pair(&self) -> CertPair {
        self.server.clone()
    }

    /// Issues another certificate signed by this CA for `names` (DNS names or IP addresses),
    /// written as `{stem}.crt`/`{stem}.key` next to the CA.
    pub fn issue(&self, stem: &str, names: &[&str]) -> anyhow::Result<CertPair> {
        let key = KeyPair::generate().context("generating a key")?;
        let cert = leaf_params(names.first().copied().unwrap_or(stem), names)?
            .signed_by(&key, &self.issuer)
            .with_context(|| format!("signing a certificate for {names:?}"))?;
        write_pair(&self.dir, stem, &cert.pem(), &key)
    }

    /// A certificate from this (trusted) CA for another host (`other.invalid`): a client
    /// dialing localhost must reject it for the name mismatch.
    pub fn wrong_host(&self) -> anyhow::Result<CertPair> {
        self.issue("wrong-host", &["other.invalid"])
    }

    /// A certificate from this CA for localhost that expired in 2021.
    pub fn expired(&self) -> anyhow::Result<CertPair> {
        let key = KeyPair::generate().context("generating a key")?;
        let mut params = leaf_params("localhost", SERVER_NAMES)?;
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2021, 1, 1);
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("signing the expired cert")?;
        write_pair(&self.dir, "expired", &cert.pem(), &key)
    }

    /// A self-signed certificate for localhost/127.0.0.1 that no client trusts.
    pub fn untrusted(&self) -> anyhow::Result<CertPair> {
        self_signed(&self.dir, "untrusted", SERVER_NAMES)
    }

    /// A rustls client configuration that trusts only this CA (ring provider, no global state).
    pub fn rustls_client_config(&self) -> anyhow::Result<Arc<rustls::ClientConfig>> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots
                .add(cert.context("parsing the test CA PEM")?)
                .context("adding the test CA")?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("choosing TLS versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

/// A self-signed certificate for `names`, written as `{stem}.crt`/`{stem}.key` in `dir`.
pub fn self_signed(dir: &Path, stem: &str, names: &[&str]) -> anyhow::Result<CertPair> {
    let key = KeyPair::generate().context("generating a key")?;
    let cert = leaf_params(names.first().copied().unwrap_or(stem), names)?
        .self_signed(&key)
        .with_context(|| format!("self-signing a certificate for {names:?}"))?;
    write_pair(dir, stem, &cert.pem(), &key)
}
