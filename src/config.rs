//! The TOML config of CONTRACT §2: typed, validated, with environment overrides for deployment
//! settings. Every error names the file, the line and what is wrong.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::duration::{parse_span, Span};

pub mod kpi;
mod locate;
pub mod replacement;
mod source;
mod start;

pub use kpi::{CertificateConfig, RenewableKind};
use locate::{Located, Seg};
pub use source::{filter_matches, MapEntry, MapField, SourceConfig, SourceFormat};
pub use start::StartError;

/// The longest window the engine keeps: hourly history of 397 days (13 months and a bit).
pub const HISTORY_DAYS: i64 = 397;

/// Bounds on what a config may hold (every size and count from outside has one).
pub mod limits {
    /// Characters of a facility or meter id (`[a-z0-9_-]+`).
    pub const ID_LEN: usize = 64;
    /// Characters of a name, city, username, InfluxDB org or bucket.
    pub const TEXT_LEN: usize = 256;
    /// Characters of a URL.
    pub const URL_LEN: usize = 2048;
    /// Characters of the MQTT client id.
    pub const CLIENT_ID_LEN: usize = 128;
    /// Bytes of the MQTT topic prefix.
    pub const TOPIC_PREFIX_LEN: usize = 256;
    /// `[[facility]]` entries.
    pub const FACILITIES: usize = 256;
    /// `[[facility.meter]]` entries of one facility.
    pub const METERS_PER_FACILITY: usize = 256;
    /// Meters over all facilities.
    pub const METERS: usize = 4096;
    /// `engine.windows` entries.
    pub const WINDOWS: usize = 16;
    /// `[[alert]]` entries.
    pub const ALERTS: usize = 256;
    /// `alerting.alertmanagers` and `alerting.webhooks` entries, each.
    pub const RECEIVERS: usize = 32;
    /// `[[source]]` entries (CONTRACT §12).
    pub const SOURCES: usize = 64;
    /// `[[source.map]]` entries of one source.
    pub const SOURCE_MAPS: usize = 4096;
    /// Bytes of a `[[source.map]]` key.
    pub const SOURCE_KEY_LEN: usize = 512;
    /// `tags` of one `[[source.map]]` entry.
    pub const SOURCE_TAGS: usize = 32;
    /// InfluxDB `batch_size` (points per write request).
    pub const INFLUX_BATCH: usize = 100_000;
    /// InfluxDB `memory_points`.
    pub const INFLUX_MEMORY_POINTS: usize = 10_000_000;
    /// `[[facility.certificate]]` entries of one facility (a hundred years of months).
    pub const CERTIFICATES_PER_FACILITY: usize = 1200;
}

/// The longest duration any key takes: the history kept.
const MAX_SPAN: Span = Span(HISTORY_DAYS * Span::DAY.0);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {msg}")]
    Invalid {
        file: String,
        line: usize,
        msg: String,
    },
    #[error("environment variable {var}: {msg}")]
    Env { var: String, msg: String },
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

/// `storage.checkpoint_every`: at least a second.
fn check_checkpoint_every(span: Span) -> Result<(), String> {
    if span < Span(1000) {
        return Err(format!(
            "checkpoint_every {span} is shorter than 1s (each checkpoint rewrites the whole state)"
        ));
    }
    Ok(())
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    #[serde(default = "d_mqtt_url")]
    pub url: String,
    #[serde(default = "d_client_id")]
    pub client_id: String,
    #[serde(default = "d_prefix")]
    pub topic_prefix: String,
    #[serde(default = "d_qos")]
    pub qos: u8,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}
fn d_mqtt_url() -> String {
    "mqtt://127.0.0.1:1883".into()
}
fn d_client_id() -> String {
    "dcpue-1".into()
}
fn d_prefix() -> String {
    "dc".into()
}
fn d_qos() -> u8 {
    1
}
impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            url: d_mqtt_url(),
            client_id: d_client_id(),
            topic_prefix: d_prefix(),
            qos: d_qos(),
            username: None,
            password_file: None,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "d_listen")]
    pub listen: String,
    /// A Prometheus web configuration file (TLS, basic-auth users), as node_exporter reads.
    #[serde(default)]
    pub web_config_file: Option<PathBuf>,
    /// Users who see only some facilities: user → facility ids (CONTRACT §11).
    #[serde(default)]
    pub access: std::collections::BTreeMap<String, Vec<String>>,
    /// A client that has not sent its request headers by then is dropped (also an idle
    /// keep-alive connection between requests).
    #[serde(default = "d_header_timeout")]
    pub header_timeout: Span,
    /// Connections served at once; beyond it new ones wait in the listen backlog.
    #[serde(default = "d_max_connections")]
    pub max_connections: usize,
}
fn d_listen() -> String {
    "127.0.0.1:9184".into()
}
fn d_header_timeout() -> Span {
    Span(10_000)
}
fn d_max_connections() -> usize {
    512
}
/// Upper bound of `http.max_connections` (each connection is a file descriptor).
pub const MAX_HTTP_CONNECTIONS: usize = 65_536;
impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: d_listen(),
            web_config_file: None,
            access: Default::default(),
            header_timeout: d_header_timeout(),
            max_connections: d_max_connections(),
        }
    }
}

