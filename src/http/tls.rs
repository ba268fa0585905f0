//! HTTPS for the HTTP server (CONTRACT §11): a rustls server config from the web config's
//! `tls_server_config`. The accept loop (`server.rs`) does each handshake in the connection's
//! own task, within its `header_timeout` and its `max_connections` slot.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

/// How clients must present certificates (Go's `tls.ClientAuthType` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    NoClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

/// TLS protocol versions rustls offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// The TLS settings after validation, paths resolved against the file's directory.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub client_ca_file: Option<PathBuf>,
    pub client_auth: ClientAuth,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    pub prefer_server_order: bool,
}

/// A `min_version` / `max_version` rustls does not offer.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("{key} {name}: TLS 1.0 and 1.1 are not offered (rustls speaks TLS12 and TLS13)")]
    NotOffered { key: &'static str, name: String },
    #[error("unknown TLS version: {0}")]
    Unknown(String),
}

impl TlsVersion {
    /// A web config's version name (`TLS12`, `TLS13`); `key` names the setting in errors.
    pub fn parse(name: &str, key: &'static str) -> Result<TlsVersion, VersionError> {
        match name {
            "TLS12" => Ok(TlsVersion::Tls12),
            "TLS13" => Ok(TlsVersion::Tls13),
            "TLS10" | "TLS11" => Err(VersionError::NotOffered {
                key,
                name: name.to_string(),
            }),
            _ => Err(VersionError::Unknown(name.to_string())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {msg}")]
    File { path: String, msg: String },
    #[error("{0}")]
    Rustls(#[from] rustls::Error),
    #[error("client_ca_file: {0}")]
    ClientCa(String),
}

fn file_err(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        msg: e.to_string(),
    }
}

fn certs(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(path, e))?;
    if certs.is_empty() {
        return Err(file_err(path, "no PEM certificate in it"));
    }
    Ok(certs)
}

/// Builds the acceptor: certificate chain and key (PEM), optional client-certificate
/// verification against `client_ca_file`, protocol versions. ALPN offers HTTP/1.1 only: the
/// server speaks HTTP/1.1 (Prometheus and browsers use it when h2 is not offered).
pub fn acceptor(t: &TlsSettings) -> Result<TlsAcceptor, TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::PrivateKeyDer;

    let chain = certs(&t.cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&t.key_file).map_err(|e| file_err(&t.key_file, e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (t.min_version..=t.max_version).contains(v))
    .map(|(_, p)| p)
    .collect();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)?;
    let builder = match (t.client_auth, &t.client_ca_file) {
        (ClientAuth::NoClientCert, _) | (_, None) => builder.with_no_client_auth(),
        (mode, Some(ca)) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs(ca)? {
                roots.add(c).map_err(|e| file_err(ca, e))?;
            }
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let v = if mode == ClientAuth::VerifyClientCertIfGiven {
                v.allow_unauthenticated()
            } else {
                v
            };
            let v = v
                .build()
                .map_err(|e| TlsError::ClientCa(format!("{}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(v)
        }
    };
    let mut cfg = builder.with_single_cert(chain, key)?;
    cfg.ignore_client_order = t.prefer_server_order;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}
