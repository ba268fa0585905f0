//! `[[alert]]` (rule overrides) and `[alerting]` (delivery).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::checks::{check_span, check_url_len, truncated, ValueError};
use super::error::Ctx;
use super::locate::Seg;
use super::{limits, ConfigError};
use crate::duration::Span;
use crate::model::{RuleKind, Severity};

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

/// Every `[[alert]]`: a built-in name, one of the configured `windows`, bounded values.
pub(super) fn validate_alerts(
    alerts: &[AlertConfig],
    names: &HashSet<String>,
    cx: &Ctx,
) -> Result<(), ConfigError> {
    use Seg::{Idx, Key};
    if alerts.len() > limits::ALERTS {
        return Err(cx.at(
            &[Key("alert"), Idx(limits::ALERTS)],
            format!("more than {} [[alert]] entries", limits::ALERTS),
        ));
    }
    for (ai, a) in alerts.iter().enumerate() {
        let akey = |key: &'static str| [Key("alert"), Idx(ai), Key(key)];
        let name = a.name.get_ref();
        if RuleKind::from_name(name).is_none() {
            return Err(cx.err(
                a.name.span(),
                format!(
                    "unknown alert {:?} (known: {})",
                    truncated(name),
                    RuleKind::NAMES.join(", ")
                ),
            ));
        }
        if let Some(w) = &a.window {
            if !names.contains(w) {
                return Err(cx.at(
                    &akey("window"),
                    format!(
                        "alert {name:?}: window {:?} is not one of engine.windows",
                        truncated(w)
                    ),
                ));
            }
        }
        if let Some(s) = &a.severity {
            if Severity::from_name(s).is_none() {
                return Err(cx.at(
                    &akey("severity"),
                    format!("alert {name:?}: severity must be critical, warning or info"),
                ));
            }
        }
        if let Some(f) = a.for_ {
            check_span(&format!("alert {name:?}: for"), f, true)
                .map_err(|e| cx.value(&akey("for"), e))?;
        }
        if let Some(s) = a.stale_after {
            check_span(&format!("alert {name:?}: stale_after"), s, false)
                .map_err(|e| cx.value(&akey("stale_after"), e))?;
        }
        if matches!(a.hysteresis, Some(h) if !(h.is_finite() && (0.0..=1.0).contains(&h))) {
            return Err(cx.at(
                &akey("hysteresis"),
                format!("alert {name:?}: hysteresis must be between 0 and 1"),
            ));
        }
    }
    Ok(())
}

impl AlertingConfig {
    pub(super) fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        use Seg::{Idx, Key};
        let al = self;
        for (key, urls) in [
            ("alertmanagers", &al.alertmanagers),
            ("webhooks", &al.webhooks),
        ] {
            if urls.len() > limits::RECEIVERS {
                return Err(cx.at(
                    &[Key("alerting"), Key(key)],
                    format!("alerting.{key} has more than {} urls", limits::RECEIVERS),
                ));
            }
            for (i, u) in urls.iter().enumerate() {
                check_receiver_url(u)
                    .map_err(|m| cx.value(&[Key("alerting"), Key(key), Idx(i)], m))?;
            }
        }
        if let Some(r) = al.resend_every {
            check_span("alerting.resend_every", r, false)
                .map_err(|e| cx.value(&[Key("alerting"), Key("resend_every")], e))?;
        }
        Ok(())
    }
}

/// An Alertmanager or webhook url: `http://` or `https://` with a host.
pub(super) fn check_receiver_url(u: &str) -> Result<(), ValueError> {
    check_url_len(u)?;
    match reqwest::Url::parse(u) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && p.host_str().is_some() => Ok(()),
        _ => Err(ValueError::ReceiverUrl(u.to_string())),
    }
}
