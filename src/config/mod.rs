//! The TOML config of CONTRACT §2: typed, validated, with environment overrides for deployment
//! settings. Every error names the file, the line and what is wrong.
//!
//! One file per section (`mqtt.rs`, `http.rs`, `storage.rs`, `engine.rs`, `policy.rs`,
//! `facility.rs`, `alerting.rs`, `influx.rs`, `source.rs`), each with its type and its checks;
//! `validate.rs` runs them in order, `env.rs` applies the environment overrides, `checks.rs` holds
//! the checks the sections share and `limits.rs` the bounds.

use std::path::Path;

use serde::{Deserialize, Serialize};

mod alerting;
pub mod broker_url;
mod checks;
mod engine;
mod env;
mod error;
mod facility;
mod http;
mod influx;
pub mod kpi;
pub mod limits;
mod locate;
mod mqtt;
mod policy;
pub mod replacement;
mod source;
mod storage;
mod validate;

pub use crate::model::{Class, Role, Roles, Tier};
pub use alerting::{AlertConfig, AlertingConfig};
pub use checks::ValueError;
pub use engine::{EngineConfig, WindowDef};
pub use env::overridden_by;
pub use error::ConfigError;
pub use facility::{valid_id, FacilityConfig, MeterConfig};
pub use http::{HttpConfig, MAX_HTTP_CONNECTIONS};
pub use influx::{InfluxConfig, InfluxUrlError};
pub use kpi::{CertificateConfig, RenewableKind};
use locate::{Located, Seg};
pub use mqtt::MqttConfig;
pub use policy::PolicyConfig;
pub use source::{filter_matches, MapEntry, MapField, SourceConfig, SourceFormat};
pub use storage::StorageConfig;

/// The longest window the engine keeps: hourly history of 397 days (13 months and a bit).
pub const HISTORY_DAYS: i64 = 397;

/// A loaded config with the file name and text it came from ([`Config::load_with_text`]).
pub struct Loaded {
    pub config: Config,
    file: String,
    text: String,
}

impl Loaded {
    /// The file name, as errors name it.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The line of `key` in `[table]` (of its table header when the key is left to its
    /// default; line 1 when the table is too).
    pub fn line_of(&self, table: &str, key: &str) -> usize {
        Located::new(&self.text).line(&[Seg::Key(table), Seg::Key(key)])
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub mqtt: MqttConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub engine: EngineConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
    #[serde(default, rename = "facility")]
    pub facilities: Vec<FacilityConfig>,
    #[serde(default, rename = "alert")]
    pub alerts: Vec<AlertConfig>,
    #[serde(default)]
    pub alerting: AlertingConfig,
    #[serde(default)]
    pub influxdb: Option<InfluxConfig>,
    /// Gateway sources (CONTRACT §12).
    #[serde(default, rename = "source", skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceConfig>,
}

impl Config {
    /// Reads, parses, applies env overrides and validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with_text(path).map(|loaded| loaded.config)
    }

    /// [`load`](Self::load), keeping the text, so that a check made after loading (the ones
    /// `serve` runs at start) can name the line of the key it is about.
    pub fn load_with_text(path: &Path) -> Result<Loaded, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        let mut config = Config::parse(&text, &file)?;
        config.apply_env(|k| std::env::var(k).ok())?;
        Ok(Loaded { config, file, text })
    }

    /// Parses and validates `text`; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        Config::parse_located(text, &Located::new(text), file)
    }

    fn parse_located(text: &str, loc: &Located, file: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            file: file.to_string(),
            line: e.span().map_or(1, |s| loc.line_at(s.start)),
            msg: e.message().to_string(),
        })?;
        cfg.validate(loc, file)?;
        Ok(cfg)
    }

    /// The facility's PUE ceiling: its own, else by policy.
    pub fn ceiling(&self, f: &FacilityConfig) -> f64 {
        self.policy.ceiling(f)
    }

    /// GB 40879 grade of a PUE: 1, 2, 3, or None above the grade-3 bound.
    pub fn grade(&self, pue: f64) -> Option<u8> {
        self.policy.grade(pue)
    }

    pub fn facility(&self, id: &str) -> Option<&FacilityConfig> {
        self.facilities.iter().find(|f| f.id.get_ref() == id)
    }
}

#[cfg(test)]
pub(crate) mod fixture;
#[cfg(test)]
pub(crate) mod tests;
