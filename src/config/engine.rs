//! `[engine]`: timezone, gaps, lateness, coverage and the windows computed.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::checks::{check_span, truncated, MAX_SPAN};
use super::error::Ctx;
use super::locate::Seg;
use super::{limits, Config, ConfigError, HISTORY_DAYS};
use crate::duration::{parse_span, Span};

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

impl EngineConfig {
    /// `engine.max_power_kw`.
    pub(super) fn validate_max_power(&self, cx: &Ctx) -> Result<(), ConfigError> {
        use Seg::Key;
        if !(self.max_power_kw.is_finite() && self.max_power_kw > 0.0) {
            return Err(cx.at(
                &[Key("engine"), Key("max_power_kw")],
                "[engine] max_power_kw must be a positive number".into(),
            ));
        }
        Ok(())
    }

    /// Coverage, timezone and durations.
    pub(super) fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        use Seg::Key;
        let e = self;
        if !(0.0..=1.0).contains(&e.min_coverage) {
            return Err(cx.at(
                &[Key("engine"), Key("min_coverage")],
                "engine.min_coverage must be between 0 and 1".into(),
            ));
        }
        if e.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(cx.at(
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
                .map_err(|m| cx.value(&[Key("engine"), Key(key)], m))?;
        }
        if e.max_lag > Span(7 * Span::DAY.0) {
            return Err(cx.at(
                &[Key("engine"), Key("max_lag")],
                "engine.max_lag longer than 7d is not supported".into(),
            ));
        }
        Ok(())
    }

    /// `engine.windows` and `engine.compliance_window`: the names of the windows.
    pub(super) fn validate_windows(&self, cx: &Ctx) -> Result<HashSet<String>, ConfigError> {
        use Seg::Key;
        let e = self;
        if e.windows.len() > limits::WINDOWS {
            return Err(cx.at(
                &[Key("engine"), Key("windows")],
                format!("engine.windows has more than {} windows", limits::WINDOWS),
            ));
        }
        let mut names = HashSet::new();
        for w in &e.windows {
            let span = parse_span(w.get_ref()).map_err(|e| cx.err(w.span(), e.to_string()))?;
            if span < Span::MINUTE || span.ms() % Span::MINUTE.ms() != 0 {
                return Err(cx.err(
                    w.span(),
                    format!(
                        "window {:?} must be whole minutes, at least 1m",
                        w.get_ref()
                    ),
                ));
            }
            if span > Span::DAY && span.ms() % Span::HOUR.ms() != 0 {
                return Err(cx.err(
                    w.span(),
                    format!(
                        "window {:?} is longer than 24h and must be whole hours",
                        w.get_ref()
                    ),
                ));
            }
            if span > MAX_SPAN {
                return Err(cx.err(
                    w.span(),
                    format!(
                        "window {:?} is longer than the {HISTORY_DAYS}d the engine keeps",
                        w.get_ref()
                    ),
                ));
            }
            if !names.insert(w.get_ref().clone()) {
                return Err(cx.err(w.span(), format!("window {:?} listed twice", w.get_ref())));
            }
        }
        if !names.contains(e.compliance_window.get_ref()) {
            return Err(cx.err(
                e.compliance_window.span(),
                format!(
                    "compliance_window {:?} is not one of the windows",
                    e.compliance_window.get_ref()
                ),
            ));
        }
        Ok(names)
    }
}

impl Config {
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
}
