//! The alert lifecycle (CONTRACT §5): a pure state machine, no clocks and no I/O. Times come in
//! as arguments: event time with each engine step, wall-clock time where the caller has it.
//!
//! Prometheus semantics: a rule's condition true → `pending` (since = that step); held for
//! `for` (event time) → `firing`; a pending alert whose condition stops holding is dropped; a
//! firing one resolves when its resolve condition holds (the threshold crossed back by the
//! rule's hysteresis). Where the data cannot judge (coverage below `min_coverage`, no PUE, no
//! renewable share) an alert stays exactly as it was: neither fires nor resolves.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::rules::{rules, Rule, RuleKind};
use super::{fmt_local, fmt_pct};
use crate::config::Config;
use crate::engine::{FacilityStep, WindowValues};

/// `pending` or `firing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Pending,
    Firing,
}

/// An active alert, as `/api/v1/alerts` shows it: `{name, labels, state, since, value}` and more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveAlert {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub state: AlertState,
    /// When the condition began to hold (event time; wall-clock for MeterStale), RFC 3339.
    pub since: String,
    /// The value the rule tested at its last evaluation (PUE, coverage, share, or seconds since
    /// the meter's last reading).
    pub value: f64,
    /// When it went firing (same clock as `since`), RFC 3339.
    pub fired_at: Option<String>,
    /// The last evaluation, RFC 3339.
    pub evaluated_at: String,
    /// Stable identity: alertname/facility/window-or-meter.
    pub key: String,
    pub since_ms: i64,
    pub fired_ms: Option<i64>,
    pub evaluated_ms: i64,
    /// Wall-clock time it became pending, then firing (Alertmanager's startsAt), epoch ms.
    pub started_wall_ms: i64,
}

/// A resolved alert, kept in history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedAlert {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub since: String,
    pub fired_at: Option<String>,
    /// Event time of the step that resolved it (wall-clock for MeterStale), RFC 3339.
    pub resolved_at: String,
    /// The value at resolution.
    pub value: f64,
    /// The worst value while it was active (highest PUE, lowest coverage or share, longest silence).
    pub worst: f64,
    pub key: String,
    pub since_ms: i64,
    pub fired_ms: Option<i64>,
    pub resolved_ms: i64,
    pub started_wall_ms: i64,
    pub resolved_wall_ms: i64,
}

/// What happened to an alert, in order, for history and delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertChange {
    Pending(ActiveAlert),
    Firing(ActiveAlert),
    /// A pending alert whose condition stopped holding before `for` passed.
    Cancelled(ActiveAlert),
    Resolved(ResolvedAlert),
}

/// One meter's last reading by wall clock, for MeterStale.
#[derive(Debug, Clone, Copy)]
pub struct MeterSeen<'a> {
    pub facility: &'a str,
    pub meter: &'a str,
    /// Wall-clock time its last reading arrived, epoch ms; None if none since the start.
    pub last_seen_wall_ms: Option<i64>,
}

/// The part of the state that must survive a restart (stored by [`super::history`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PersistedState {
    pub version: u32,
    pub entries: Vec<(String, Entry)>,
    /// Per facility id: the last event-time step evaluated.
    #[serde(default)]
    pub last_steps: Vec<(String, i64)>,
}

/// The state of one active alert instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub state: AlertState,
    pub since_ms: i64,
    pub fired_ms: Option<i64>,
    pub started_wall_ms: i64,
    pub value: f64,
    pub worst: f64,
    pub last_eval_ms: i64,
}

struct FacilityCtx {
    id: String,
    name: String,
    name_en: Option<String>,
    tier: &'static str,
    /// The last step evaluated: a step at or before it is not evaluated again.
    last_step_ms: Option<i64>,
    /// Instance indices of this facility's windowed rules.
    windowed: Vec<usize>,
}

/// One rule applied to one facility (and meter, for MeterStale).
struct Instance {
    rule: usize,
    facility: usize,
    meter: Option<String>,
    key: String,
    labels: BTreeMap<String, String>,
    /// The threshold it compares against: ceiling, min_coverage, 1.0, target, stale_after (s).
    threshold: f64,
}

