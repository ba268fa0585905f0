//! The state machine on synthetic event-time series.

use super::*;
use crate::config::fixture::{facility, FacilityToml};
use crate::engine::{Energies, Windows};

const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;
/// 2026-11-01T00:00:00Z, a whole minute.
const T0: i64 = 1_793_491_200_000;
const WALL: i64 = 1_800_000_000_000;

fn cfg(extra: &str) -> Config {
    let nanchang = facility("nanchang-1")
        .name("南昌核心数据中心")
        .key("renewable_target = 0.3")
        .meter("grid-in", "total")
        .meter_with("it-a", "it", "stale_after = \"20m\"");
    let text = format!("{nanchang}{}{extra}\n", fuzhou());
    Config::parse(&text, "test.toml").unwrap()
}

/// The backup facility: medium and commissioned in 2019, so held to the grade-3 bound 1.5.
fn fuzhou() -> FacilityToml {
    facility("fuzhou-1")
        .name("抚州备份数据中心")
        .city("Fuzhou")
        .tier("backup")
        .class("medium")
        .commissioned("2019-06-01")
        .meter("grid-in", "total")
        .meter("it-a", "it")
}

fn wv(pue: Option<f64>, coverage: f64, share: Option<f64>) -> WindowValues {
    WindowValues {
        pue,
        coverage,
        renewable_share: share,
        energy_kwh: Energies::default(),
        covered_energy_kwh: None,
        kpi: Default::default(),
        start_ms: 0,
        end_ms: 0,
        estimated_share: None,
    }
}

/// The same values on every configured window.
fn all(pue: Option<f64>, coverage: f64) -> Windows {
    Windows(
        ["15m", "1h", "24h", "30d", "365d"]
            .iter()
            .map(|w| (w.to_string(), wv(pue, coverage, Some(0.5))))
            .collect(),
    )
}

fn step(e: &mut AlertEngine, facility: usize, id: &str, t: i64, w: &Windows) {
    step_at(e, facility, id, t, w, WALL + (t - T0) / 60)
}

/// A step of event time `t` evaluated at wall-clock time `wall`.
fn step_at(e: &mut AlertEngine, facility: usize, id: &str, t: i64, w: &Windows, wall: i64) {
    e.on_step(
        &FacilityStep {
            facility,
            facility_id: id,
            step_ms: t,
            windows: w,
        },
        wall,
    );
}

fn nc(e: &mut AlertEngine, t: i64, w: &Windows) {
    step(e, 0, "nanchang-1", t, w)
}

/// Asserts the state of nanchang-1's alert `name` on `window` (`None`: not active).
#[track_caller]
fn assert_state(e: &AlertEngine, name: &str, window: &str, want: Option<AlertState>) {
    assert_eq!(state_of(e, name, window), want, "{name} on {window}");
}

fn state_of(e: &AlertEngine, name: &str, window: &str) -> Option<AlertState> {
    e.active()
        .into_iter()
        .find(|a| {
            a.name == name
                && a.labels.get("window").map(String::as_str) == Some(window)
                && a.labels["facility"] == "nanchang-1"
        })
        .map(|a| a.state)
}

fn kinds(changes: &[AlertChange], name: &str, window: &str) -> Vec<&'static str> {
    changes
        .iter()
        .filter_map(|c| {
            let (k, labels) = match c {
                AlertChange::Pending(a) => ("pending", &a.labels),
                AlertChange::Firing(a) => ("firing", &a.labels),
                AlertChange::Cancelled(a) => ("cancelled", &a.labels),
                AlertChange::Resolved(r) => ("resolved", &r.labels),
            };
            (labels["alertname"] == name
                && labels.get("window").map(String::as_str) == Some(window))
            .then_some(k)
        })
        .collect()
}

