//! The alerts of the report's period, read as the alerts module's own records: the resolved
//! history ([`ResolvedAlert`], `/api/v1/alerts/history`) and the active alerts
//! ([`ActiveAlert`], `/api/v1/alerts`). Typed, so a record that does not have the fields the
//! report needs is an error naming the field, never an alert silently left out.

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::alerts::{ActiveAlert, AlertError, AlertState, ResolvedAlert};
use crate::config::Config;

use super::time::fmt_time;

/// An alert of the report's period, as the report lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRow {
    pub name: String,
    /// The window (or meter) label of the alert.
    pub scope: String,
    pub severity: String,
    /// When it fired (or began, if it never fired), RFC 3339.
    pub started: String,
    /// When it resolved, RFC 3339; null while still firing (when the history was read).
    pub resolved: Option<String>,
    /// Active time inside the report's reach: to its resolution, or while still firing to the
    /// alert's last evaluation (at most the period's end).
    pub duration_s: i64,
    /// The worst value while active (highest PUE, lowest coverage…), when recorded.
    pub worst: Option<f64>,
}

/// One alert record as the alerts module keeps it and the HTTP API serves it.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertRecord {
    /// From the history: resolved.
    Resolved(ResolvedAlert),
    /// Active (pending alerts are left out of the report; firing ones are listed).
    Active(ActiveAlert),
}

/// Errors reading the alert history file.
#[derive(Debug, thiserror::Error)]
pub enum AlertsReadError {
    #[error("in use by a running dcpue: pass --url of that instance instead")]
    InUse,
    #[error(transparent)]
    Alerts(#[from] AlertError),
}

/// The alert history file of the alerts module (CONTRACT §5).
pub const ALERTS_FILE: &str = "alerts.redb";

/// The alerts kept in `<storage.dir>/alerts.redb` by the alerts module, as the HTTP API gives
/// them: the resolved history (`/api/v1/alerts/history`) and those still firing at the last
/// checkpoint of the alert states (`/api/v1/alerts`). No file: no alerts were ever recorded (an
/// empty list; the file is not created). A running `dcpue serve` holds the file locked: use
/// `--url` then.
pub fn load(cfg: &Config) -> Result<Vec<AlertRecord>, AlertsReadError> {
    let dir = &cfg.storage.dir;
    if !dir.join(ALERTS_FILE).exists() {
        return Ok(Vec::new());
    }
    let history = crate::alerts::AlertHistory::open(dir).map_err(|e| match e {
        AlertError::History { source, .. }
            if matches!(*source, redb::Error::DatabaseAlreadyOpen) =>
        {
            AlertsReadError::InUse
        }
        e => e.into(),
    })?;
    let mut out: Vec<AlertRecord> = history
        .history(&crate::alerts::HistoryFilter::default())?
        .into_iter()
        .map(AlertRecord::Resolved)
        .collect();
    if let Some(state) = history.load_state()? {
        let mut alerts = crate::alerts::AlertEngine::new(cfg);
        alerts.restore(state, 0);
        out.extend(alerts.firing().into_iter().map(AlertRecord::Active));
    }
    Ok(out)
}

/// What the report needs of one record.
struct Seen<'a> {
    name: &'a str,
    labels: &'a std::collections::BTreeMap<String, String>,
    started: i64,
    resolved: Option<i64>,
    /// Resolution, or for a firing alert its last evaluation.
    end: i64,
    worst: Option<f64>,
}

impl<'a> Seen<'a> {
    fn label(&self, k: &str) -> Option<&'a str> {
        self.labels.get(k).map(String::as_str)
    }
}

impl AlertRecord {
    fn seen(&self) -> Option<Seen<'_>> {
        match self {
            AlertRecord::Resolved(r) => Some(Seen {
                name: &r.name,
                labels: &r.labels,
                started: r.fired_ms.unwrap_or(r.since_ms),
                resolved: Some(r.resolved_ms),
                end: r.resolved_ms,
                // A NaN or infinite worst is stored as null: not recorded.
                worst: Some(r.worst).filter(|w| w.is_finite()),
            }),
            AlertRecord::Active(a) if a.state == AlertState::Firing => Some(Seen {
                name: &a.name,
                labels: &a.labels,
                started: a.fired_ms.unwrap_or(a.since_ms),
                resolved: None,
                end: a.evaluated_ms,
                worst: None,
            }),
            AlertRecord::Active(_) => None,
        }
    }
}