/// The outcome of evaluating one instance at one step.
enum Verdict {
    /// The condition holds.
    Fire(f64),
    /// The resolve condition holds.
    Clear(f64),
    /// Neither: between the threshold and threshold ∓ hysteresis.
    Band(f64),
    /// The data cannot judge: nothing changes.
    Frozen,
}

/// The alert engine: rules instantiated per facility and meter, and their states.
pub struct AlertEngine {
    rules: Vec<Rule>,
    facilities: Vec<FacilityCtx>,
    instances: Vec<Instance>,
    states: Vec<Option<Entry>>,
    /// facility id → meter id → MeterStale instance.
    stale: HashMap<String, HashMap<String, usize>>,
    /// MeterStale: wall-clock time a never-seen meter was first asked about.
    first_asked: HashMap<usize, i64>,
    by_key: HashMap<String, usize>,
    min_coverage: f64,
    tz: chrono_tz::Tz,
    changes: Vec<AlertChange>,
}

impl AlertEngine {
    pub fn new(cfg: &Config) -> AlertEngine {
        let rules = rules(cfg);
        let mut e = AlertEngine {
            rules,
            facilities: Vec::new(),
            instances: Vec::new(),
            states: Vec::new(),
            stale: HashMap::new(),
            first_asked: HashMap::new(),
            by_key: HashMap::new(),
            min_coverage: cfg.engine.min_coverage,
            tz: cfg.timezone(),
            changes: Vec::new(),
        };
        for (fi, f) in cfg.facilities.iter().enumerate() {
            e.facilities.push(FacilityCtx {
                id: f.id().to_string(),
                name: f.name.clone(),
                name_en: f.name_en.clone(),
                tier: f.tier.as_str(),
                last_step_ms: None,
                windowed: Vec::new(),
            });
            for ri in 0..e.rules.len() {
                let r = &e.rules[ri];
                let base = |scope_key: &str, scope_val: &str| {
                    let mut labels = BTreeMap::new();
                    labels.insert("alertname".to_string(), r.name().to_string());
                    labels.insert("facility".to_string(), f.id().to_string());
                    labels.insert(scope_key.to_string(), scope_val.to_string());
                    labels.insert("tier".to_string(), f.tier.as_str().to_string());
                    labels.insert("severity".to_string(), r.severity.as_str().to_string());
                    (format!("{}/{}/{}", r.name(), f.id(), scope_val), labels)
                };
                match (r.kind, &r.window) {
                    (RuleKind::MeterStale, _) => {
                        for m in &f.meters {
                            let stale_after = m
                                .stale_after
                                .or(r.stale_after)
                                .unwrap_or(cfg.engine.stale_after);
                            let (key, labels) = base("meter", m.id());
                            let idx = e.instances.len();
                            e.instances.push(Instance {
                                rule: ri,
                                facility: fi,
                                meter: Some(m.id().to_string()),
                                key,
                                labels,
                                threshold: stale_after.ms() as f64 / 1000.0,
                            });
                            e.stale
                                .entry(f.id().to_string())
                                .or_default()
                                .insert(m.id().to_string(), idx);
                        }
                    }
                    (kind, Some(w)) => {
                        let threshold = match kind {
                            RuleKind::PueAboveCeiling => cfg.ceiling(f),
                            RuleKind::CoverageBelowMinimum => cfg.engine.min_coverage,
                            RuleKind::PueImplausible => 1.0,
                            RuleKind::RenewableShareBelowTarget => match f.renewable_target {
                                Some(t) => t,
                                None => continue,
                            },
                            RuleKind::WueAboveTarget => match f.wue_target {
                                Some(t) => t,
                                None => continue,
                            },
                            RuleKind::RefBelowTarget => match f.ref_target {
                                Some(t) => t,
                                None => continue,
                            },
                            RuleKind::MeterStale => continue,
                        };
                        let (key, labels) = base("window", w);
                        e.facilities[fi].windowed.push(e.instances.len());
                        e.instances.push(Instance {
                            rule: ri,
                            facility: fi,
                            meter: None,
                            key,
                            labels,
                            threshold,
                        });
                    }
                    (_, None) => {}
                }
            }
        }
        e.states = vec![None; e.instances.len()];
        e.by_key = e
            .instances
            .iter()
            .enumerate()
            .map(|(i, x)| (x.key.clone(), i))
            .collect();
        e
    }