#[test]
fn compliance_window_flapping_around_the_ceiling_resolves_only_below_the_hysteresis() {
    let mut e = AlertEngine::new(&cfg(""));
    let series = [1.29, 1.31, 1.295, 1.305, 1.292, 1.285, 1.299, 1.301];
    for (i, p) in series.iter().enumerate() {
        nc(&mut e, T0 + i as i64 * MIN, &all(Some(*p), 1.0));
    }
    let ch = e.drain_changes();
    // 1.31 fires at once (for 0 on the compliance window); 1.295 and 1.292 are inside the
    // 0.01 band and keep it firing; 1.285 resolves; 1.299 does not fire; 1.301 fires again.
    assert_eq!(
        kinds(&ch, "PueAboveCeiling", "365d"),
        ["pending", "firing", "resolved", "pending", "firing"]
    );
    let resolved: Vec<&ResolvedAlert> = ch
        .iter()
        .filter_map(|c| match c {
            AlertChange::Resolved(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].since_ms, T0 + MIN);
    assert_eq!(resolved[0].resolved_ms, T0 + 5 * MIN);
    assert!((resolved[0].worst - 1.31).abs() < 1e-12);
    assert_eq!(resolved[0].resolved_at, "2026-11-01T08:05:00+08:00");
    // Its summary tells what it was about (the worst PUE), its value what cleared it.
    let summary = &resolved[0].annotations["summary"];
    assert!(
        summary.contains("is 1.310, above its ceiling 1.30"),
        "{summary}"
    );
    assert_eq!(resolved[0].annotations["value"], "1.285");
    assert_state(&e, "PueAboveCeiling", "365d", Some(AlertState::Firing));
    // The 24h rule (for 1h) was pending then cancelled each time PUE went back under 1.3.
    assert!(!kinds(&ch, "PueAboveCeiling", "24h").contains(&"firing"));
}

#[test]
fn for_is_measured_in_event_time_across_a_one_hour_batch_evaluated_minute_by_minute() {
    let mut e = AlertEngine::new(&cfg(""));
    // Only the 24h window breaches (the compliance window stays fine).
    let mut w = all(Some(1.2), 1.0);
    w.0[2].1.pue = Some(1.35);
    // One batch of 90 minutes arriving at one wall-clock instant.
    for i in 0..=90 {
        step_at(&mut e, 0, "nanchang-1", T0 + i * MIN, &w, WALL);
        if i == 59 {
            assert_eq!(
                state_of(&e, "PueAboveCeiling", "24h"),
                Some(AlertState::Pending),
                "not firing before 1h of event time"
            );
        }
    }
    let ch = e.drain_changes();
    assert_eq!(kinds(&ch, "PueAboveCeiling", "24h"), ["pending", "firing"]);
    let firing = e.firing();
    let a = firing.iter().find(|a| a.labels["window"] == "24h").unwrap();
    assert_eq!(a.since_ms, T0);
    assert_eq!(a.fired_ms, Some(T0 + HOUR));
    assert_eq!(a.evaluated_ms, T0 + 90 * MIN);
    assert_eq!(a.labels["severity"], "warning");
    assert_state(&e, "PueAboveCeiling", "365d", None);
}

#[test]
fn replay_in_one_batch_alerts_as_live_data_did() {
    let series: Vec<f64> = (0..300)
        .map(|i| 1.25 + 0.08 * ((i as f64) / 37.0).sin())
        .collect();
    let run = |chunks: usize| {
        let mut e = AlertEngine::new(&cfg(""));
        let mut out = Vec::new();
        for (i, p) in series.iter().enumerate() {
            let mut w = all(Some(1.2), 1.0);
            w.0[2].1.pue = Some(*p);
            step_at(&mut e, 0, "nanchang-1", T0 + i as i64 * MIN, &w, WALL);
            if i % chunks == 0 {
                out.extend(e.drain_changes());
            }
        }
        out.extend(e.drain_changes());
        out.into_iter()
            .map(|c| match c {
                AlertChange::Pending(a) => ("pending", a.key, a.since_ms),
                AlertChange::Firing(a) => ("firing", a.key, a.fired_ms.unwrap_or(0)),
                AlertChange::Cancelled(a) => ("cancelled", a.key, a.evaluated_ms),
                AlertChange::Resolved(r) => ("resolved", r.key, r.resolved_ms),
            })
            .collect::<Vec<_>>()
    };
    let live = run(1);
    assert!(live.iter().any(|c| c.0 == "firing"), "{live:?}");
    assert!(live.iter().any(|c| c.0 == "resolved"), "{live:?}");
    assert_eq!(live, run(1000));
}

#[test]
fn a_data_gap_below_min_coverage_neither_resolves_nor_fires_and_raises_coverage_alert() {
    let mut e = AlertEngine::new(&cfg(""));
    nc(&mut e, T0, &all(Some(1.4), 1.0));
    assert_state(&e, "PueAboveCeiling", "365d", Some(AlertState::Firing));
    // Coverage collapses; the PUE on what is left looks fine, but must not resolve.
    for i in 1..=70 {
        nc(&mut e, T0 + i * MIN, &all(Some(1.1), 0.5));
    }
    assert_state(&e, "PueAboveCeiling", "365d", Some(AlertState::Firing));
    assert_state(&e, "CoverageBelowMinimum", "365d", Some(AlertState::Firing));
    assert_state(&e, "CoverageBelowMinimum", "24h", Some(AlertState::Firing));
    let ch = e.drain_changes();
    assert!(!kinds(&ch, "PueAboveCeiling", "365d").contains(&"resolved"));
    let cov = e
        .firing()
        .into_iter()
        .find(|a| a.name == "CoverageBelowMinimum")
        .unwrap();
    assert_eq!(cov.fired_ms, Some(T0 + 61 * MIN));
    // Coverage is back but there is no PUE (no IT energy): the coverage alert resolves, the
    // PUE alert stays as it was.
    nc(&mut e, T0 + 71 * MIN, &all(None, 1.0));
    let ch = e.drain_changes();
    assert_eq!(kinds(&ch, "CoverageBelowMinimum", "365d"), ["resolved"]);
    assert_state(&e, "PueAboveCeiling", "365d", Some(AlertState::Firing));
    // Data comes back, facility recovered: it resolves.
    nc(&mut e, T0 + 72 * MIN, &all(Some(1.2), 0.95));
    let ch = e.drain_changes();
    assert_eq!(kinds(&ch, "PueAboveCeiling", "365d"), ["resolved"]);
    assert!(e
        .active()
        .iter()
        .all(|a| a.labels["facility"] != "nanchang-1"));
    // A gap does not fire a new one either.
    nc(&mut e, T0 + 73 * MIN, &all(Some(1.6), 0.2));
    assert_state(&e, "PueAboveCeiling", "365d", None);
}

#[test]
fn labels_and_bilingual_annotations() {
    let mut e = AlertEngine::new(&cfg(""));
    nc(&mut e, T0, &all(Some(1.3512), 1.0));
    let a = e
        .firing()
        .into_iter()
        .find(|a| a.labels["window"] == "365d")
        .unwrap();
    let want: BTreeMap<String, String> = [
        ("alertname", "PueAboveCeiling"),
        ("facility", "nanchang-1"),
        ("window", "365d"),
        ("tier", "core"),
        ("severity", "critical"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(a.labels, want);
    assert!(
        a.annotations["summary"].contains("1.351"),
        "{:?}",
        a.annotations
    );
    assert!(a.annotations["summary"].contains("1.30"));
    assert!(a.annotations["summary_zh"].contains("南昌核心数据中心"));
    assert!(a.annotations["summary_zh"].contains("超过上限"));
    assert_eq!(a.annotations["event_since"], "2026-11-01T08:00:00+08:00");
    assert_eq!(a.annotations["value"], "1.3512");
    assert_eq!(a.since, "2026-11-01T08:00:00+08:00");
    let json = serde_json::to_value(&a).unwrap();
    for k in ["name", "labels", "state", "since", "value"] {
        assert!(json.get(k).is_some(), "{k} in {json}");
    }
    assert_eq!(json["state"], "firing");
}

#[test]
fn ceiling_comes_from_policy_per_facility() {
    // fuzhou-1 is medium and old: its ceiling is the grade-3 bound 1.5.
    let mut e = AlertEngine::new(&cfg(""));
    step(&mut e, 1, "fuzhou-1", T0, &all(Some(1.45), 1.0));
    assert!(e.active().is_empty(), "{:?}", e.active());
    step(&mut e, 1, "fuzhou-1", T0 + MIN, &all(Some(1.52), 1.0));
    let a = e.firing();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].labels["facility"], "fuzhou-1");
    assert_eq!(a[0].labels["tier"], "backup");
    assert_eq!(a[0].annotations["threshold"], "1.5");
    // A wrong facility index is looked up by id.
    step(&mut e, 7, "nanchang-1", T0, &all(Some(1.4), 1.0));
    assert_state(&e, "PueAboveCeiling", "365d", Some(AlertState::Firing));
}

#[test]
fn pue_implausible_and_renewable_share() {
    let mut e = AlertEngine::new(&cfg(""));
    let mut w = all(Some(1.2), 1.0);
    w.0[1].1.pue = Some(0.93);
    w.0[4].1.renewable_share = Some(0.2);
    for i in 0..=15 {
        nc(&mut e, T0 + i * MIN, &w);
    }
    assert_state(&e, "PueImplausible", "1h", Some(AlertState::Firing));
    assert_state(
        &e,
        "RenewableShareBelowTarget",
        "365d",
        Some(AlertState::Firing),
    );
    // fuzhou-1 has no renewable target: no such alert.
    step(&mut e, 1, "fuzhou-1", T0, &w);
    assert!(!e
        .active()
        .iter()
        .any(|a| a.labels["facility"] == "fuzhou-1" && a.name == "RenewableShareBelowTarget"));
    // Share unknown: frozen; share back to target: resolved.
    w.0[4].1.renewable_share = None;
    nc(&mut e, T0 + 16 * MIN, &w);
    assert_state(
        &e,
        "RenewableShareBelowTarget",
        "365d",
        Some(AlertState::Firing),
    );
    w.0[4].1.renewable_share = Some(0.31);
    w.0[1].1.pue = Some(1.15);
    nc(&mut e, T0 + 17 * MIN, &w);
    assert!(
        !e.active()
            .iter()
            .any(|a| a.labels["facility"] == "nanchang-1"),
        "{:?}",
        e.active()
    );
}

#[test]
fn enabled_false_switches_a_rule_off_and_an_added_window_alerts() {
    let c = cfg(r#"
[[alert]]
name = "PueAboveCeiling"
window = "365d"
enabled = false

[[alert]]
name = "PueAboveCeiling"
window = "1h"
for = "0m"
"#);
    let mut e = AlertEngine::new(&c);
    nc(&mut e, T0, &all(Some(1.5), 1.0));
    assert_state(&e, "PueAboveCeiling", "365d", None);
    assert_state(&e, "PueAboveCeiling", "1h", Some(AlertState::Firing));
    assert_state(&e, "PueAboveCeiling", "24h", Some(AlertState::Pending));
    let a = e
        .firing()
        .into_iter()
        .find(|a| a.labels["window"] == "1h")
        .unwrap();
    assert_eq!(a.labels["severity"], "warning");
}

#[test]
fn meter_stale_on_the_wall_clock() {
    let mut e = AlertEngine::new(&cfg(""));
    let seen = |grid: Option<i64>, it: Option<i64>| {
        vec![
            MeterSeen {
                facility: "nanchang-1",
                meter: "grid-in",
                last_seen_wall_ms: grid,
            },
            MeterSeen {
                facility: "nanchang-1",
                meter: "it-a",
                last_seen_wall_ms: it,
            },
            MeterSeen {
                facility: "fuzhou-1",
                meter: "grid-in",
                last_seen_wall_ms: None,
            },
        ]
    };
    e.on_wall_clock(WALL, seen(Some(WALL), Some(WALL)));
    e.on_wall_clock(WALL + 4 * MIN, seen(Some(WALL), Some(WALL)));
    assert!(e.active().is_empty());
    // grid-in: default 5m; it-a has stale_after = 20m; fuzhou-1/grid-in never seen since start.
    e.on_wall_clock(WALL + 6 * MIN, seen(Some(WALL), Some(WALL)));
    let firing = e.firing();
    let keys: Vec<&str> = firing.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "MeterStale/nanchang-1/grid-in",
            "MeterStale/fuzhou-1/grid-in"
        ]
    );
    assert_eq!(firing[0].since_ms, WALL + 5 * MIN);
    assert_eq!(firing[0].labels["meter"], "grid-in");
    assert!(
        firing[0].annotations["summary"].contains("6 min"),
        "{:?}",
        firing[0].annotations
    );
    assert!(firing[0].annotations["summary_zh"].contains("电表 grid-in"));
    e.on_wall_clock(WALL + 21 * MIN, seen(Some(WALL + 20 * MIN), Some(WALL)));
    let ch = e.drain_changes();
    let resolved: Vec<&str> = ch
        .iter()
        .filter_map(|c| match c {
            AlertChange::Resolved(r) => Some(r.key.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(resolved, ["MeterStale/nanchang-1/grid-in"]);
    let keys: Vec<String> = e.firing().into_iter().map(|a| a.key).collect();
    assert_eq!(
        keys,
        ["MeterStale/nanchang-1/it-a", "MeterStale/fuzhou-1/grid-in"]
    );
}

#[test]
fn meter_stale_after_from_the_alert_block() {
    let mut e = AlertEngine::new(&cfg(
        "[[alert]]\nname = \"MeterStale\"\nstale_after = \"1h\"\n",
    ));
    let m = [MeterSeen {
        facility: "nanchang-1",
        meter: "grid-in",
        last_seen_wall_ms: Some(WALL),
    }];
    e.on_wall_clock(WALL + 30 * MIN, m);
    assert!(e.active().is_empty());
    e.on_wall_clock(WALL + 61 * MIN, m);
    assert_eq!(e.firing().len(), 1);
}

#[test]
fn restore_keeps_pending_progress_and_does_not_refire() {
    let c = cfg("");
    let mut e = AlertEngine::new(&c);
    let mut w = all(Some(1.2), 1.0);
    w.0[2].1.pue = Some(1.35);
    w.0[4].1.pue = Some(1.4);
    for i in 0..30 {
        nc(&mut e, T0 + i * MIN, &w);
    }
    let saved = e.export_state();
    let json = serde_json::to_string(&saved).unwrap();
    let mut e2 = AlertEngine::new(&c);
    e2.restore(serde_json::from_str(&json).unwrap(), WALL + HOUR);
    for i in 30..=60 {
        nc(&mut e2, T0 + i * MIN, &w);
    }
    let ch = e2.drain_changes();
    // The 24h alert fires at T0 + 1h (pending since T0 before the restart); the compliance
    // one was already firing and is not fired again.
    assert_eq!(kinds(&ch, "PueAboveCeiling", "24h"), ["firing"]);
    assert!(kinds(&ch, "PueAboveCeiling", "365d").is_empty());
    assert_eq!(e2.firing().len(), 2);
    // Steps already evaluated before the restart are not evaluated again.
    let mut e4 = AlertEngine::new(&c);
    e4.restore(saved.clone(), WALL + HOUR);
    nc(&mut e4, T0 + 10 * MIN, &all(Some(1.1), 1.0));
    assert_eq!(e4.firing().len(), 1, "an old step does not resolve");
    nc(&mut e4, T0 + 30 * MIN, &all(Some(1.1), 1.0));
    assert!(e4.active().is_empty());
    // A rule removed from the config is resolved on restore.
    let c2 = cfg("[[alert]]\nname = \"PueAboveCeiling\"\nwindow = \"365d\"\nenabled = false\n");
    let mut e3 = AlertEngine::new(&c2);
    e3.restore(e2.export_state(), WALL + 2 * HOUR);
    let ch = e3.drain_changes();
    assert_eq!(kinds(&ch, "PueAboveCeiling", "365d"), ["resolved"]);
    assert_eq!(e3.firing().len(), 1);
}

#[test]
fn a_restored_meter_stale_of_a_meter_never_heard_stays_firing() {
    let c = cfg("");
    let never = [MeterSeen {
        facility: "fuzhou-1",
        meter: "grid-in",
        last_seen_wall_ms: None,
    }];
    let mut e = AlertEngine::new(&c);
    e.on_wall_clock(WALL, never);
    e.on_wall_clock(WALL + 6 * MIN, never);
    let before = e.firing();
    assert_eq!(before.len(), 1);
    let mut e2 = AlertEngine::new(&c);
    e2.restore(e.export_state(), WALL + HOUR);
    e2.drain_changes();
    // Still not heard from after the restart: the same silence goes on, nothing changes.
    e2.on_wall_clock(WALL + HOUR, never);
    e2.on_wall_clock(WALL + HOUR + 6 * MIN, never);
    assert!(
        e2.drain_changes().is_empty(),
        "neither resolved nor fired anew"
    );
    let after = e2.firing();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].since_ms, before[0].since_ms);
}

#[test]
fn wue_above_and_ref_below_their_targets_fire_and_resolve() {
    let nanchang = facility("nanchang-1")
        .name("南昌核心数据中心")
        .key("wue_target = 1.4")
        .key("ref_target = 0.3")
        .meter("grid-in", "total")
        .meter("it-a", "it");
    let text = format!("{nanchang}{}", fuzhou());
    let mut e = AlertEngine::new(&Config::parse(&text, "test.toml").unwrap());
    let mut w = all(Some(1.2), 1.0);
    let year = 4;
    w.0[year].1.kpi.wue = Some(1.6);
    w.0[year].1.kpi.ref_ = Some(0.25);
    // On a shorter window the same values do not alert: the rules judge the compliance window.
    w.0[1].1.kpi.wue = Some(9.0);
    nc(&mut e, T0, &w);
    assert_state(&e, "WueAboveTarget", "365d", Some(AlertState::Firing));
    assert_state(&e, "RefBelowTarget", "365d", Some(AlertState::Firing));
    assert_state(&e, "WueAboveTarget", "1h", None);
    let a = e
        .firing()
        .into_iter()
        .find(|a| a.name == "WueAboveTarget")
        .unwrap();
    assert_eq!(a.labels["severity"], "warning");
    assert!(a.annotations["summary_zh"].contains("1.60 L/kWh"), "{a:?}");
    // fuzhou-1 has no targets: no such alerts.
    step(&mut e, 1, "fuzhou-1", T0, &w);
    assert!(!e
        .active()
        .iter()
        .any(|a| a.labels["facility"] == "fuzhou-1" && a.name != "PueAboveCeiling"));
    // WUE unknown or below min_coverage: frozen, neither resolved nor re-judged.
    w.0[year].1.kpi.wue = None;
    nc(&mut e, T0 + MIN, &w);
    assert_state(&e, "WueAboveTarget", "365d", Some(AlertState::Firing));
    w.0[year].1.kpi.wue = Some(1.0);
    w.0[year].1.coverage = 0.5;
    nc(&mut e, T0 + 2 * MIN, &w);
    assert_state(&e, "WueAboveTarget", "365d", Some(AlertState::Firing));
    // Back within the targets: both resolve.
    w.0[year].1.coverage = 1.0;
    w.0[year].1.kpi.ref_ = Some(0.35);
    nc(&mut e, T0 + 3 * MIN, &w);
    assert_state(&e, "WueAboveTarget", "365d", None);
    assert_state(&e, "RefBelowTarget", "365d", None);
}