/// `http.header_timeout`: more than zero, at most an hour.
fn check_header_timeout(span: Span) -> Result<(), String> {
    if span <= Span(0) || span > Span::HOUR {
        return Err(format!(
            "header_timeout {span} must be more than 0 and at most 1h"
        ));
    }
    Ok(())
}

/// `http.max_connections`: at least 1, at most [`MAX_HTTP_CONNECTIONS`].
fn check_max_connections(n: usize) -> Result<(), String> {
    if !(1..=MAX_HTTP_CONNECTIONS).contains(&n) {
        return Err(format!(
            "max_connections {n} must be between 1 and {MAX_HTTP_CONNECTIONS}"
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default = "d_dir")]
    pub dir: PathBuf,
    /// How often the engine's state is checkpointed (also when the log passes 64 MiB, and at
    /// shutdown).
    #[serde(default = "d_checkpoint_every")]
    pub checkpoint_every: Span,
}
fn d_dir() -> PathBuf {
    PathBuf::from("data")
}
fn d_checkpoint_every() -> Span {
    Span(10 * Span::MINUTE.0)
}
impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            dir: d_dir(),
            checkpoint_every: d_checkpoint_every(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    #[serde(default = "d_tz")]
    pub timezone: String,
    #[serde(default = "d_max_gap")]
    pub max_gap: Span,
    #[serde(default = "d_lateness")]
    pub allowed_lateness: Span,
    #[serde(default = "d_max_lag")]
    pub max_lag: Span,
    #[serde(default = "d_min_cov")]
    pub min_coverage: f64,
    #[serde(default = "d_windows")]
    pub windows: Vec<Spanned<String>>,
    #[serde(default = "d_compliance")]
    pub compliance_window: Spanned<String>,
    /// Wall-clock silence after which a meter is stale (CONTRACT §5 MeterStale), default 5m.
    #[serde(default = "d_stale")]
    pub stale_after: Span,
    /// Plausibility bound of every meter without its own `max_power_kw` (CONTRACT §10), kW.
    #[serde(default = "d_max_power_kw")]
    pub max_power_kw: f64,
}
fn d_max_power_kw() -> f64 {
    1_000_000.0
}
fn d_tz() -> String {
    "Asia/Shanghai".into()
}
fn d_max_gap() -> Span {
    Span(5 * 60_000)
}
fn d_lateness() -> Span {
    Span(10 * 60_000)
}
fn d_max_lag() -> Span {
    Span::HOUR
}
fn d_min_cov() -> f64 {
    0.9
}
fn d_stale() -> Span {
    Span(5 * 60_000)
}
fn d_windows() -> Vec<Spanned<String>> {
    ["15m", "1h", "24h", "30d", "365d"]
        .iter()
        .map(|s| Spanned::new(0..0, s.to_string()))
        .collect()
}
fn d_compliance() -> Spanned<String> {
    Spanned::new(0..0, "365d".to_string())
}
impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            timezone: d_tz(),
            max_gap: d_max_gap(),
            allowed_lateness: d_lateness(),
            max_lag: d_max_lag(),
            min_coverage: d_min_cov(),
            windows: d_windows(),
            compliance_window: d_compliance(),
            stale_after: d_stale(),
            max_power_kw: d_max_power_kw(),
        }
    }
}

/// Policy numbers: 赣发〔2022〕4号 and GB 40879-2021. Defaults are the published values.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Facilities commissioned on or after this date are "new".
    #[serde(default = "d_new_since")]
    pub new_since: NaiveDate,
    /// The ceiling of new large and ultra-large data centres.
    #[serde(default = "d_new_ceiling")]
    pub new_large_ceiling: f64,
    /// GB 40879-2021 grade bounds on the annual energy ratio: grade 1, 2, 3 (the legal limit).
    #[serde(default = "d_grades")]
    pub grade_bounds: [f64; 3],
    /// kg CO2 per kWh of grid electricity, for CUE (CONTRACT §14); no default: CUE is null
    /// without it.
    #[serde(default)]
    pub grid_emission_factor: Option<f64>,
}
fn d_new_since() -> NaiveDate {
    NaiveDate::from_ymd_opt(2022, 1, 30).expect("valid date")
}
fn d_new_ceiling() -> f64 {
    1.3
}
fn d_grades() -> [f64; 3] {
    [1.2, 1.3, 1.5]
}
impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            new_since: d_new_since(),
            new_large_ceiling: d_new_ceiling(),
            grade_bounds: d_grades(),
            grid_emission_factor: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Core,
    Supplementary,
    Backup,
}
impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Core => "core",
            Tier::Supplementary => "supplementary",
            Tier::Backup => "backup",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    UltraLarge,
    Large,
    Medium,
    Small,
}
impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::UltraLarge => "ultra-large",
            Class::Large => "large",
            Class::Medium => "medium",
            Class::Small => "small",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Total,
    It,
    Renewable,
    /// A cumulative water register (`volume_m3`), for WUE (CONTRACT §14).
    Water,
    /// Heat energy delivered for reuse outside the data centre, for ERF (CONTRACT §14).
    ReusedHeat,
}
impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Total => "total",
            Role::It => "it",
            Role::Renewable => "renewable",
            Role::Water => "water",
            Role::ReusedHeat => "reused_heat",
        }
    }
}