    /// The rules in force (after defaults and `[[alert]]` overrides).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Evaluates every windowed rule of the step's facility on the windows ending at the step.
    /// `wall_ms` is the wall-clock time now (Alertmanager's startsAt of what fires).
    pub fn on_step(&mut self, step: &FacilityStep<'_>, wall_ms: i64) {
        let fi = match self.facilities.get(step.facility) {
            Some(f) if f.id == step.facility_id => step.facility,
            _ => match self
                .facilities
                .iter()
                .position(|f| f.id == step.facility_id)
            {
                Some(i) => i,
                None => return,
            },
        };
        if self.facilities[fi]
            .last_step_ms
            .is_some_and(|l| step.step_ms <= l)
        {
            return; // already evaluated (a replay after a restart)
        }
        self.facilities[fi].last_step_ms = Some(step.step_ms);
        for k in 0..self.facilities[fi].windowed.len() {
            let idx = self.facilities[fi].windowed[k];
            let inst = &self.instances[idx];
            let rule = &self.rules[inst.rule];
            let Some(w) = rule.window.as_deref().and_then(|w| step.windows.get(w)) else {
                continue;
            };
            let verdict = judge(rule, inst.threshold, self.min_coverage, w);
            self.apply(idx, verdict, step.step_ms, wall_ms);
        }
    }

