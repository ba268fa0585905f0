//! Alerts (CONTRACT §5): rules evaluated on the engine's event-time steps, their lifecycle and
//! history, and delivery to Alertmanager and webhooks.
//!
//! Wiring (what the app does):
//! ```text
//! let mut alerts = AlertEngine::new(&cfg);
//! let history = AlertHistory::open(&cfg.storage.dir)?;          // Arc-share with HTTP
//! if let Some(st) = history.load_state()? { alerts.restore(st, wall_now_ms) }
//! let delivery = AlertDelivery::start(&cfg.alerting, &generator_url, &registry)?;
//! let active_metric = ActiveAlertMetric::register(&registry)?;
//! // after each engine.advance_steps(), for each step: alerts.on_step(&step.view(id), wall_now_ms),
//! // and on a wall-clock tick after alerts.on_wall_clock(wall_now_ms, meters):
//! let changes = alerts.drain_changes();
//! if !changes.is_empty() { history.commit(&changes, &alerts.export_state())?; }
//! delivery.publish(&alerts, &changes);
//! active_metric.update(&alerts.active());
//! ```

pub mod delivery;
pub mod history;
pub mod rules;
pub mod state;

pub use delivery::{ActiveAlertMetric, AlertDelivery};
pub use history::{AlertHistory, HistoryFilter};
pub use rules::{Rule, RuleKind, Severity};
pub use state::{
    ActiveAlert, AlertChange, AlertEngine, AlertState, MeterSeen, PersistedState, ResolvedAlert,
};

use chrono::{SecondsFormat, TimeZone, Utc};

/// Errors of the alerts layer.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("alert history {path}: {source}")]
    History {
        path: String,
        source: Box<redb::Error>,
    },
    /// A missing or damaged history where one is needed: what was found, and the repair.
    #[error("{0}")]
    Refused(String),
    #[error("alert history: corrupt record: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("alert metrics: {0}")]
    Metrics(Box<prometheus::Error>),
    #[error("alert delivery: {0}")]
    Delivery(String),
}

impl From<prometheus::Error> for AlertError {
    fn from(e: prometheus::Error) -> Self {
        AlertError::Metrics(Box::new(e))
    }
}

/// RFC 3339 in the configured timezone (seconds precision), e.g. `2026-11-28T03:00:00+08:00`.
pub(crate) fn fmt_local(ms: i64, tz: chrono_tz::Tz) -> String {
    match tz.timestamp_millis_opt(ms).single() {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Secs, false),
        None => fmt_utc(ms),
    }
}

/// RFC 3339 UTC with milliseconds, as Alertmanager takes it.
pub(crate) fn fmt_utc(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => "1970-01-01T00:00:00.000Z".to_string(),
    }
}

/// A share as a percentage with one decimal, cut (not rounded) so that a value below a target
/// never reads as the target itself (0.8996 → "89.9%", not "90.0%").
pub(crate) fn fmt_pct(v: f64) -> String {
    let tenths = (v * 1000.0 + 1e-6).floor() / 10.0;
    format!("{tenths:.1}%")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_share_just_below_a_target_never_reads_as_the_target() {
        assert_eq!(super::fmt_pct(0.8996), "89.9%");
        assert_eq!(super::fmt_pct(0.9), "90.0%");
        assert_eq!(super::fmt_pct(0.123), "12.3%");
        assert_eq!(super::fmt_pct(1.0), "100.0%");
        assert_eq!(super::fmt_pct(0.0), "0.0%");
    }
}
