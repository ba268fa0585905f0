//! The checks `serve` runs at start beyond the config text: the files the config names exist and
//! parse (MQTT password and TLS files, the InfluxDB token), the HTTP address resolves, the storage
//! directory can be created. They are the same functions the collector and the sink run when they
//! start; `dcpue check-config` runs them too ([`load_checked`]), without binding, connecting or
//! creating anything.

use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};

use crate::config::{overridden_by, Config, ConfigError};
use crate::ingest::mqtt::{self, MqttError};
use crate::sinks::influx::{self, SinkError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Mqtt(#[from] MqttError),
    #[error(transparent)]
    Influx(#[from] SinkError),
    #[error("http listen {addr:?}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("storage dir {}: {msg}", path.display())]
    Storage { path: PathBuf, msg: &'static str },
}

/// Loading a config for `serve` or `check-config`: the text, or a check made at start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A check `serve` runs at start failed (a file the config names, an address).
    #[error("{file}:{line}: {source}")]
    Start {
        file: String,
        line: usize,
        source: StartError,
    },
    /// The same, about a value from the environment.
    #[error("environment variable {var}: {source}")]
    StartEnv {
        var: &'static str,
        source: StartError,
    },
}

/// [`Config::load`], then every check `serve` runs at start ([`check`]: the files the config
/// names, the addresses), each error naming the line of its key, or the environment variable
/// that set it. `serve` and `check-config` load their config with it.
pub fn load_checked(path: &Path) -> Result<Config, LoadError> {
    let loaded = Config::load_with_text(path)?;
    match check(&loaded.config) {
        Ok(()) => Ok(loaded.config),
        Err(source) => {
            let (table, key) = source.key();
            Err(
                match overridden_by(table, key).filter(|v| std::env::var_os(v).is_some()) {
                    Some(var) => LoadError::StartEnv { var, source },
                    None => LoadError::Start {
                        file: loaded.file().to_string(),
                        line: loaded.line_of(table, key),
                        source,
                    },
                },
            )
        }
    }
}

/// Every check `serve` runs at start that reads more than the config text (see the module).
pub fn check(cfg: &Config) -> Result<(), StartError> {
    mqtt::check(&cfg.mqtt)?;
    if let Some(ic) = &cfg.influxdb {
        influx::check(ic)?;
    }
    // What binding resolves (a name or an address), without binding.
    cfg.http
        .listen
        .to_socket_addrs()
        .map_err(|source| StartError::Listen {
            addr: cfg.http.listen.clone(),
            source,
        })?;
    check_storage_dir(&cfg.storage.dir)
}

/// `serve` creates the directory (and its parents): it, or else its nearest existing ancestor,
/// must be a directory.
fn check_storage_dir(dir: &Path) -> Result<(), StartError> {
    let mut p = dir;
    loop {
        if let Ok(meta) = std::fs::metadata(p) {
            if meta.is_dir() {
                return Ok(());
            }
            return Err(StartError::Storage {
                path: dir.to_path_buf(),
                msg: if p == dir {
                    "exists and is not a directory"
                } else {
                    "cannot be created: a parent is not a directory"
                },
            });
        }
        match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => p = parent,
            // A relative path: its base is the working directory.
            _ => return Ok(()),
        }
    }
}

impl StartError {
    /// The config key the error is about (table, key), for its line.
    fn key(&self) -> (&'static str, &'static str) {
        match self {
            StartError::Mqtt(e) => ("mqtt", e.key()),
            StartError::Influx(SinkError::TokenFile { .. } | SinkError::EmptyToken { .. }) => {
                ("influxdb", "token_file")
            }
            StartError::Influx(_) => ("influxdb", "url"),
            StartError::Listen { .. } => ("http", "listen"),
            StartError::Storage { .. } => ("storage", "dir"),
        }
    }
}

/// The checks `serve` runs at start, through `load_checked` as `check-config` and `serve` do.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::fixture::MINIMAL;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("dcpue.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn load_err(dir: &Path, extra: &str) -> String {
        let p = write(dir, &format!("{extra}\n{MINIMAL}"));
        Config::load(&p).expect("the text alone is valid");
        load_checked(&p).unwrap_err().to_string()
    }

    #[test]
    fn files_the_config_names_must_exist_and_the_error_names_their_line() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        let file = dir.join("dcpue.toml").display().to_string();
        let missing = dir.join("missing").display().to_string();

        let not_pem = dir.join("not.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let not_pem = not_pem.display().to_string();
        let data_under_a_file = format!("{not_pem}/data");
        // (case, text before the facility, the line the error names, what the error says)
        let cases = [
            (
                "missing password file",
                format!("[mqtt]\nusername = \"u\"\npassword_file = {missing:?}\n"),
                3,
                "password_file",
            ),
            (
                "missing CA file",
                format!("[mqtt]\nurl = \"mqtts://b:8883\"\nca_file = {missing:?}\n"),
                3,
                "ca_file",
            ),
            (
                "CA file without a certificate",
                format!("[mqtt]\nurl = \"mqtts://b:8883\"\nca_file = {not_pem:?}\n"),
                3,
                "no CA certificate",
            ),
            (
                "missing client certificate",
                format!(
                    "[mqtt]\nurl = \"mqtts://b:8883\"\nclient_cert_file = {missing:?}\nclient_key_file = {missing:?}\n"
                ),
                3,
                "client_cert_file",
            ),
            (
                "missing InfluxDB token file",
                format!("[influxdb]\nurl = \"http://i:8086\"\norg = \"o\"\nbucket = \"b\"\ntoken_file = {missing:?}\n"),
                5,
                "token_file",
            ),
            (
                "storage dir under a file",
                format!("[storage]\ndir = {data_under_a_file:?}\n"),
                2,
                "storage dir",
            ),
        ];
        for (case, extra, line, says) in &cases {
            let e = load_err(dir, extra);
            assert!(
                e.starts_with(&format!("{file}:{line}:")) && e.contains(says),
                "{case}: {e}"
            );
        }

        // One file named by two keys: the error names the key whose use of it failed (here the
        // certificate given as the client key), not the first key that names the file.
        let cert = dir.join("cert.pem");
        let made = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=dcpue-test", "-keyout"])
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl (a test dependency, scripts/setup.sh installs it)");
        assert!(made.status.success(), "{made:?}");
        let cert = cert.display().to_string();
        let e = load_err(
            dir,
            &format!(
                "[mqtt]\nurl = \"mqtts://b:8883\"\nca_file = {cert:?}\nclient_cert_file = {cert:?}\nclient_key_file = {cert:?}\n"
            ),
        );
        assert!(e.starts_with(&format!("{file}:5: mqtt TLS: {cert}")), "{e}");

        let pw = dir.join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let p = write(
            dir,
            &format!(
                "[mqtt]\nusername = \"u\"\npassword_file = {:?}\n[storage]\ndir = {:?}\n{MINIMAL}",
                pw.display().to_string(),
                dir.join("new/state").display().to_string()
            ),
        );
        load_checked(&p).unwrap();
        assert!(!dir.join("new").exists(), "checking creates nothing");
    }
}