    /// Evaluates MeterStale on the wall clock: each meter's last arrival against its
    /// `stale_after`. Meters not listed are not evaluated.
    pub fn on_wall_clock<'a>(
        &mut self,
        wall_ms: i64,
        meters: impl IntoIterator<Item = MeterSeen<'a>>,
    ) {
        for m in meters {
            let Some(&idx) = self.stale.get(m.facility).and_then(|f| f.get(m.meter)) else {
                continue;
            };
            let stale_after_ms = (self.instances[idx].threshold * 1000.0) as i64;
            let last = match m.last_seen_wall_ms {
                Some(t) => t,
                // Never heard since start: silent since the first ask, or, for an alert restored
                // pending or firing, since the silence it was raised for began.
                None => *self.first_asked.entry(idx).or_insert_with(|| {
                    self.states[idx]
                        .as_ref()
                        .map_or(wall_ms, |e| (e.since_ms - stale_after_ms).min(wall_ms))
                }),
            };
            let silent_s = (wall_ms - last).max(0) as f64 / 1000.0;
            let verdict = if wall_ms - last >= stale_after_ms {
                Verdict::Fire(silent_s)
            } else {
                Verdict::Clear(silent_s)
            };
            // The condition began when the silence passed stale_after, not at this tick.
            let at = if matches!(verdict, Verdict::Fire(_)) && self.states[idx].is_none() {
                (last + stale_after_ms).min(wall_ms)
            } else {
                wall_ms
            };
            self.apply_at(idx, verdict, at, wall_ms, wall_ms);
        }
    }

    fn apply(&mut self, idx: usize, verdict: Verdict, t: i64, wall_ms: i64) {
        self.apply_at(idx, verdict, t, t, wall_ms)
    }

    /// `since`: when a new condition began; `t`: the evaluation time.
    fn apply_at(&mut self, idx: usize, verdict: Verdict, since: i64, t: i64, wall_ms: i64) {
        let for_ms = self.rules[self.instances[idx].rule].for_ms;
        let lower_is_worse = self.instances[idx].lower_is_worse(&self.rules);
        let worse = |a: f64, b: f64| if lower_is_worse { a.min(b) } else { a.max(b) };
        match (verdict, self.states[idx].take()) {
            (Verdict::Frozen, st) => self.states[idx] = st,
            (Verdict::Fire(v), None) => {
                let mut e = Entry {
                    state: AlertState::Pending,
                    since_ms: since,
                    fired_ms: None,
                    started_wall_ms: wall_ms,
                    value: v,
                    worst: v,
                    last_eval_ms: t,
                };
                self.changes
                    .push(AlertChange::Pending(self.render(idx, &e)));
                if t - e.since_ms >= for_ms {
                    e.state = AlertState::Firing;
                    e.fired_ms = Some(t);
                    self.changes.push(AlertChange::Firing(self.render(idx, &e)));
                }
                self.states[idx] = Some(e);
            }
            (Verdict::Fire(v), Some(mut e)) => {
                e.value = v;
                e.worst = worse(e.worst, v);
                e.last_eval_ms = t;
                if e.state == AlertState::Pending && t - e.since_ms >= for_ms {
                    e.state = AlertState::Firing;
                    e.fired_ms = Some(t);
                    e.started_wall_ms = wall_ms;
                    self.changes.push(AlertChange::Firing(self.render(idx, &e)));
                }
                self.states[idx] = Some(e);
            }
            (Verdict::Clear(_) | Verdict::Band(_), None) => {}
            (Verdict::Clear(v) | Verdict::Band(v), Some(mut e))
                if e.state == AlertState::Pending =>
            {
                e.value = v;
                e.last_eval_ms = t;
                self.changes
                    .push(AlertChange::Cancelled(self.render(idx, &e)));
            }
            (Verdict::Band(v), Some(mut e)) => {
                e.value = v;
                e.worst = worse(e.worst, v);
                e.last_eval_ms = t;
                self.states[idx] = Some(e);
            }
            (Verdict::Clear(v), Some(mut e)) => {
                e.value = v;
                e.last_eval_ms = t;
                // The summary of a resolved alert tells what it was about: its worst value, not
                // the one that cleared it.
                let active = self.render(
                    idx,
                    &Entry {
                        value: e.worst,
                        ..e.clone()
                    },
                );
                let mut annotations = active.annotations;
                annotations.insert("value".into(), format!("{}", round4(v)));
                annotations.insert("event_resolved_at".into(), fmt_local(t, self.tz));
                self.changes.push(AlertChange::Resolved(ResolvedAlert {
                    name: active.name,
                    labels: active.labels,
                    annotations,
                    since: active.since,
                    fired_at: active.fired_at,
                    resolved_at: fmt_local(t, self.tz),
                    value: v,
                    worst: e.worst,
                    key: active.key,
                    since_ms: e.since_ms,
                    fired_ms: e.fired_ms,
                    resolved_ms: t,
                    started_wall_ms: e.started_wall_ms,
                    resolved_wall_ms: wall_ms,
                }));
            }
        }
    }

    /// Active alerts (pending and firing), in a stable order.
    pub fn active(&self) -> Vec<ActiveAlert> {
        self.states
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|e| self.render(i, e)))
            .collect()
    }

    /// Firing alerts only (what Alertmanager gets).
    pub fn firing(&self) -> Vec<ActiveAlert> {
        self.states
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.as_ref()
                    .filter(|e| e.state == AlertState::Firing)
                    .map(|e| self.render(i, e))
            })
            .collect()
    }

    /// The transitions since the last call, in order.
    pub fn drain_changes(&mut self) -> Vec<AlertChange> {
        std::mem::take(&mut self.changes)
    }

    /// The state to persist (see [`super::history::AlertHistory::commit`]).
    pub fn export_state(&self) -> PersistedState {
        PersistedState {
            version: 1,
            entries: self
                .states
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    s.as_ref()
                        .map(|e| (self.instances[i].key.clone(), e.clone()))
                })
                .collect(),
            last_steps: self
                .facilities
                .iter()
                .filter_map(|f| f.last_step_ms.map(|t| (f.id.clone(), t)))
                .collect(),
        }
    }

    /// Restores a persisted state (after a restart), so nothing re-fires and pending `for`
    /// progress is kept. An alert whose rule no longer exists (config changed) is resolved now
    /// if it was firing, dropped if pending.
    pub fn restore(&mut self, st: PersistedState, wall_ms: i64) {
        for (id, t) in st.last_steps {
            if let Some(f) = self.facilities.iter_mut().find(|f| f.id == id) {
                f.last_step_ms = Some(t);
            }
        }
        for (key, e) in st.entries {
            if let Some(&idx) = self.by_key.get(&key) {
                self.states[idx] = Some(e);
            } else if e.state == AlertState::Firing {
                let (name, facility, scope) = split_key(&key);
                let mut labels = BTreeMap::new();
                labels.insert("alertname".to_string(), name.to_string());
                labels.insert("facility".to_string(), facility.to_string());
                let scope_label = if name == "MeterStale" {
                    "meter"
                } else {
                    "window"
                };
                labels.insert(scope_label.to_string(), scope.to_string());
                let mut annotations = BTreeMap::new();
                annotations.insert(
                    "summary".into(),
                    format!("{name} on {facility} {scope}: rule removed from the config"),
                );
                annotations.insert(
                    "summary_zh".into(),
                    format!("{facility} {scope} 的 {name} 规则已从配置中删除"),
                );
                self.changes.push(AlertChange::Resolved(ResolvedAlert {
                    name: name.to_string(),
                    labels,
                    annotations,
                    since: fmt_local(e.since_ms, self.tz),
                    fired_at: e.fired_ms.map(|t| fmt_local(t, self.tz)),
                    resolved_at: fmt_local(e.last_eval_ms, self.tz),
                    value: e.value,
                    worst: e.worst,
                    key,
                    since_ms: e.since_ms,
                    fired_ms: e.fired_ms,
                    resolved_ms: e.last_eval_ms,
                    started_wall_ms: e.started_wall_ms,
                    resolved_wall_ms: wall_ms.max(e.started_wall_ms),
                }));
            }
        }
    }

    fn render(&self, idx: usize, e: &Entry) -> ActiveAlert {
        let inst = &self.instances[idx];
        let rule = &self.rules[inst.rule];
        let f = &self.facilities[inst.facility];
        let mut a = BTreeMap::new();
        let (en, zh) = summaries(rule, inst, f, e.value, self.min_coverage);
        a.insert("summary".to_string(), en);
        a.insert("summary_zh".to_string(), zh);
        a.insert("value".to_string(), format!("{}", round4(e.value)));
        a.insert(
            "threshold".to_string(),
            format!("{}", round4(inst.threshold)),
        );
        a.insert("event_since".to_string(), fmt_local(e.since_ms, self.tz));
        a.insert("event_time".to_string(), fmt_local(e.last_eval_ms, self.tz));
        if let Some(t) = e.fired_ms {
            a.insert("event_fired_at".to_string(), fmt_local(t, self.tz));
        }
        a.insert("facility_name".to_string(), f.name.clone());
        if rule.kind == RuleKind::PueAboveCeiling {
            a.insert(
                "resolves_at_or_below".to_string(),
                format!("{}", round4(inst.threshold - rule.hysteresis)),
            );
        }
        ActiveAlert {
            name: rule.name().to_string(),
            labels: inst.labels.clone(),
            annotations: a,
            state: e.state,
            since: fmt_local(e.since_ms, self.tz),
            value: e.value,
            fired_at: e.fired_ms.map(|t| fmt_local(t, self.tz)),
            evaluated_at: fmt_local(e.last_eval_ms, self.tz),
            key: inst.key.clone(),
            since_ms: e.since_ms,
            fired_ms: e.fired_ms,
            evaluated_ms: e.last_eval_ms,
            started_wall_ms: e.started_wall_ms,
        }
    }
}

