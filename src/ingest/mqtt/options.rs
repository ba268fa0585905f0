//! The rumqttc options for `[mqtt]`: the broker URL, persistent session, manual acks, packet
//! size, credentials and TLS. Nothing here connects.

use std::path::Path;
use std::sync::Arc;

use rumqttc::tokio_rustls::rustls;
use rumqttc::{MqttOptions, QoS, TlsConfiguration, Transport};

use super::{ConfigProblem, MqttError, KEEP_ALIVE, MAX_PACKET};
use crate::config::{broker_url, MqttConfig};

pub(super) fn prepare(cfg: &MqttConfig) -> Result<(MqttOptions, QoS), MqttError> {
    let opts = options(cfg)?;
    let qos = match cfg.qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        2 => QoS::ExactlyOnce,
        q => return Err(ConfigProblem::Qos(q).into()),
    };
    Ok((opts, qos))
}

/// The rumqttc options for `cfg`: persistent session, manual acks, large packets, TLS.
fn options(cfg: &MqttConfig) -> Result<MqttOptions, MqttError> {
    let (tls, host, port) = parse_url(&cfg.url)?;
    if cfg.client_id.is_empty() {
        return Err(ConfigProblem::EmptyClientId.into());
    }
    let mut o = MqttOptions::new(cfg.client_id.clone(), host, port);
    o.set_keep_alive(KEEP_ALIVE)
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_max_packet_size(MAX_PACKET, MAX_PACKET);
    match (&cfg.username, &cfg.password_file) {
        (Some(user), Some(file)) => {
            let password = read_file("password_file", file)?;
            let password = String::from_utf8(password)
                .map_err(|_| ConfigProblem::PasswordNotUtf8(file.clone()))?;
            o.set_credentials(
                user.clone(),
                password.trim_end_matches(['\r', '\n']).to_string(),
            );
        }
        (Some(user), None) => {
            o.set_credentials(user.clone(), "");
        }
        (None, Some(_)) => return Err(ConfigProblem::PasswordWithoutUsername.into()),
        (None, None) => {}
    }
    if tls {
        o.set_transport(Transport::tls_with_config(tls_config(cfg)?));
    } else if cfg.ca_file.is_some()
        || cfg.client_cert_file.is_some()
        || cfg.client_key_file.is_some()
    {
        return Err(ConfigProblem::TlsFilesWithoutMqtts.into());
    }
    Ok(o)
}

/// `mqtt://host[:port]` or `mqtts://host[:port]` → (tls, host, port) ([`broker_url::parse`]).
pub fn parse_url(url: &str) -> Result<(bool, String, u16), MqttError> {
    let u = broker_url::parse(url)?;
    Ok((u.tls, u.host, u.port))
}

/// A TLS error about the file at `[mqtt]` `key`.
fn tls(key: &'static str, detail: impl std::fmt::Display) -> MqttError {
    MqttError::Tls {
        key,
        detail: detail.to_string(),
    }
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, MqttError> {
    std::fs::read(path).map_err(|source| MqttError::File {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// rustls client config: the CA from `ca_file` (else the system's CA bundle), an optional client
/// certificate. Built with an explicit crypto provider (several are linked into the binary, so
/// rustls cannot pick one by itself).
pub fn tls_config(cfg: &MqttConfig) -> Result<TlsConfiguration, MqttError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let mut roots = rustls::RootCertStore::empty();
    let (ca_pem, ca_name, ca_key) = match &cfg.ca_file {
        Some(f) => (read_file("ca_file", f)?, f.display().to_string(), "ca_file"),
        None => {
            let sys = [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
            ];
            let found = sys
                .iter()
                .find_map(|p| std::fs::read(p).ok().map(|b| (b, p.to_string(), "url")));
            found.ok_or_else(|| tls("url", "no ca_file and no system CA bundle found"))?
        }
    };
    for cert in CertificateDer::pem_slice_iter(&ca_pem) {
        let cert = cert.map_err(|e| tls(ca_key, format!("{ca_name}: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| tls(ca_key, format!("{ca_name}: {e}")))?;
    }
    if roots.is_empty() {
        return Err(tls(ca_key, format!("{ca_name}: no CA certificate in it")));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls("url", e))?
        .with_root_certificates(roots);
    let config = match (&cfg.client_cert_file, &cfg.client_key_file) {
        (Some(cf), Some(kf)) => {
            let cert_pem = read_file("client_cert_file", cf)?;
            let certs = CertificateDer::pem_slice_iter(&cert_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| tls("client_cert_file", format!("{}: {e}", cf.display())))?;
            if certs.is_empty() {
                return Err(tls(
                    "client_cert_file",
                    format!("{}: no certificate in it", cf.display()),
                ));
            }
            let key_pem = read_file("client_key_file", kf)?;
            let key = PrivateKeyDer::from_pem_slice(&key_pem)
                .map_err(|e| tls("client_key_file", format!("{}: {e}", kf.display())))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| tls("client_cert_file", e))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(ConfigProblem::CertWithoutKey.into()),
    };
    Ok(TlsConfiguration::Rustls(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("mqtt://127.0.0.1:1883").unwrap(),
            (false, "127.0.0.1".into(), 1883)
        );
        assert_eq!(
            parse_url("mqtt://broker").unwrap(),
            (false, "broker".into(), 1883)
        );
        assert_eq!(
            parse_url("mqtts://broker.example/").unwrap(),
            (true, "broker.example".into(), 8883)
        );
        assert_eq!(
            parse_url("mqtts://[::1]:9000").unwrap(),
            (true, "::1".into(), 9000)
        );
        for bad in [
            "http://x",
            "mqtt://",
            "mqtt://h:0",
            "mqtt://h:99999",
            "mqtt://u:p@h",
            "mqtt://h/x",
            "mqtt://[::1",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn options_from_config() {
        let cfg = MqttConfig {
            url: "mqtt://127.0.0.1:1999".into(),
            ..Default::default()
        };
        let o = options(&cfg).unwrap();
        assert!(!o.clean_session());
        assert!(o.manual_acks());
        assert_eq!(o.client_id(), "dcpue-1");
        // A 64 KiB payload under the longest topic fits; nothing near a 100 MB one does.
        assert!(o.max_packet_size() >= crate::ingest::MAX_PAYLOAD + 2 + 65_535 + 2);
        assert!(o.max_packet_size() < 256 * 1024);
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let cfg = MqttConfig {
            username: Some("dcpue".into()),
            password_file: Some(pw),
            ..Default::default()
        };
        let login = options(&cfg).unwrap().credentials().unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("dcpue", "s3cret")
        );
        let cfg = MqttConfig {
            username: Some("dcpue".into()),
            password_file: Some(dir.path().join("missing")),
            ..Default::default()
        };
        assert!(matches!(options(&cfg), Err(MqttError::File { .. })));
        let cfg = MqttConfig {
            url: "mqtts://127.0.0.1".into(),
            ca_file: Some(dir.path().join("pw")),
            ..Default::default()
        };
        assert!(matches!(options(&cfg), Err(MqttError::Tls { .. })));
    }
}