/// The alerts of facility `id` that were active during [from, to), oldest first: resolved ones
/// and ones still firing (up to their last evaluation, at most `to_ms`).
pub fn alerts_of(
    alerts: &[AlertRecord],
    id: &str,
    tz: Tz,
    from_ms: i64,
    to_ms: i64,
) -> Vec<AlertRow> {
    let mut rows: Vec<(i64, AlertRow)> = alerts
        .iter()
        .filter_map(AlertRecord::seen)
        .filter(|s| s.label("facility") == Some(id))
        .filter(|s| s.started < to_ms && s.resolved.is_none_or(|r| r >= from_ms))
        .map(|s| {
            let end = match s.resolved {
                Some(r) => r,
                None => s.end.min(to_ms),
            };
            (
                s.started,
                AlertRow {
                    name: s.name.to_string(),
                    scope: s
                        .label("window")
                        .or_else(|| s.label("meter"))
                        .unwrap_or("")
                        .to_string(),
                    severity: s.label("severity").unwrap_or("").to_string(),
                    started: fmt_time(tz, s.started),
                    resolved: s.resolved.map(|r| fmt_time(tz, r)),
                    duration_s: (end - s.started).max(0) / 1000,
                    worst: s.worst,
                },
            )
        })
        .collect();
    rows.sort_by(|(a, ra), (b, rb)| {
        a.cmp(b)
            .then_with(|| ra.name.cmp(&rb.name))
            .then_with(|| ra.scope.cmp(&rb.scope))
            .then_with(|| ra.resolved.cmp(&rb.resolved))
    });
    rows.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SH: Tz = chrono_tz::Asia::Shanghai;

    fn parse<T: serde::de::DeserializeOwned>(body: &str) -> Result<Vec<T>, serde_json::Error> {
        serde_json::from_str(body)
    }

    /// The history and active alerts from the instance's two answers, typed as `--url` reads
    /// them.
    fn from_answers(history: &str, active: &str) -> Result<Vec<AlertRecord>, serde_json::Error> {
        let mut out: Vec<AlertRecord> = parse::<ResolvedAlert>(history)?
            .into_iter()
            .map(AlertRecord::Resolved)
            .collect();
        out.extend(
            parse::<ActiveAlert>(active)?
                .into_iter()
                .map(AlertRecord::Active),
        );
        Ok(out)
    }
    /// 2025-07-10T10:00:00+08:00.
    const T0: i64 = 1_752_112_800_000;
    const H: i64 = 3_600_000;

    /// The alert JSON of CONTRACT §5/§6 as `dcpue serve` answers: one resolved alert of the
    /// history and one firing. Written out by hand: renaming a field of the alert records
    /// changes this contract and fails here.
    fn history_json() -> String {
        format!(
            r#"[{{"name":"CoverageBelowMinimum","labels":{{"alertname":"CoverageBelowMinimum","facility":"nanchang-1","severity":"warning","window":"24h"}},"annotations":{{}},"since":"2025-07-10T09:00:00+08:00","fired_at":"2025-07-10T10:00:00+08:00","resolved_at":"2025-07-14T04:30:00+08:00","value":0.95,"worst":0.5,"key":"CoverageBelowMinimum/nanchang-1/24h","since_ms":{},"fired_ms":{T0},"resolved_ms":{},"started_wall_ms":{},"resolved_wall_ms":{}}}]"#,
            T0 - H,
            T0 + 90 * H + 1_800_000,
            T0 - H,
            T0 + 90 * H + 1_800_000,
        )
    }

    fn active_json(state: &str) -> String {
        format!(
            r#"[{{"name":"PueAboveCeiling","labels":{{"alertname":"PueAboveCeiling","facility":"nanchang-1","severity":"critical","window":"365d"}},"annotations":{{}},"state":"{state}","since":"2025-07-10T10:00:00+08:00","value":1.31,"fired_at":"2025-07-10T10:00:00+08:00","evaluated_at":"2025-07-10T12:00:00+08:00","key":"PueAboveCeiling/nanchang-1/365d","since_ms":{T0},"fired_ms":{T0},"evaluated_ms":{},"started_wall_ms":{T0}}}]"#,
            T0 + 2 * H
        )
    }

    #[test]
    fn the_http_alert_json_gives_the_reports_rows() {
        let records = from_answers(&history_json(), &active_json("firing")).expect("parses");
        let rows = alerts_of(&records, "nanchang-1", SH, T0 - 24 * H, T0 + 200 * H);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0].name, "CoverageBelowMinimum");
        assert_eq!(
            (rows[0].scope.as_str(), rows[0].severity.as_str()),
            ("24h", "warning")
        );
        assert_eq!(rows[0].started, "2025-07-10T10:00:00+08:00");
        assert_eq!(
            rows[0].resolved.as_deref(),
            Some("2025-07-14T04:30:00+08:00")
        );
        assert_eq!(rows[0].duration_s, 90 * 3600 + 1800);
        assert_eq!(rows[0].worst, Some(0.5));
        assert_eq!(rows[1].name, "PueAboveCeiling");
        assert_eq!(
            (rows[1].scope.as_str(), rows[1].resolved.as_deref()),
            ("365d", None)
        );
        assert_eq!(rows[1].duration_s, 2 * 3600);
        // Another facility's alerts are not listed; a pending alert is not listed.
        assert!(alerts_of(&records, "jiujiang-1", SH, T0 - 24 * H, T0 + 200 * H).is_empty());
        let pending = from_answers("[]", &active_json("pending")).expect("parses");
        assert!(alerts_of(&pending, "nanchang-1", SH, T0 - 24 * H, T0 + 200 * H).is_empty());
    }

    #[test]
    fn the_records_serve_writes_read_back_as_the_same_records() {
        let resolved: Vec<ResolvedAlert> = parse(&history_json()).expect("history");
        let active: Vec<ActiveAlert> = parse(&active_json("firing")).expect("active");
        let again = from_answers(
            &serde_json::to_string(&resolved).expect("json"),
            &serde_json::to_string(&active).expect("json"),
        )
        .expect("parses");
        let expected = from_answers(&history_json(), &active_json("firing")).expect("parses");
        assert_eq!(again, expected);
    }

    #[test]
    fn a_record_without_a_field_the_report_needs_is_an_error_naming_it() {
        // As if `resolved_ms` were renamed: the alert must not silently vanish from the report.
        let renamed = history_json().replace("\"resolved_ms\"", "\"resolved_epoch_ms\"");
        let err = from_answers(&renamed, "[]").expect_err("missing field");
        assert!(err.to_string().contains("resolved_ms"), "{err}");
        let renamed = active_json("firing").replace("\"labels\"", "\"tags\"");
        let err = from_answers("[]", &renamed).expect_err("missing field");
        assert!(err.to_string().contains("labels"), "{err}");
    }
}