impl Instance {
    fn lower_is_worse(&self, rules: &[Rule]) -> bool {
        matches!(
            rules[self.rule].kind,
            RuleKind::CoverageBelowMinimum
                | RuleKind::PueImplausible
                | RuleKind::RenewableShareBelowTarget
                | RuleKind::RefBelowTarget
        )
    }
}

fn split_key(key: &str) -> (&str, &str, &str) {
    let mut it = key.splitn(3, '/');
    (
        it.next().unwrap_or(""),
        it.next().unwrap_or(""),
        it.next().unwrap_or(""),
    )
}

fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// The rule's condition on one window's values. A value that is missing, not finite, or (for
/// the rules that say so) measured with too little coverage freezes the instance.
fn judge(rule: &Rule, threshold: f64, min_coverage: f64, w: &WindowValues) -> Verdict {
    let h = rule.hysteresis;
    let covered = w.coverage >= min_coverage;
    let (value, needs_coverage, side) = match rule.kind {
        RuleKind::PueAboveCeiling => (w.pue, true, Side::Above),
        RuleKind::PueImplausible => (w.pue, true, Side::Below),
        RuleKind::CoverageBelowMinimum => (Some(w.coverage), false, Side::Below),
        RuleKind::RenewableShareBelowTarget => (w.renewable_share, false, Side::Below),
        RuleKind::WueAboveTarget => (w.kpi.wue, true, Side::Above),
        RuleKind::RefBelowTarget => (w.kpi.ref_, false, Side::Below),
        RuleKind::MeterStale => return Verdict::Frozen,
    };
    match value {
        Some(x) if x.is_finite() && (covered || !needs_coverage) => side.judge(x, threshold, h),
        _ => Verdict::Frozen,
    }
}