/// `role = "it"` or `role = ["total", "renewable"]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Roles {
    One(Role),
    Many(Vec<Role>),
}
impl Roles {
    pub fn list(&self) -> Vec<Role> {
        match self {
            Roles::One(r) => vec![*r],
            Roles::Many(v) => v.clone(),
        }
    }
    pub fn has(&self, r: Role) -> bool {
        self.list().contains(&r)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacilityConfig {
    pub id: Spanned<String>,
    pub name: String,
    #[serde(default)]
    pub name_en: Option<String>,
    pub city: String,
    pub tier: Tier,
    pub class: Class,
    pub commissioned: NaiveDate,
    pub pue_ceiling: Option<f64>,
    pub renewable_target: Option<f64>,
    /// WUE target, L/kWh (CONTRACT §14): `WueAboveTarget` fires above it.
    #[serde(default)]
    pub wue_target: Option<f64>,
    /// REF target, 0..=1 (CONTRACT §14): `RefBelowTarget` fires below it.
    #[serde(default)]
    pub ref_target: Option<f64>,
    /// Green certificates retired for the facility (CONTRACT §14).
    #[serde(default, rename = "certificate")]
    pub certificates: Vec<CertificateConfig>,
    /// Simulator knob: the PUE `dcpue simulate` aims this facility at (default: a realistic value
    /// below its ceiling).
    #[serde(default)]
    pub sim_target_pue: Option<f64>,
    /// Simulator knob: the facility's mean IT load in kW.
    #[serde(default)]
    pub sim_it_kw: Option<f64>,
    #[serde(default, rename = "meter")]
    pub meters: Vec<MeterConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterConfig {
    pub id: Spanned<String>,
    pub role: Spanned<Roles>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "d_weight")]
    pub weight: f64,
    pub max_gap: Option<Span>,
    pub max_power_kw: Option<f64>,
    pub register_max: Option<f64>,
    pub stale_after: Option<Span>,
    /// Renewable meters only: `onsite` (default) or `ppa`.
    #[serde(default)]
    pub renewable_kind: Option<RenewableKind>,
    /// `[[facility.meter.replacement]]` (CONTRACT §13), see [`replacement`].
    #[serde(default, rename = "replacement", skip_serializing_if = "Vec::is_empty")]
    pub replacements: Vec<replacement::ReplacementConfig>,
}
fn d_weight() -> f64 {
    1.0
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    pub name: Spanned<String>,
    pub window: Option<String>,
    #[serde(rename = "for")]
    pub for_: Option<Span>,
    pub hysteresis: Option<f64>,
    pub severity: Option<String>,
    pub enabled: Option<bool>,
    pub stale_after: Option<Span>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    #[serde(default)]
    pub alertmanagers: Vec<String>,
    #[serde(default)]
    pub webhooks: Vec<String>,
    /// How often firing alerts are re-sent (wall clock), default 1m as Prometheus' resend delay.
    #[serde(default)]
    pub resend_every: Option<Span>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxConfig {
    pub url: String,
    pub org: String,
    pub bucket: String,
    pub token_file: Option<PathBuf>,
    #[serde(default = "d_window_every")]
    pub window_every: Span,
    /// Points per write request.
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// Longest a point waits for its batch to fill.
    #[serde(default = "d_flush")]
    pub flush_every: Span,
    /// Points kept in memory before the sink spools to disk.
    #[serde(default = "d_mem")]
    pub memory_points: usize,
}
fn d_window_every() -> Span {
    Span::MINUTE
}
fn d_batch() -> usize {
    5000
}
fn d_flush() -> Span {
    Span(1000)
}
fn d_mem() -> usize {
    100_000
}

/// A window as configured: its name as written ("24h") and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowDef {
    pub name: String,
    pub span: Span,
}

impl WindowDef {
    /// Bucket resolution: 1 minute for windows up to 24h, 1 hour beyond (CONTRACT §4).
    pub fn resolution(&self) -> Span {
        if self.span <= Span::DAY {
            Span::MINUTE
        } else {
            Span::HOUR
        }
    }
}

impl Config {
    /// Reads, parses, applies env overrides and validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        let mut cfg = Config::parse(&text, &file)?;
        cfg.apply_env(|k| std::env::var(k).ok())?;
        Ok(cfg)
    }

