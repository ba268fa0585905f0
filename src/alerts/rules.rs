//! The built-in alert rules of CONTRACT §5 and their per-(name, window) overrides.
//!
//! Defaults:
//! - `PueAboveCeiling` on the compliance window (critical, for 0) and on 24h (warning, for 1h),
//!   hysteresis 0.01;
//! - `CoverageBelowMinimum` on the compliance window and on 24h (warning, for 1h);
//! - `PueImplausible` on 1h (warning, for 15m);
//! - `MeterStale` per meter (warning, `stale_after` of wall-clock time: the meter's own, else the
//!   rule's, else `engine.stale_after`);
//! - `RenewableShareBelowTarget` on the compliance window (warning, for 0), for facilities with a
//!   `renewable_target`;
//! - `WueAboveTarget` and `RefBelowTarget` on the compliance window (warning, for 0), for
//!   facilities with a `wue_target` / `ref_target` (CONTRACT §14).
//!
//! An `[[alert]]` block overrides the built-in rule of its (name, window) — every window of that
//! name when it gives none — and adds a rule when its window is not a built-in one. Only
//! `enabled = false` switches a rule off. A rule on a window that is not in `engine.windows` is
//! left out (there is nothing to evaluate it on).

use crate::config::Config;
use crate::duration::Span;

pub use crate::model::{RuleKind, Severity};

impl RuleKind {
    /// Defaults of this rule on `window` (None for MeterStale).
    fn template(self, window: Option<&str>, compliance: &str) -> Rule {
        let on_compliance = window == Some(compliance);
        let (for_ms, hysteresis, severity) = match self {
            RuleKind::PueAboveCeiling if on_compliance => (0, 0.01, Severity::Critical),
            RuleKind::PueAboveCeiling => (Span::HOUR.ms(), 0.01, Severity::Warning),
            RuleKind::CoverageBelowMinimum => (Span::HOUR.ms(), 0.0, Severity::Warning),
            RuleKind::PueImplausible => (15 * Span::MINUTE.ms(), 0.0, Severity::Warning),
            RuleKind::MeterStale => (0, 0.0, Severity::Warning),
            RuleKind::RenewableShareBelowTarget => (0, 0.0, Severity::Warning),
            RuleKind::WueAboveTarget | RuleKind::RefBelowTarget => (0, 0.0, Severity::Warning),
        };
        Rule {
            kind: self,
            window: if self == RuleKind::MeterStale {
                None
            } else {
                window.map(str::to_string)
            },
            for_ms,
            hysteresis,
            severity,
            stale_after: None,
            enabled: true,
        }
    }
}

/// One rule after defaults and overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub kind: RuleKind,
    /// The window it is evaluated on; None for MeterStale.
    pub window: Option<String>,
    /// How long the condition must hold before firing: event time, wall-clock for MeterStale.
    pub for_ms: i64,
    /// Resolve only once the value is this far back on the good side of the threshold.
    pub hysteresis: f64,
    pub severity: Severity,
    /// MeterStale: the rule's own `stale_after` (a meter's own wins over it).
    pub stale_after: Option<Span>,
    pub enabled: bool,
}

impl Rule {
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }
}