/// Which side of its threshold a rule fires on.
#[derive(Clone, Copy)]
enum Side {
    /// Fires above the threshold; clears at or below threshold − hysteresis.
    Above,
    /// Fires below the threshold; clears at or above threshold + hysteresis.
    Below,
}

impl Side {
    fn judge(self, x: f64, threshold: f64, h: f64) -> Verdict {
        let (fire, clear) = match self {
            Side::Above => (x > threshold, x <= threshold - h),
            Side::Below => (x < threshold, x >= threshold + h),
        };
        if fire {
            Verdict::Fire(x)
        } else if clear {
            Verdict::Clear(x)
        } else {
            Verdict::Band(x)
        }
    }
}

/// Human summaries, English and Chinese.
fn summaries(
    rule: &Rule,
    inst: &Instance,
    f: &FacilityCtx,
    v: f64,
    min_cov: f64,
) -> (String, String) {
    let en_name = f.name_en.as_deref().unwrap_or(&f.id);
    let zh_name = &f.name;
    let w = rule.window.as_deref().unwrap_or("");
    let t = inst.threshold;
    match rule.kind {
        RuleKind::PueAboveCeiling => (
            format!("{en_name} ({}): PUE over {w} is {v:.3}, above its ceiling {t:.2}", f.tier),
            format!("{zh_name}：{w} 窗口 PUE 为 {v:.3}，超过上限 {t:.2}"),
        ),
        RuleKind::CoverageBelowMinimum => (
            format!(
                "{en_name}: only {} of the {w} window is covered by all total and IT meters (minimum {}); its PUE cannot be judged",
                fmt_pct(v),
                fmt_pct(min_cov)
            ),
            format!("{zh_name}：{w} 窗口数据覆盖率仅 {}，低于最低要求 {}，无法判定 PUE", fmt_pct(v), fmt_pct(min_cov)),
        ),
        RuleKind::PueImplausible => (
            format!("{en_name}: PUE over {w} is {v:.3}, below 1.0 — IT energy above total: check meter wiring or a meter fault"),
            format!("{zh_name}：{w} 窗口 PUE 为 {v:.3}，低于 1.0，IT 能耗高于总能耗，请检查电表接线或故障"),
        ),
        RuleKind::MeterStale => {
            let m = inst.meter.as_deref().unwrap_or("");
            let mins = (v / 60.0).floor() as i64;
            (
                format!("{en_name}: meter {m} has sent no reading for {mins} min (stale after {t:.0} s)"),
                format!("{zh_name}：电表 {m} 已 {mins} 分钟未上报数据（超过 {t:.0} 秒即告警）"),
            )
        }
        RuleKind::RenewableShareBelowTarget => (
            format!("{en_name}: renewable share over {w} is {}, below the target {}", fmt_pct(v), fmt_pct(t)),
            format!("{zh_name}：{w} 窗口可再生能源占比 {}，低于目标 {}", fmt_pct(v), fmt_pct(t)),
        ),
        RuleKind::WueAboveTarget => (
            format!("{en_name}: WUE over {w} is {v:.2} L/kWh, above the target {t:.2} L/kWh"),
            format!("{zh_name}：{w} 窗口水资源使用效率 WUE 为 {v:.2} L/kWh，高于目标 {t:.2} L/kWh"),
        ),
        RuleKind::RefBelowTarget => (
            format!("{en_name}: renewable energy factor (REF, certificates included) over {w} is {}, below the target {}", fmt_pct(v), fmt_pct(t)),
            format!("{zh_name}：{w} 窗口可再生能源利用率 REF（含绿证）为 {}，低于目标 {}", fmt_pct(v), fmt_pct(t)),
        ),
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