    /// [`load`](Self::load), then every check `serve` runs at start ([`Config::check_start`]:
    /// the files the config names, the addresses), each error naming the line of its key.
    /// `serve` and `check-config` load their config with it.
    pub fn load_checked(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        let loc = Located::new(&text);
        let mut cfg = Config::parse_located(&text, &loc, &file)?;
        cfg.apply_env(|k| std::env::var(k).ok())?;
        cfg.check_start().map_err(|source| {
            let key = source.key(&cfg);
            match start::env_var(&key).filter(|v| std::env::var_os(v).is_some()) {
                Some(var) => ConfigError::StartEnv { var, source },
                None => ConfigError::Start {
                    line: loc.line(&key),
                    file,
                    source,
                },
            }
        })?;
        Ok(cfg)
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

    /// Deployment settings from the environment: DCPUE_MQTT_URL, DCPUE_MQTT_CLIENT_ID,
    /// DCPUE_HTTP_LISTEN, DCPUE_HTTP_HEADER_TIMEOUT, DCPUE_HTTP_MAX_CONNECTIONS, DCPUE_STORAGE_DIR,
    /// DCPUE_STORAGE_CHECKPOINT_EVERY, DCPUE_INFLUX_URL. Each value is checked as the same key in
    /// the file is.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let env = |var: &str, msg: String| ConfigError::Env {
            var: var.to_string(),
            msg,
        };
        if let Some(v) = get("DCPUE_MQTT_URL") {
            check_mqtt_url(&v).map_err(|m| env("DCPUE_MQTT_URL", m))?;
            self.mqtt.url = v;
        }
        if let Some(v) = get("DCPUE_MQTT_CLIENT_ID") {
            check_client_id(&v).map_err(|m| env("DCPUE_MQTT_CLIENT_ID", m))?;
            self.mqtt.client_id = v;
        }
        if let Some(v) = get("DCPUE_HTTP_LISTEN") {
            check_listen(&v).map_err(|m| env("DCPUE_HTTP_LISTEN", m))?;
            self.http.listen = v;
        }
        if let Some(v) = get("DCPUE_HTTP_HEADER_TIMEOUT") {
            let var = "DCPUE_HTTP_HEADER_TIMEOUT".to_string();
            let span = parse_span(&v).map_err(|msg| ConfigError::Env {
                var: var.clone(),
                msg,
            })?;
            check_header_timeout(span).map_err(|msg| ConfigError::Env { var, msg })?;
            self.http.header_timeout = span;
        }
        if let Some(v) = get("DCPUE_HTTP_MAX_CONNECTIONS") {
            let var = "DCPUE_HTTP_MAX_CONNECTIONS".to_string();
            let n = v.trim().parse::<usize>().map_err(|_| ConfigError::Env {
                var: var.clone(),
                msg: format!("max_connections {v:?} is not a whole number"),
            })?;
            check_max_connections(n).map_err(|msg| ConfigError::Env { var, msg })?;
            self.http.max_connections = n;
        }
        if let Some(v) = get("DCPUE_STORAGE_DIR") {
            self.storage.dir = PathBuf::from(v);
        }
        if let Some(v) = get("DCPUE_STORAGE_CHECKPOINT_EVERY") {
            let var = "DCPUE_STORAGE_CHECKPOINT_EVERY".to_string();
            let span = parse_span(&v).map_err(|msg| ConfigError::Env {
                var: var.clone(),
                msg,
            })?;
            check_checkpoint_every(span)
                .and_then(|()| check_span("storage.checkpoint_every", span, false))
                .map_err(|msg| ConfigError::Env { var, msg })?;
            self.storage.checkpoint_every = span;
        }
        if let (Some(v), Some(influx)) = (get("DCPUE_INFLUX_URL"), self.influxdb.as_mut()) {
            check_influx_url(&v).map_err(|m| env("DCPUE_INFLUX_URL", m))?;
            influx.url = v;
        }
        Ok(())
    }

    fn validate(&self, loc: &Located, file: &str) -> Result<(), ConfigError> {
        use Seg::{Idx, Key};
        let invalid = |line: usize, msg: String| ConfigError::Invalid {
            file: file.to_string(),
            line,
            msg,
        };
        let err = |span: std::ops::Range<usize>, msg: String| {
            invalid(
                if span.is_empty() && span.start == 0 {
                    1
                } else {
                    loc.line_at(span.start)
                },
                msg,
            )
        };
        let at = |path: &[Seg], msg: String| invalid(loc.line(path), msg);

        let m = &self.mqtt;
        check_mqtt_url(&m.url).map_err(|e| at(&[Key("mqtt"), Key("url")], e))?;
        check_client_id(&m.client_id).map_err(|e| at(&[Key("mqtt"), Key("client_id")], e))?;
        check_topic_prefix(&m.topic_prefix)
            .map_err(|e| at(&[Key("mqtt"), Key("topic_prefix")], e))?;
        if m.qos > 2 {
            return Err(at(
                &[Key("mqtt"), Key("qos")],
                "mqtt.qos must be 0, 1 or 2".into(),
            ));
        }
        if let Some(u) = &m.username {
            check_text("mqtt.username", u, limits::TEXT_LEN)
                .map_err(|e| at(&[Key("mqtt"), Key("username")], e))?;
        }
        if !(self.engine.max_power_kw.is_finite() && self.engine.max_power_kw > 0.0) {
            return Err(at(
                &[Key("engine"), Key("max_power_kw")],
                "[engine] max_power_kw must be a positive number".into(),
            ));
        }
        check_header_timeout(self.http.header_timeout)
            .map_err(|e| at(&[Key("http"), Key("header_timeout")], e))?;
        check_max_connections(self.http.max_connections)
            .map_err(|e| at(&[Key("http"), Key("max_connections")], e))?;
        check_listen(&self.http.listen).map_err(|e| at(&[Key("http"), Key("listen")], e))?;
        let checkpoint = [Key("storage"), Key("checkpoint_every")];
        check_checkpoint_every(self.storage.checkpoint_every)
            .and_then(|()| {
                check_span(
                    "storage.checkpoint_every",
                    self.storage.checkpoint_every,
                    false,
                )
            })
            .map_err(|e| at(&checkpoint, e))?;

        let e = &self.engine;
        if !(0.0..=1.0).contains(&e.min_coverage) {
            return Err(at(
                &[Key("engine"), Key("min_coverage")],
                "engine.min_coverage must be between 0 and 1".into(),
            ));
        }
        if e.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(at(
                &[Key("engine"), Key("timezone")],
                format!("unknown engine.timezone {:?}", truncated(&e.timezone)),
            ));
        }
        for (key, span, zero_ok) in [
            ("max_gap", e.max_gap, false),
            ("allowed_lateness", e.allowed_lateness, true),
            ("max_lag", e.max_lag, false),
            ("stale_after", e.stale_after, false),
        ] {
            check_span(&format!("engine.{key}"), span, zero_ok)
                .map_err(|m| at(&[Key("engine"), Key(key)], m))?;
        }
        if e.max_lag > Span(7 * Span::DAY.0) {
            return Err(at(
                &[Key("engine"), Key("max_lag")],
                "engine.max_lag longer than 7d is not supported".into(),
            ));
        }
        let b = self.policy.grade_bounds;
        if !(b.iter().all(|x| x.is_finite()) && b[0] < b[1] && b[1] < b[2] && b[0] >= 1.0) {
            return Err(at(
                &[Key("policy"), Key("grade_bounds")],
                "policy.grade_bounds must rise: [grade1, grade2, grade3], each ≥ 1.0".into(),
            ));
        }
        if let Some(g) = self.policy.grid_emission_factor {
            kpi::check_grid_factor(g)
                .map_err(|e| at(&[Key("policy"), Key("grid_emission_factor")], e.to_string()))?;
        }
        let c = self.policy.new_large_ceiling;
        if !(c.is_finite() && c >= 1.0) {
            return Err(at(
                &[Key("policy"), Key("new_large_ceiling")],
                "policy.new_large_ceiling must be ≥ 1.0".into(),
            ));
        }
        if e.windows.len() > limits::WINDOWS {
            return Err(at(
                &[Key("engine"), Key("windows")],
                format!("engine.windows has more than {} windows", limits::WINDOWS),
            ));
        }
        let mut names = HashSet::new();
        for w in &e.windows {
            let span = parse_span(w.get_ref()).map_err(|m| err(w.span(), m))?;
            if span < Span::MINUTE || span.ms() % Span::MINUTE.ms() != 0 {
                return Err(err(
                    w.span(),
                    format!(
                        "window {:?} must be whole minutes, at least 1m",
                        w.get_ref()
                    ),
                ));
            }
            if span > Span::DAY && span.ms() % Span::HOUR.ms() != 0 {
                return Err(err(
                    w.span(),
                    format!(
                        "window {:?} is longer than 24h and must be whole hours",
                        w.get_ref()
                    ),
                ));
            }
            if span > MAX_SPAN {
                return Err(err(
                    w.span(),
                    format!(
                        "window {:?} is longer than the {HISTORY_DAYS}d the engine keeps",
                        w.get_ref()
                    ),
                ));
            }
            if !names.insert(w.get_ref().clone()) {
                return Err(err(
                    w.span(),
                    format!("window {:?} listed twice", w.get_ref()),
                ));
            }
        }
        if !names.contains(e.compliance_window.get_ref()) {
            return Err(err(
                e.compliance_window.span(),
                format!(
                    "compliance_window {:?} is not one of the windows",
                    e.compliance_window.get_ref()
                ),
            ));
        }

        if self.facilities.is_empty() {
            return Err(err(0..0, "no [[facility]] configured".into()));
        }
        if self.facilities.len() > limits::FACILITIES {
            return Err(at(
                &[Key("facility"), Idx(limits::FACILITIES)],
                format!("more than {} [[facility]] entries", limits::FACILITIES),
            ));
        }
        let meters: usize = self.facilities.iter().map(|f| f.meters.len()).sum();
        if meters > limits::METERS {
            return Err(err(
                0..0,
                format!(
                    "{meters} meters in all; at most {} are supported",
                    limits::METERS
                ),
            ));
        }
        let mut fids = HashSet::new();
        for (fi, f) in self.facilities.iter().enumerate() {
            let fkey = |key: &'static str| [Key("facility"), Idx(fi), Key(key)];
            let fid = f.id.get_ref();
            if !valid_id(fid) {
                return Err(err(
                    f.id.span(),
                    format!(
                        "facility id {:?} must match [a-z0-9_-]+, at most {} characters",
                        truncated(fid),
                        limits::ID_LEN
                    ),
                ));
            }
            if !fids.insert(fid.clone()) {
                return Err(err(
                    f.id.span(),
                    format!("facility id {fid:?} is used twice"),
                ));
            }
            for (key, text) in [
                ("name", Some(&f.name)),
                ("name_en", f.name_en.as_ref()),
                ("city", Some(&f.city)),
            ] {
                if let Some(t) = text {
                    check_text(&format!("facility {fid:?}: {key}"), t, limits::TEXT_LEN)
                        .map_err(|m| at(&fkey(key), m))?;
                }
            }
            if let Some(c) = f.pue_ceiling {
                if !(c.is_finite() && c >= 1.0) {
                    return Err(at(
                        &fkey("pue_ceiling"),
                        format!("facility {fid:?}: pue_ceiling must be ≥ 1.0"),
                    ));
                }
            }
            if let Some(t) = f.renewable_target {
                if !(0.0..=1.0).contains(&t) {
                    return Err(at(
                        &fkey("renewable_target"),
                        format!("facility {fid:?}: renewable_target must be between 0 and 1"),
                    ));
                }
            }
            if let Some(t) = f.wue_target {
                kpi::check_wue_target(t)
                    .map_err(|e| at(&fkey("wue_target"), format!("facility {fid:?}: {e}")))?;
            }
            if let Some(t) = f.ref_target {
                kpi::check_ref_target(t)
                    .map_err(|e| at(&fkey("ref_target"), format!("facility {fid:?}: {e}")))?;
            }
            if f.certificates.len() > limits::CERTIFICATES_PER_FACILITY {
                return Err(at(
                    &[
                        Key("facility"),
                        Idx(fi),
                        Key("certificate"),
                        Idx(limits::CERTIFICATES_PER_FACILITY),
                    ],
                    format!(
                        "facility {fid:?} has more than {} [[facility.certificate]] entries",
                        limits::CERTIFICATES_PER_FACILITY
                    ),
                ));
            }
            for (ci, c) in f.certificates.iter().enumerate() {
                c.check().map_err(|e| {
                    at(
                        &[Key("facility"), Idx(fi), Key("certificate"), Idx(ci)],
                        format!("facility {fid:?}: {e}"),
                    )
                })?;
            }
            if matches!(f.sim_target_pue, Some(p) if !(p.is_finite() && p >= 1.0)) {
                return Err(at(
                    &fkey("sim_target_pue"),
                    format!("facility {fid:?}: sim_target_pue must be ≥ 1.0"),
                ));
            }
            if matches!(f.sim_it_kw, Some(p) if !(p.is_finite() && p > 0.0)) {
                return Err(at(
                    &fkey("sim_it_kw"),
                    format!("facility {fid:?}: sim_it_kw must be positive"),
                ));
            }
            if f.meters.len() > limits::METERS_PER_FACILITY {
                return Err(at(
                    &[
                        Key("facility"),
                        Idx(fi),
                        Key("meter"),
                        Idx(limits::METERS_PER_FACILITY),
                    ],
                    format!(
                        "facility {fid:?} has more than {} meters",
                        limits::METERS_PER_FACILITY
                    ),
                ));
            }
            let mut mids = HashSet::new();
            let (mut total, mut it) = (false, false);
            for (mi, m) in f.meters.iter().enumerate() {
                let mkey =
                    |key: &'static str| [Key("facility"), Idx(fi), Key("meter"), Idx(mi), Key(key)];
                let mid = m.id.get_ref();
                if !valid_id(mid) {
                    return Err(err(
                        m.id.span(),
                        format!(
                            "meter id {:?} must match [a-z0-9_-]+, at most {} characters",
                            truncated(mid),
                            limits::ID_LEN
                        ),
                    ));
                }
                if !mids.insert(mid.clone()) {
                    return Err(err(
                        m.id.span(),
                        format!("meter id {mid:?} is used twice in facility {fid:?}"),
                    ));
                }
                if let Some(n) = &m.name {
                    check_text(&format!("meter {mid:?}: name"), n, limits::TEXT_LEN)
                        .map_err(|e| at(&mkey("name"), e))?;
                }
                let roles = m.role.get_ref().list();
                if roles.is_empty() {
                    return Err(err(
                        m.role.span(),
                        format!("meter {mid:?} has an empty role list"),
                    ));
                }
                if roles.contains(&Role::Total) && roles.contains(&Role::It) {
                    return Err(err(
                        m.role.span(),
                        format!("meter {mid:?} cannot be both total and it"),
                    ));
                }
                let sole = |r: Role| roles.contains(&r) && roles.iter().any(|&o| o != r);
                if sole(Role::Water) || sole(Role::ReusedHeat) {
                    return Err(err(
                        m.role.span(),
                        format!(
                            "meter {mid:?}: a \"water\" or \"reused_heat\" meter has no other role (it does not meter the facility's electricity)"
                        ),
                    ));
                }
                if m.renewable_kind.is_some() && !roles.contains(&Role::Renewable) {
                    return Err(at(
                        &mkey("renewable_kind"),
                        format!(
                            "meter {mid:?}: renewable_kind applies only to a \"renewable\" meter"
                        ),
                    ));
                }
                if roles.contains(&Role::Water) && m.max_power_kw.is_some() {
                    return Err(at(
                        &mkey("max_power_kw"),
                        format!("meter {mid:?}: a water meter reads m³ and takes no max_power_kw"),
                    ));
                }
                total |= roles.contains(&Role::Total);
                it |= roles.contains(&Role::It);
                if !m.weight.is_finite() || m.weight == 0.0 {
                    return Err(at(
                        &mkey("weight"),
                        format!("meter {mid:?}: weight must be a non-zero number"),
                    ));
                }
                for (key, span) in [("max_gap", m.max_gap), ("stale_after", m.stale_after)] {
                    if let Some(span) = span {
                        check_span(&format!("meter {mid:?}: {key}"), span, false)
                            .map_err(|e| at(&mkey(key), e))?;
                    }
                }
                if matches!(m.max_power_kw, Some(p) if !(p.is_finite() && p > 0.0)) {
                    return Err(at(
                        &mkey("max_power_kw"),
                        format!("meter {mid:?}: max_power_kw must be positive"),
                    ));
                }
                if matches!(m.register_max, Some(p) if !(p.is_finite() && p > 0.0)) {
                    return Err(at(
                        &mkey("register_max"),
                        format!("meter {mid:?}: register_max must be positive"),
                    ));
                }
                replacement::check(&m.replacements).map_err(|(ri, e)| {
                    at(
                        &[
                            Key("facility"),
                            Idx(fi),
                            Key("meter"),
                            Idx(mi),
                            Key("replacement"),
                            Idx(ri),
                            Key(e.key()),
                        ],
                        format!("meter {mid:?}: {e}"),
                    )
                })?;
            }
            if !total {
                return Err(err(
                    f.id.span(),
                    format!("facility {fid:?} has no meter with role \"total\""),
                ));
            }
            if !it {
                return Err(err(
                    f.id.span(),
                    format!("facility {fid:?} has no meter with role \"it\""),
                ));
            }
        }
        for (user, ids) in &self.http.access {
            let user_key = [Key("http"), Key("access"), Key(user.as_str())];
            if self.http.web_config_file.is_none() {
                return Err(at(
                    &user_key,
                    "[http.access] needs [http] web_config_file with basic_auth_users (without \
                     users every request sees every facility)"
                        .into(),
                ));
            }
            for id in ids {
                if !fids.contains(id) {
                    return Err(at(
                        &user_key,
                        format!("[http.access] {user:?}: unknown facility {id:?}"),
                    ));
                }
            }
        }

        if self.alerts.len() > limits::ALERTS {
            return Err(at(
                &[Key("alert"), Idx(limits::ALERTS)],
                format!("more than {} [[alert]] entries", limits::ALERTS),
            ));
        }
        for (ai, a) in self.alerts.iter().enumerate() {
            let akey = |key: &'static str| [Key("alert"), Idx(ai), Key(key)];
            let name = a.name.get_ref();
            if !crate::alerts::rules::BUILTIN_NAMES.contains(&name.as_str()) {
                return Err(err(
                    a.name.span(),
                    format!(
                        "unknown alert {:?} (known: {})",
                        truncated(name),
                        crate::alerts::rules::BUILTIN_NAMES.join(", ")
                    ),
                ));
            }
            if let Some(w) = &a.window {
                if !names.contains(w) {
                    return Err(at(
                        &akey("window"),
                        format!(
                            "alert {name:?}: window {:?} is not one of engine.windows",
                            truncated(w)
                        ),
                    ));
                }
            }
            if let Some(s) = &a.severity {
                if !["critical", "warning", "info"].contains(&s.as_str()) {
                    return Err(at(
                        &akey("severity"),
                        format!("alert {name:?}: severity must be critical, warning or info"),
                    ));
                }
            }
            if let Some(f) = a.for_ {
                check_span(&format!("alert {name:?}: for"), f, true)
                    .map_err(|e| at(&akey("for"), e))?;
            }
            if let Some(s) = a.stale_after {
                check_span(&format!("alert {name:?}: stale_after"), s, false)
                    .map_err(|e| at(&akey("stale_after"), e))?;
            }
            if matches!(a.hysteresis, Some(h) if !(h.is_finite() && (0.0..=1.0).contains(&h))) {
                return Err(at(
                    &akey("hysteresis"),
                    format!("alert {name:?}: hysteresis must be between 0 and 1"),
                ));
            }
        }

        let al = &self.alerting;
        for (key, urls) in [
            ("alertmanagers", &al.alertmanagers),
            ("webhooks", &al.webhooks),
        ] {
            if urls.len() > limits::RECEIVERS {
                return Err(at(
                    &[Key("alerting"), Key(key)],
                    format!("alerting.{key} has more than {} urls", limits::RECEIVERS),
                ));
            }
            for (i, u) in urls.iter().enumerate() {
                check_receiver_url(u).map_err(|m| at(&[Key("alerting"), Key(key), Idx(i)], m))?;
            }
        }
        if let Some(r) = al.resend_every {
            check_span("alerting.resend_every", r, false)
                .map_err(|e| at(&[Key("alerting"), Key("resend_every")], e))?;
        }

        if let Some(ix) = &self.influxdb {
            let ikey = |key: &'static str| [Key("influxdb"), Key(key)];
            check_influx_url(&ix.url).map_err(|e| at(&ikey("url"), e))?;
            for (key, v) in [("org", &ix.org), ("bucket", &ix.bucket)] {
                if v.is_empty() {
                    return Err(at(&ikey(key), format!("influxdb.{key} must not be empty")));
                }
                check_text(&format!("influxdb.{key}"), v, limits::TEXT_LEN)
                    .map_err(|e| at(&ikey(key), e))?;
            }
            for (key, span) in [
                ("window_every", ix.window_every),
                ("flush_every", ix.flush_every),
            ] {
                check_span(&format!("influxdb.{key}"), span, false)
                    .map_err(|e| at(&ikey(key), e))?;
            }
            for (key, n, max) in [
                ("batch_size", ix.batch_size, limits::INFLUX_BATCH),
                (
                    "memory_points",
                    ix.memory_points,
                    limits::INFLUX_MEMORY_POINTS,
                ),
            ] {
                if !(1..=max).contains(&n) {
                    return Err(at(
                        &ikey(key),
                        format!("influxdb.{key} must be between 1 and {max}"),
                    ));
                }
            }
        }
        source::validate(self, &at)?;
        Ok(())
    }

    pub fn windows(&self) -> Vec<WindowDef> {
        self.engine
            .windows
            .iter()
            .map(|w| WindowDef {
                name: w.get_ref().clone(),
                span: parse_span(w.get_ref()).expect("validated"),
            })
            .collect()
    }

    pub fn compliance_window(&self) -> &str {
        self.engine.compliance_window.get_ref()
    }

    pub fn timezone(&self) -> chrono_tz::Tz {
        self.engine
            .timezone
            .parse()
            .unwrap_or(chrono_tz::Asia::Shanghai)
    }

    /// The facility's PUE ceiling: its own, else by policy.
    pub fn ceiling(&self, f: &FacilityConfig) -> f64 {
        crate::engine::policy::ceiling(&self.policy, f)
    }

    /// GB 40879 grade of a PUE: 1, 2, 3, or None above the grade-3 bound.
    pub fn grade(&self, pue: f64) -> Option<u8> {
        crate::engine::policy::grade(&self.policy, pue)
    }

    pub fn facility(&self, id: &str) -> Option<&FacilityConfig> {
        self.facilities.iter().find(|f| f.id.get_ref() == id)
    }
}

