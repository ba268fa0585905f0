//! The checks `serve` runs at start beyond the config text: the files the config names exist and
//! parse (MQTT password and TLS files, the InfluxDB token), the HTTP address resolves, the storage
//! directory can be created. They are the same functions the collector and the sink run when they
//! start; `dcpue check-config` runs them too, without binding, connecting or creating anything.

use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};

use super::locate::Seg;
use super::Config;
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

impl Config {
    /// Every check `serve` runs at start that reads more than the config text (see the module).
    pub fn check_start(&self) -> Result<(), StartError> {
        mqtt::check(&self.mqtt)?;
        if let Some(ic) = &self.influxdb {
            influx::check(ic)?;
        }
        // What binding resolves (a name or an address), without binding.
        self.http
            .listen
            .to_socket_addrs()
            .map_err(|source| StartError::Listen {
                addr: self.http.listen.clone(),
                source,
            })?;
        check_storage_dir(&self.storage.dir)
    }
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

/// The environment variable that overrides the key at `key`, if any (see `Config::apply_env`).
pub(crate) fn env_var(key: &[Seg]) -> Option<&'static str> {
    let [Seg::Key(table), Seg::Key(k)] = key else {
        return None;
    };
    Some(match (*table, *k) {
        ("mqtt", "url") => "DCPUE_MQTT_URL",
        ("mqtt", "client_id") => "DCPUE_MQTT_CLIENT_ID",
        ("http", "listen") => "DCPUE_HTTP_LISTEN",
        ("storage", "dir") => "DCPUE_STORAGE_DIR",
        ("influxdb", "url") => "DCPUE_INFLUX_URL",
        _ => return None,
    })
}

impl StartError {
    /// The config key the error is about, for its line.
    pub(crate) fn key(&self, cfg: &Config) -> [Seg<'static>; 2] {
        use Seg::Key;
        let mqtt_key = |msg: &str| {
            [
                "client_id",
                "password_file",
                "ca_file",
                "client_cert_file",
                "qos",
            ]
            .into_iter()
            .find(|k| msg.contains(k))
            .unwrap_or("url")
        };
        match self {
            StartError::Mqtt(MqttError::Url { .. }) => [Key("mqtt"), Key("url")],
            StartError::Mqtt(MqttError::File { what, .. }) => [Key("mqtt"), Key(what)],
            StartError::Mqtt(MqttError::Config(msg)) => [Key("mqtt"), Key(mqtt_key(msg))],
            StartError::Mqtt(MqttError::Tls(msg)) => {
                let m = &cfg.mqtt;
                let named = [
                    ("ca_file", &m.ca_file),
                    ("client_cert_file", &m.client_cert_file),
                    ("client_key_file", &m.client_key_file),
                ]
                .into_iter()
                .find(|(_, f)| {
                    f.as_ref()
                        .is_some_and(|f| msg.starts_with(&f.display().to_string()))
                })
                .map_or("url", |(k, _)| k);
                [Key("mqtt"), Key(named)]
            }
            StartError::Influx(SinkError::TokenFile { .. } | SinkError::EmptyToken { .. }) => {
                [Key("influxdb"), Key("token_file")]
            }
            StartError::Influx(_) => [Key("influxdb"), Key("url")],
            StartError::Listen { .. } => [Key("http"), Key("listen")],
            StartError::Storage { .. } => [Key("storage"), Key("dir")],
        }
    }
}
