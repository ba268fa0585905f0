//! The TOML config of CONTRACT §2: typed, validated, with environment overrides for deployment
//! settings. Every error names the file, the line and what is wrong.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::duration::{parse_span, Span};

/// The longest window the engine keeps: hourly history of 397 days (13 months and a bit).
pub const HISTORY_DAYS: i64 = 397;

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
}
fn d_listen() -> String {
    "127.0.0.1:9184".into()
}
impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { listen: d_listen() }
    }
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
#[serde(rename_all = "lowercase")]
pub enum Role {
    Total,
    It,
    Renewable,
}
impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Total => "total",
            Role::It => "it",
            Role::Renewable => "renewable",
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

    /// Parses and validates `text`; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            ConfigError::Invalid {
                file: file.to_string(),
                line,
                msg: e.message().to_string(),
            }
        })?;
        cfg.validate(text, file)?;
        Ok(cfg)
    }

    /// Deployment settings from the environment: DCPUE_MQTT_URL, DCPUE_MQTT_CLIENT_ID,
    /// DCPUE_HTTP_LISTEN, DCPUE_STORAGE_DIR, DCPUE_STORAGE_CHECKPOINT_EVERY, DCPUE_INFLUX_URL.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("DCPUE_MQTT_URL") {
            self.mqtt.url = v;
        }
        if let Some(v) = get("DCPUE_MQTT_CLIENT_ID") {
            self.mqtt.client_id = v;
        }
        if let Some(v) = get("DCPUE_HTTP_LISTEN") {
            self.http.listen = v;
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
            check_checkpoint_every(span).map_err(|msg| ConfigError::Env { var, msg })?;
            self.storage.checkpoint_every = span;
        }
        if let (Some(v), Some(influx)) = (get("DCPUE_INFLUX_URL"), self.influxdb.as_mut()) {
            influx.url = v;
        }
        Ok(())
    }

    fn validate(&self, text: &str, file: &str) -> Result<(), ConfigError> {
        let err = |span: std::ops::Range<usize>, msg: String| ConfigError::Invalid {
            file: file.to_string(),
            line: if span.is_empty() && span.start == 0 {
                1
            } else {
                line_of(text, span.start)
            },
            msg,
        };
        let find = |needle: &str| -> std::ops::Range<usize> {
            text.find(needle).map(|p| p..p + 1).unwrap_or(0..0)
        };
        if !(0.0..=1.0).contains(&self.engine.min_coverage) {
            return Err(err(
                find("min_coverage"),
                "min_coverage must be between 0 and 1".into(),
            ));
        }
        if !(self.engine.max_power_kw.is_finite() && self.engine.max_power_kw > 0.0) {
            return Err(err(
                find("max_power_kw"),
                "[engine] max_power_kw must be a positive number".into(),
            ));
        }
        if let Err(msg) = check_checkpoint_every(self.storage.checkpoint_every) {
            return Err(err(find("checkpoint_every"), msg));
        }
        if self.mqtt.qos > 2 {
            return Err(err(find("qos"), "qos must be 0, 1 or 2".into()));
        }
        if !(self.mqtt.url.starts_with("mqtt://") || self.mqtt.url.starts_with("mqtts://")) {
            return Err(err(
                find("url"),
                format!(
                    "mqtt url {:?} must start with mqtt:// or mqtts://",
                    self.mqtt.url
                ),
            ));
        }
        if self.engine.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(err(
                find("timezone"),
                format!("unknown timezone {:?}", self.engine.timezone),
            ));
        }
        if self.engine.max_lag > Span(7 * Span::DAY.0) {
            return Err(err(
                find("max_lag"),
                "max_lag longer than 7d is not supported".into(),
            ));
        }
        let b = self.policy.grade_bounds;
        if !(b[0] < b[1] && b[1] < b[2] && b[0] >= 1.0) {
            return Err(err(
                find("grade_bounds"),
                "grade_bounds must rise: [grade1, grade2, grade3], each ≥ 1.0".into(),
            ));
        }
        let mut names = HashSet::new();
        for w in &self.engine.windows {
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
            if span > Span(HISTORY_DAYS * Span::DAY.0) {
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
        if !names.contains(self.engine.compliance_window.get_ref()) {
            return Err(err(
                self.engine.compliance_window.span(),
                format!(
                    "compliance_window {:?} is not one of the windows",
                    self.engine.compliance_window.get_ref()
                ),
            ));
        }
        if self.facilities.is_empty() {
            return Err(err(0..0, "no [[facility]] configured".into()));
        }
        let mut fids = HashSet::new();
        for f in &self.facilities {
            let fid = f.id.get_ref();
            if !valid_id(fid) {
                return Err(err(
                    f.id.span(),
                    format!("facility id {fid:?} must match [a-z0-9_-]+"),
                ));
            }
            if !fids.insert(fid.clone()) {
                return Err(err(
                    f.id.span(),
                    format!("facility id {fid:?} is used twice"),
                ));
            }
            if let Some(c) = f.pue_ceiling {
                if !(c.is_finite() && c >= 1.0) {
                    return Err(err(
                        f.id.span(),
                        format!("facility {fid:?}: pue_ceiling must be ≥ 1.0"),
                    ));
                }
            }
            if let Some(t) = f.renewable_target {
                if !(0.0..=1.0).contains(&t) {
                    return Err(err(
                        f.id.span(),
                        format!("facility {fid:?}: renewable_target must be between 0 and 1"),
                    ));
                }
            }
            let mut mids = HashSet::new();
            let (mut total, mut it) = (false, false);
            for m in &f.meters {
                let mid = m.id.get_ref();
                if !valid_id(mid) {
                    return Err(err(
                        m.id.span(),
                        format!("meter id {mid:?} must match [a-z0-9_-]+"),
                    ));
                }
                if !mids.insert(mid.clone()) {
                    return Err(err(
                        m.id.span(),
                        format!("meter id {mid:?} is used twice in facility {fid:?}"),
                    ));
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
                total |= roles.contains(&Role::Total);
                it |= roles.contains(&Role::It);
                if !m.weight.is_finite() || m.weight == 0.0 {
                    return Err(err(
                        m.id.span(),
                        format!("meter {mid:?}: weight must be a non-zero number"),
                    ));
                }
                if let Some(g) = m.max_gap {
                    if g.ms() <= 0 {
                        return Err(err(
                            m.id.span(),
                            format!("meter {mid:?}: max_gap must be positive"),
                        ));
                    }
                }
                if matches!(m.max_power_kw, Some(p) if !(p.is_finite() && p > 0.0)) {
                    return Err(err(
                        m.id.span(),
                        format!("meter {mid:?}: max_power_kw must be positive"),
                    ));
                }
                if matches!(m.register_max, Some(p) if !(p.is_finite() && p > 0.0)) {
                    return Err(err(
                        m.id.span(),
                        format!("meter {mid:?}: register_max must be positive"),
                    ));
                }
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
        for a in &self.alerts {
            let name = a.name.get_ref();
            if !crate::alerts::rules::BUILTIN_NAMES.contains(&name.as_str()) {
                return Err(err(
                    a.name.span(),
                    format!(
                        "unknown alert {name:?} (known: {})",
                        crate::alerts::rules::BUILTIN_NAMES.join(", ")
                    ),
                ));
            }
            if let Some(w) = &a.window {
                if !names.contains(w) {
                    return Err(err(
                        a.name.span(),
                        format!("alert {name:?}: window {w:?} is not one of engine.windows"),
                    ));
                }
            }
            if let Some(s) = &a.severity {
                if !["critical", "warning", "info"].contains(&s.as_str()) {
                    return Err(err(
                        a.name.span(),
                        format!("alert {name:?}: severity must be critical, warning or info"),
                    ));
                }
            }
        }
        for u in self
            .alerting
            .alertmanagers
            .iter()
            .chain(&self.alerting.webhooks)
        {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(err(
                    find(u),
                    format!("alerting url {u:?} must be http:// or https://"),
                ));
            }
        }
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
        if let Some(c) = f.pue_ceiling {
            return c;
        }
        let new = f.commissioned >= self.policy.new_since;
        let large = matches!(f.class, Class::Large | Class::UltraLarge);
        if new && large {
            self.policy.new_large_ceiling
        } else {
            self.policy.grade_bounds[2]
        }
    }

    /// GB 40879 grade of a PUE: 1, 2, 3, or None above the grade-3 bound.
    pub fn grade(&self, pue: f64) -> Option<u8> {
        let b = self.policy.grade_bounds;
        if pue <= b[0] {
            Some(1)
        } else if pue <= b[1] {
            Some(2)
        } else if pue <= b[2] {
            Some(3)
        } else {
            None
        }
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
}

pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn line_of(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
pub(crate) mod tests;