impl FacilityConfig {
    pub fn id(&self) -> &str {
        self.id.get_ref()
    }
}

impl MeterConfig {
    pub fn id(&self) -> &str {
        self.id.get_ref()
    }
    pub fn roles(&self) -> Vec<Role> {
        self.role.get_ref().list()
    }
    pub fn has_role(&self, r: Role) -> bool {
        self.role.get_ref().has(r)
    }
    /// A renewable meter's kind (default `onsite`); None for other meters.
    pub fn renewable_kind(&self) -> Option<RenewableKind> {
        self.has_role(Role::Renewable)
            .then(|| self.renewable_kind.unwrap_or_default())
    }
}

/// A facility or meter id: `[a-z0-9_-]+`, at most [`limits::ID_LEN`] characters.
pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= limits::ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// `mqtt.url`: as the collector parses it.
fn check_mqtt_url(url: &str) -> Result<(), String> {
    check_url_len(url)?;
    crate::ingest::mqtt::parse_url(url)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn check_influx_url(url: &str) -> Result<(), String> {
    check_url_len(url)?;
    crate::sinks::influx::check_url(url).map_err(|e| e.to_string())
}

fn check_url_len(url: &str) -> Result<(), String> {
    if url.chars().count() > limits::URL_LEN {
        return Err(format!("url is longer than {} characters", limits::URL_LEN));
    }
    Ok(())
}

/// `mqtt.client_id`: the persistent session is keyed on it.
fn check_client_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err(
            "mqtt.client_id must not be empty (the persistent session is keyed on it)".into(),
        );
    }
    check_text("mqtt.client_id", id, limits::CLIENT_ID_LEN)
}

