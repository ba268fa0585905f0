//! The Prometheus web configuration file (`[http] web_config_file`, CONTRACT §11), read as
//! Prometheus' exporter-toolkit reads it, so a site's file for node_exporter or Prometheus works
//! unchanged: `tls_server_config`, `http_server_config`, `basic_auth_users` (bcrypt hashes).
//! Unknown keys are an error; file paths inside it are relative to the file's own directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use serde::Deserialize;

use super::auth::Auth;
use super::tls::{self, ClientAuth, TlsSettings, TlsVersion};
use crate::config::HttpConfig;

/// A web config file larger than this is not a web config.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// The highest bcrypt cost accepted: each login (until cached) costs 2^cost rounds; 16 is
/// already seconds per check.
pub const MAX_BCRYPT_COST: u32 = 16;

#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("web_config_file {path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("web_config_file {path}: {msg}")]
    Invalid { path: PathBuf, msg: String },
    #[error("web_config_file {path}: {source}")]
    Tls {
        path: PathBuf,
        source: tls::TlsError,
    },
}

/// The file as written (exporter-toolkit's schema).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    pub tls_server_config: Option<TlsServerConfig>,
    pub http_server_config: Option<HttpServerConfig>,
    pub basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsServerConfig {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub client_ca_file: Option<PathBuf>,
    pub client_auth_type: Option<String>,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    pub prefer_server_cipher_suites: Option<bool>,
    // Known to exporter-toolkit, refused here with a reason rather than silently ignored.
    pub cipher_suites: Option<serde_yaml_ng::Value>,
    pub curve_preferences: Option<serde_yaml_ng::Value>,
    pub client_allowed_sans: Option<serde_yaml_ng::Value>,
    pub cert: Option<serde_yaml_ng::Value>,
    pub key: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Accepted for compatibility; dcpue serves HTTP/1.1 either way.
    pub http2: Option<bool>,
    pub headers: Option<serde_yaml_ng::Value>,
}

/// What dcpue serves with: optional TLS, optional users.
#[derive(Clone, Default)]
pub struct Web {
    pub auth: Option<Arc<Auth>>,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// TLS demands a client certificate signed by `client_ca_file` (RequireAndVerifyClientCert).
    pub client_certs_required: bool,
}

impl Web {
    /// Whether a client must prove who it is: a password, or a verified certificate.
    pub fn authenticates(&self) -> bool {
        self.auth.is_some() || self.client_certs_required
    }
}

