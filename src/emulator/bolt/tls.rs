//! The Bolt listener's TLS: a CA made at start and a server certificate it signs for
//! `127.0.0.1` and `localhost`. The CA's PEM is written to a file so that the operator
//! (`--extra-ca-file`) and users' drivers can trust it, as Aura's public CA is trusted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// Making or writing the certificates failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot make the emulator's Bolt certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot build the Bolt TLS configuration: {0}")]
    Rustls(#[from] tokio_rustls::rustls::Error),
    #[error("cannot write the emulator CA to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The acceptor and where the CA certificate was written.
#[derive(Clone)]
pub struct BoltTls {
    pub acceptor: TlsAcceptor,
    pub ca_file: PathBuf,
}

impl std::fmt::Debug for BoltTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoltTls")
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "aura-operator emulator Bolt CA");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

fn server_params() -> Result<CertificateParams, rcgen::Error> {
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "aura-operator emulator Bolt");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    Ok(params)
}

/// Makes a CA and a server certificate, writes the CA's PEM to `ca_file`.
pub fn generate(ca_file: &Path) -> Result<BoltTls, TlsError> {
    let ca = CertifiedIssuer::self_signed(ca_params()?, KeyPair::generate()?)?;
    let server_key = KeyPair::generate()?;
    let server = server_params()?.signed_by(&server_key, &ca)?;
    std::fs::write(ca_file, ca.pem()).map_err(|source| TlsError::Write {
        path: ca_file.to_path_buf(),
        source,
    })?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![server.der().clone(), ca.der().clone()], key)?;
    Ok(BoltTls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_file: ca_file.to_path_buf(),
    })
}

/// Where the CA goes when no file is named: the temp directory, one file per emulator port.
pub fn default_ca_file(http_port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("aura-emulator-{http_port}-bolt-ca.pem"))
}