/// `mqtt.topic_prefix`: one or more topic levels, no wildcard, no empty level.
fn check_topic_prefix(p: &str) -> Result<(), String> {
    if p.contains(['+', '#']) {
        return Err(format!(
            "mqtt.topic_prefix {:?} must not contain the wildcards + or # (it is a topic, dcpue subscribes to <topic_prefix>/+/+)",
            truncated(p)
        ));
    }
    if p.split('/').any(str::is_empty) {
        return Err(format!(
            "mqtt.topic_prefix {:?} must not be empty or have an empty level (no leading, trailing or double /)",
            truncated(p)
        ));
    }
    if p.len() > limits::TOPIC_PREFIX_LEN || p.contains(char::is_control) {
        return Err(format!(
            "mqtt.topic_prefix must be at most {} bytes without control characters",
            limits::TOPIC_PREFIX_LEN
        ));
    }
    Ok(())
}

/// `http.listen`: `IP:port`, `[IPv6]:port` or `hostname:port`.
fn check_listen(addr: &str) -> Result<(), String> {
    if addr.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    let ok = match addr.rsplit_once(':') {
        Some((host, port)) => {
            port.parse::<u16>().is_ok()
                && !host.is_empty()
                && host.len() <= 253
                && host.split('.').all(|l| {
                    !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        }
        None => false,
    };
    if !ok {
        return Err(format!(
            "http.listen {:?} is not an address: IP:port, [IPv6]:port or hostname:port",
            truncated(addr)
        ));
    }
    Ok(())
}

/// An Alertmanager or webhook url: `http://` or `https://` with a host.
fn check_receiver_url(u: &str) -> Result<(), String> {
    check_url_len(u)?;
    match reqwest::Url::parse(u) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && p.host_str().is_some() => Ok(()),
        _ => Err(format!(
            "alerting url {:?} must be http://host[:port]/… or https://…",
            truncated(u)
        )),
    }
}

/// A value quoted in an error: at most 80 characters of it.
fn truncated(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Text shown on the page, in metrics and logs: bounded, no control characters.
fn check_text(key: &str, s: &str, max: usize) -> Result<(), String> {
    if s.chars().count() > max {
        return Err(format!("{key} is longer than {max} characters"));
    }
    if s.contains(char::is_control) {
        return Err(format!("{key} must not contain control characters"));
    }
    Ok(())
}

/// A duration key: longer than 0 (or 0 where `zero_ok`), at most the history kept.
fn check_span(key: &str, s: Span, zero_ok: bool) -> Result<(), String> {
    if s.ms() < 0 || (s.ms() == 0 && !zero_ok) {
        return Err(format!("{key} must be longer than 0"));
    }
    if s > MAX_SPAN {
        return Err(format!("{key} {s} is longer than {HISTORY_DAYS}d"));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod fixture;
#[cfg(test)]
pub(crate) mod tests;