/// The enabled rules of `cfg`: built-ins, overridden and extended by its `[[alert]]` blocks.
pub fn rules(cfg: &Config) -> Vec<Rule> {
    let compliance = cfg.compliance_window();
    let mut out: Vec<Rule> = Vec::new();
    let mut add = |r: Rule| {
        if !out.iter().any(|o| o.kind == r.kind && o.window == r.window) {
            out.push(r);
        }
    };
    for w in [compliance, "24h"] {
        add(RuleKind::PueAboveCeiling.template(Some(w), compliance));
    }
    for w in [compliance, "24h"] {
        add(RuleKind::CoverageBelowMinimum.template(Some(w), compliance));
    }
    add(RuleKind::PueImplausible.template(Some("1h"), compliance));
    add(RuleKind::MeterStale.template(None, compliance));
    add(RuleKind::RenewableShareBelowTarget.template(Some(compliance), compliance));
    add(RuleKind::WueAboveTarget.template(Some(compliance), compliance));
    add(RuleKind::RefBelowTarget.template(Some(compliance), compliance));

    for a in &cfg.alerts {
        let Some(kind) = RuleKind::from_name(a.name.get_ref()) else {
            continue; // config validation rejects unknown names
        };
        let window = if kind == RuleKind::MeterStale {
            None
        } else {
            a.window.clone()
        };
        let matches = |r: &Rule| r.kind == kind && (window.is_none() || r.window == window);
        if !out.iter().any(matches) {
            match &window {
                Some(w) => out.push(kind.template(Some(w), compliance)),
                None => continue,
            }
        }
        for r in out.iter_mut().filter(|r| matches(r)) {
            if let Some(f) = a.for_ {
                r.for_ms = f.ms().max(0);
            }
            if let Some(h) = a.hysteresis {
                if h.is_finite() && h >= 0.0 {
                    r.hysteresis = h;
                }
            }
            if let Some(s) = a.severity.as_deref().and_then(Severity::from_name) {
                r.severity = s; // config validation rejects other severities
            }
            if let Some(e) = a.enabled {
                r.enabled = e;
            }
            if let Some(s) = a.stale_after {
                r.stale_after = Some(s);
            }
        }
    }
    let windows: Vec<String> = cfg.windows().into_iter().map(|w| w.name).collect();
    out.retain(|r| r.enabled && r.window.as_ref().is_none_or(|w| windows.contains(w)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::fixture::facility;

    fn cfg(extra: &str) -> Config {
        let f = facility("f1").meter("t", "total").meter("i", "it");
        let text = format!("{f}{extra}\n");
        Config::parse(&text, "test.toml").unwrap()
    }

    fn find<'a>(rs: &'a [Rule], name: &str, window: Option<&str>) -> Option<&'a Rule> {
        rs.iter()
            .find(|r| r.name() == name && r.window.as_deref() == window)
    }

    #[test]
    fn builtin_defaults_follow_the_contract() {
        let rs = rules(&cfg(""));
        let c = find(&rs, "PueAboveCeiling", Some("365d")).unwrap();
        assert_eq!(
            (c.for_ms, c.severity.as_str(), c.hysteresis),
            (0, "critical", 0.01)
        );
        let d = find(&rs, "PueAboveCeiling", Some("24h")).unwrap();
        assert_eq!(
            (d.for_ms, d.severity.as_str()),
            (Span::HOUR.ms(), "warning")
        );
        assert_eq!(
            find(&rs, "CoverageBelowMinimum", Some("365d"))
                .unwrap()
                .for_ms,
            Span::HOUR.ms()
        );
        assert_eq!(
            find(&rs, "CoverageBelowMinimum", Some("24h"))
                .unwrap()
                .for_ms,
            Span::HOUR.ms()
        );
        assert_eq!(
            find(&rs, "PueImplausible", Some("1h")).unwrap().for_ms,
            15 * 60_000
        );
        assert!(find(&rs, "MeterStale", None).is_some());
        assert!(find(&rs, "RenewableShareBelowTarget", Some("365d")).is_some());
        assert!(find(&rs, "WueAboveTarget", Some("365d")).is_some());
        assert!(find(&rs, "RefBelowTarget", Some("365d")).is_some());
        assert_eq!(rs.len(), 9);
    }

    #[test]
    fn alert_blocks_override_add_and_disable() {
        let rs = rules(&cfg(r#"
[[alert]]
name = "PueAboveCeiling"
window = "24h"
for = "2h"
severity = "critical"
hysteresis = 0.02

[[alert]]
name = "PueAboveCeiling"
window = "30d"

[[alert]]
name = "RenewableShareBelowTarget"
enabled = false

[[alert]]
name = "MeterStale"
stale_after = "10m"
"#));
        let d = find(&rs, "PueAboveCeiling", Some("24h")).unwrap();
        assert_eq!(
            (d.for_ms, d.severity.as_str(), d.hysteresis),
            (2 * Span::HOUR.ms(), "critical", 0.02)
        );
        let added = find(&rs, "PueAboveCeiling", Some("30d")).unwrap();
        assert_eq!(
            (added.severity.as_str(), added.for_ms),
            ("warning", Span::HOUR.ms())
        );
        assert!(find(&rs, "RenewableShareBelowTarget", Some("365d")).is_none());
        assert_eq!(
            find(&rs, "MeterStale", None).unwrap().stale_after,
            Some(Span(600_000))
        );
        // The compliance-window rule is untouched by the 24h override.
        assert_eq!(
            find(&rs, "PueAboveCeiling", Some("365d")).unwrap().for_ms,
            0
        );
    }

    #[test]
    fn rules_on_windows_not_configured_are_left_out() {
        let c = cfg("[engine]\nwindows = [\"1h\", \"30d\"]\ncompliance_window = \"30d\"\n");
        let rs = rules(&c);
        assert!(find(&rs, "PueAboveCeiling", Some("24h")).is_none());
        assert_eq!(
            find(&rs, "PueAboveCeiling", Some("30d")).unwrap().severity,
            "critical"
        );
        assert!(find(&rs, "PueImplausible", Some("1h")).is_some());
    }
}