impl WebConfig {
    /// Parses YAML text (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<WebConfig, WebConfigError> {
        if text.trim().is_empty() {
            return Ok(WebConfig::default());
        }
        serde_yaml_ng::from_str(text).map_err(|e| WebConfigError::Invalid {
            path: path.to_path_buf(),
            msg: e.to_string(),
        })
    }

    /// Reads and parses the file.
    pub fn read(path: &Path) -> Result<WebConfig, WebConfigError> {
        let read_err = |source| WebConfigError::Read {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(WebConfigError::Invalid {
                path: path.to_path_buf(),
                msg: format!("larger than {MAX_FILE_BYTES} bytes"),
            });
        }
        let text = std::fs::read_to_string(path).map_err(read_err)?;
        WebConfig::parse(&text, path)
    }

    /// The users, each hash checked to be bcrypt (`$2a$`, `$2b$`, `$2x$`, `$2y$`) of a sane cost.
    pub fn users(&self, path: &Path) -> Result<BTreeMap<String, String>, WebConfigError> {
        let invalid = |msg: String| WebConfigError::Invalid {
            path: path.to_path_buf(),
            msg,
        };
        let mut out = BTreeMap::new();
        for (user, hash) in self.basic_auth_users.iter().flatten() {
            if user.is_empty() || user.contains(':') {
                return Err(invalid(format!(
                    "basic_auth_users: user name {user:?} must be non-empty and without ':'"
                )));
            }
            let parts = bcrypt::HashParts::from_str(hash).map_err(|e| {
                invalid(format!(
                    "basic_auth_users: {user:?}: not a bcrypt hash ({e}); make one with \
                     `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
                ))
            })?;
            if parts.get_cost() > MAX_BCRYPT_COST {
                return Err(invalid(format!(
                    "basic_auth_users: {user:?}: bcrypt cost {} is above {MAX_BCRYPT_COST} (every \
                     login would take seconds of CPU)",
                    parts.get_cost()
                )));
            }
            out.insert(user.clone(), hash.clone());
        }
        Ok(out)
    }

    /// The TLS settings, or `None` when TLS is off (no `tls_server_config`, or one without any
    /// certificate setting, as exporter-toolkit treats it).
    pub fn tls(&self, path: &Path) -> Result<Option<TlsSettings>, WebConfigError> {
        let invalid = |msg: String| WebConfigError::Invalid {
            path: path.to_path_buf(),
            msg: format!("tls_server_config: {msg}"),
        };
        let Some(t) = &self.tls_server_config else {
            return Ok(None);
        };
        for (set, key, why) in [
            (
                t.cipher_suites.is_some(),
                "cipher_suites",
                "rustls offers only its own safe suites",
            ),
            (
                t.curve_preferences.is_some(),
                "curve_preferences",
                "rustls picks its own safe groups",
            ),
            (
                t.client_allowed_sans.is_some(),
                "client_allowed_sans",
                "not supported by dcpue",
            ),
            (
                t.cert.is_some() || t.key.is_some(),
                "cert/key",
                "inline certificates are not supported: use cert_file and key_file",
            ),
        ] {
            if set {
                return Err(invalid(format!("{key}: {why}")));
            }
        }
        let headers = self
            .http_server_config
            .as_ref()
            .is_some_and(|h| h.headers.is_some());
        if headers {
            return Err(WebConfigError::Invalid {
                path: path.to_path_buf(),
                msg: "http_server_config: headers: not supported by dcpue".into(),
            });
        }
        let auth_type = t.client_auth_type.as_deref().unwrap_or("");
        if t.cert_file.is_none()
            && t.key_file.is_none()
            && auth_type.is_empty()
            && t.client_ca_file.is_none()
        {
            return Ok(None);
        }
        let client_auth = match auth_type {
            "" | "NoClientCert" => ClientAuth::NoClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            "RequestClientCert" | "RequireAnyClientCert" | "RequireClientCert" => {
                return Err(invalid(format!(
                    "client_auth_type {auth_type}: unverified client certificates are not \
                     supported; use VerifyClientCertIfGiven or RequireAndVerifyClientCert with \
                     client_ca_file"
                )))
            }
            other => return Err(invalid(format!("Invalid ClientAuth: {other}"))),
        };
        if t.client_ca_file.is_some() && client_auth == ClientAuth::NoClientCert {
            return Err(invalid(
                "Client CA's have been configured without a Client Auth Policy".into(),
            ));
        }
        if t.client_ca_file.is_none() && client_auth != ClientAuth::NoClientCert {
            return Err(invalid(format!(
                "client_auth_type {auth_type} needs client_ca_file"
            )));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &PathBuf| base.join(p);
        let cert_file = t
            .cert_file
            .as_ref()
            .map(resolve)
            .ok_or_else(|| invalid("missing cert_file".into()))?;
        let key_file = t
            .key_file
            .as_ref()
            .map(resolve)
            .ok_or_else(|| invalid("missing key_file".into()))?;
        let min_version = match &t.min_version {
            Some(v) => TlsVersion::parse(v, "min_version").map_err(|e| invalid(e.to_string()))?,
            None => TlsVersion::Tls12,
        };
        let max_version = match &t.max_version {
            Some(v) => TlsVersion::parse(v, "max_version").map_err(|e| invalid(e.to_string()))?,
            None => TlsVersion::Tls13,
        };
        if min_version > max_version {
            return Err(invalid("min_version is above max_version".into()));
        }
        Ok(Some(TlsSettings {
            cert_file,
            key_file,
            client_ca_file: t.client_ca_file.as_ref().map(resolve),
            client_auth,
            min_version,
            max_version,
            prefer_server_order: t.prefer_server_cipher_suites.unwrap_or(true),
        }))
    }
}

/// Loads `[http] web_config_file` (if any) into what the server runs with: the TLS acceptor
/// (certificates loaded now, so a bad file stops the start) and the users with their scopes.
pub fn load(http: &HttpConfig, failures: prometheus::IntCounter) -> Result<Web, WebConfigError> {
    let Some(path) = &http.web_config_file else {
        return Ok(Web::default());
    };
    let wc = WebConfig::read(path)?;
    let users = wc.users(path)?;
    let settings = wc.tls(path)?;
    let client_certs_required = settings
        .as_ref()
        .is_some_and(|t| t.client_auth == ClientAuth::RequireAndVerifyClientCert);
    let tls = match settings {
        Some(t) => Some(tls::acceptor(&t).map_err(|source| WebConfigError::Tls {
            path: path.clone(),
            source,
        })?),
        None => None,
    };
    if users.is_empty() && !http.access.is_empty() {
        return Err(WebConfigError::Invalid {
            path: path.clone(),
            msg: "[http.access] is set but basic_auth_users is empty (without users every \
                  request sees every facility)"
                .into(),
        });
    }
    for user in http.access.keys() {
        if !users.contains_key(user) {
            return Err(WebConfigError::Invalid {
                path: path.clone(),
                msg: format!("[http.access] names {user:?}, which is not in basic_auth_users"),
            });
        }
    }
    let auth = if users.is_empty() {
        None
    } else {
        Some(Arc::new(Auth::new(users, &http.access, failures)))
    };
    Ok(Web {
        auth,
        tls,
        client_certs_required,
    })
}

/// Whether `listen` (host:port) is reachable only from this machine.
pub fn is_loopback(listen: &str) -> bool {
    if let Ok(a) = listen.parse::<std::net::SocketAddr>() {
        return a.ip().is_loopback();
    }
    let host = listen.rsplit_once(':').map_or(listen, |(h, _)| h);
    host.eq_ignore_ascii_case("localhost")
}

/// The start-up (and `check-config`) warning for a server reachable beyond loopback without
/// users (or required client certificates) or without TLS.
pub fn exposure_warning(listen: &str, web: &Web) -> Option<String> {
    if is_loopback(listen) {
        return None;
    }
    let missing = match (web.authenticates(), web.tls.is_some()) {
        (true, true) => return None,
        (false, false) => "without basic_auth_users and without TLS: anyone who can reach it reads every facility's data, in clear text",
        (false, true) => "without basic_auth_users: anyone who can reach it reads every facility's data",
        (true, false) => "without TLS: passwords and data cross the network in clear text",
    };
    Some(format!(
        "http listens on {listen}, beyond loopback, {missing} (set [http] web_config_file: \
         tls_server_config and basic_auth_users)"
    ))
}

/// For `check-config`: loads the web config as `serve` does and returns the warnings.
pub fn check(http: &HttpConfig) -> Result<Vec<String>, WebConfigError> {
    let web = load(http, super::auth::failures_counter())?;
    Ok(exposure_warning(&http.listen, &web).into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebConfig, WebConfigError> {
        WebConfig::parse(text, Path::new("/etc/dcpue/web.yml"))
    }

    const HASH: &str = "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG";

    #[test]
    fn node_exporter_file_parses_and_paths_are_relative_to_it() {
        let wc = parse(&format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: /abs/server.key\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  \
             min_version: TLS13\nhttp_server_config:\n  http2: false\nbasic_auth_users:\n  \
             prometheus: {HASH}\n"
        ))
        .unwrap();
        let path = Path::new("/etc/dcpue/web.yml");
        let t = wc.tls(path).unwrap().unwrap();
        assert_eq!(t.cert_file, Path::new("/etc/dcpue/server.crt"));
        assert_eq!(t.key_file, Path::new("/abs/server.key"));
        assert_eq!(
            t.client_ca_file.as_deref(),
            Some(Path::new("/etc/dcpue/ca.crt"))
        );
        assert_eq!(t.client_auth, ClientAuth::RequireAndVerifyClientCert);
        assert_eq!(t.min_version, TlsVersion::Tls13);
        assert_eq!(wc.users(path).unwrap().len(), 1);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = parse("basic_auth_user:\n  a: b\n").unwrap_err().to_string();
        assert!(e.contains("unknown field `basic_auth_user`"), "{e}");
        let e = parse("tls_server_config:\n  certfile: a\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `certfile`"), "{e}");
    }

    #[test]
    fn a_hash_that_is_not_bcrypt_is_an_error() {
        let path = Path::new("web.yml");
        let wc = parse("basic_auth_users:\n  alice: secret\n").unwrap();
        let e = wc.users(path).unwrap_err().to_string();
        assert!(e.contains("\"alice\": not a bcrypt hash"), "{e}");
        let expensive = HASH.replace("$10$", "$31$");
        let wc = parse(&format!("basic_auth_users:\n  alice: '{expensive}'\n")).unwrap();
        let e = wc.users(path).unwrap_err().to_string();
        assert!(e.contains("cost 31"), "{e}");
    }

    #[test]
    fn tls_settings_are_checked_as_exporter_toolkit_does() {
        let path = Path::new("web.yml");
        let err = |text: &str| parse(text).unwrap().tls(path).unwrap_err().to_string();
        assert!(err("tls_server_config:\n  key_file: k\n").contains("missing cert_file"));
        assert!(err("tls_server_config:\n  cert_file: c\n").contains("missing key_file"));
        assert!(
            err("tls_server_config:\n  cert_file: c\n  key_file: k\n  client_ca_file: ca\n")
                .contains("Client CA's have been configured without a Client Auth Policy")
        );
        assert!(err(
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: Bogus\n"
        )
        .contains("Invalid ClientAuth: Bogus"));
        assert!(
            err("tls_server_config:\n  cert_file: c\n  key_file: k\n  min_version: TLS10\n")
                .contains("TLS12 and TLS13")
        );
        assert!(
            err("tls_server_config:\n  cert_file: c\n  key_file: k\n  cipher_suites: [X]\n")
                .contains("cipher_suites")
        );
        // An empty tls_server_config is TLS off, as in exporter-toolkit.
        assert!(parse("tls_server_config: {}\n")
            .unwrap()
            .tls(path)
            .unwrap()
            .is_none());
        assert!(parse("").unwrap().tls(path).unwrap().is_none());
    }

    #[test]
    fn exposure_warning_only_beyond_loopback_without_users_or_tls() {
        let web = Web::default();
        assert!(exposure_warning("127.0.0.1:9184", &web).is_none());
        assert!(exposure_warning("[::1]:9184", &web).is_none());
        assert!(exposure_warning("localhost:9184", &web).is_none());
        let w = exposure_warning("0.0.0.0:9184", &web).unwrap();
        assert!(
            w.contains("without basic_auth_users and without TLS"),
            "{w}"
        );
        assert!(exposure_warning("192.0.2.1:9184", &web).is_some());
    }
}
