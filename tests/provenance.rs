//! Provenance and meter replacement end to end (CONTRACT §13), readings through a real
//! Mosquitto into `dcpue serve`: a window's `estimated_share` in the API and /metrics equals what
//! this test computes by hand from the readings it published (an invalid `quality` counted as
//! `malformed`); a declared meter replacement gives exactly the §13 swap energy, and the same
//! readings without the declaration are judged a reset (other energy).

mod support;

use std::time::Duration;

use chrono::Utc;
use support::*;

const H: i64 = 3_600_000;
const M: i64 = 60_000;

fn close(got: Option<f64>, want: f64) -> bool {
    got.is_some_and(|g| (g - want).abs() <= 1e-9 * want.abs().max(1.0))
}

fn grid_kw(k: i64) -> f64 {
    1300.0 + 10.0 * (k % 5) as f64
}
fn it_a_kw(k: i64) -> f64 {
    600.0 + 5.0 * (k % 3) as f64
}
/// it-b's register: kWh in minute k.
fn it_b_step(k: i64) -> f64 {
    6.5 + 0.25 * (k % 4) as f64
}
/// it-b's readings 20..=29 are estimated, 40 is manual; grid's 45 is manual.
fn it_b_quality(k: i64) -> &'static str {
    match k {
        20..=29 => "estimated",
        40 => "manual",
        _ => "metered",
    }
}
fn grid_quality(k: i64) -> Option<&'static str> {
    (k == 45).then_some("manual")
}

/// Both tests' engine: hour windows in UTC.
const ENGINE: &str = r#"
[engine]
timezone = "UTC"
windows = ["15m", "1h"]
compliance_window = "1h"
"#;

/// Both tests' layout: one large core facility `f1` with a grid meter whose table has
/// `grid_lines` (a replacement, or nothing), then the IT meters `it`.
fn layout(grid_lines: &str, it: &[&str]) -> String {
    let f1 = facility("f1")
        .name("测试一")
        .meter_with("grid", "total", grid_lines);
    let f1 = it.iter().fold(f1, |f, id| f.meter(id, "it"));
    format!("{ENGINE}{f1}")
}

#[test]
fn estimated_share_matches_the_hand_computation_and_a_bad_quality_is_malformed() {
    let broker = Mosquitto::start();
    let now = Utc::now().timestamp_millis();
    let t0 = (now - 5 * H) / H * H;
    let d = Dcpue::start(&broker.url(), &layout("", &["it-a", "it-b"]));
    let ts = |k: i64| t0 + k * M;

    // One hour of one-minute readings, t0..=t0+1h: the 1h window is exactly [t0, t0+1h).
    let grid: Vec<String> = (0..=60)
        .map(|k| match grid_quality(k) {
            Some(q) => format!(
                r#"{{"ts": {}, "power_kw": {}, "quality": "{q}"}}"#,
                ts(k),
                grid_kw(k)
            ),
            None => format!(r#"{{"ts": {}, "power_kw": {}}}"#, ts(k), grid_kw(k)),
        })
        .collect();
    let it_a: Vec<String> = (0..=60)
        .map(|k| {
            format!(
                r#"{{"ts": {}, "power_kw": {}, "quality": "metered"}}"#,
                ts(k),
                it_a_kw(k)
            )
        })
        .collect();
    let mut reg = 70_000.0;
    let mut it_b = Vec::new();
    for k in 0..=60 {
        it_b.push(format!(
            r#"{{"ts": {}, "energy_kwh": {reg}, "quality": "{}"}}"#,
            ts(k),
            it_b_quality(k)
        ));
        reg += it_b_step(k);
    }
    broker.publish_lines("dc/f1/grid", &grid, 1);
    broker.publish_lines("dc/f1/it-a", &it_a, 1);
    broker.publish_lines("dc/f1/it-b", &it_b, 1);
    // Two readings with a quality that is not one of the three: malformed, nothing else lost.
    broker.publish(
        "dc/f1/it-a",
        &format!(
            r#"{{"ts": {}, "power_kw": 9999, "quality": "guessed"}}"#,
            ts(30) + 30_000
        ),
        1,
    );
    broker.publish(
        "dc/f1/it-a",
        &format!(
            r#"[{{"ts": {}, "power_kw": 9999, "quality": 1}}]"#,
            ts(31) + 30_000
        ),
        1,
    );

    // By hand: an interval is non-metered when a reading at either end is not metered.
    let trap = |kw: fn(i64) -> f64, k: i64| (kw(k) + kw(k + 1)) / 2.0 / 60.0;
    let (mut total, mut it, mut est) = (0.0, 0.0, 0.0);
    for k in 0..60 {
        let g = trap(grid_kw, k);
        total += g;
        if grid_quality(k).is_some() || grid_quality(k + 1).is_some() {
            est += g;
        }
        it += trap(it_a_kw, k);
        let b = it_b_step(k);
        it += b;
        if it_b_quality(k) != "metered" || it_b_quality(k + 1) != "metered" {
            est += b;
        }
    }
    let share = est / (total + it);
    assert!(share > 0.01 && share < 0.5, "{share}");

    let w = eventually(Duration::from_secs(60), || {
        let w = d.get_json("/api/v1/facilities/f1")["windows"]["1h"].clone();
        close(w["estimated_share"].as_f64(), share).then_some(w)
    })
    .unwrap_or_else(|| {
        panic!(
            "API 1h window: {}\nwant estimated_share {share}\nlog:\n{}",
            d.get_json("/api/v1/facilities/f1")["windows"]["1h"],
            d.log()
        )
    });
    assert!(close(w["energy_kwh"]["total"].as_f64(), total), "{w}");
    assert!(close(w["energy_kwh"]["it"].as_f64(), it), "{w}");
    let list = d.get_json("/api/v1/facilities");
    assert!(
        close(list[0]["windows"]["1h"]["estimated_share"].as_f64(), share),
        "{list}"
    );
    // The two malformed messages were published last: the window can be complete before the
    // collector has taken them, so wait for their count (it is asserted exactly below).
    let malformed = r#"dcpue_readings_rejected_total{facility="f1",reason="malformed"}"#;
    let text = eventually(Duration::from_secs(30), || {
        let text = d.metrics();
        (metric_value(&text, malformed) == Some(2.0)).then_some(text)
    })
    .unwrap_or_else(|| d.metrics());
    assert!(
        close(
            metric_value(
                &text,
                r#"dcpue_estimated_share_ratio{facility="f1",window="1h"}"#
            ),
            share
        ),
        "want {share}\n{text}"
    );
    assert_eq!(metric_value(&text, malformed), Some(2.0), "{text}");
    promtool_check_metrics(&text).expect("promtool-clean");
}

/// The grid register is replaced between readings 30 and 31 (`at` 30 s after reading 30).
const AT_OFFSET_MS: i64 = 30 * M + 30_000;
const OLD_FINAL: f64 = 50_610.0;
const NEW_INITIAL: f64 = 2.0;

/// The grid register's reading k: 20 kWh a minute on the old register (50 000 + 20k) up to
/// reading 30, then the new register from 12 kWh (its first value 2 + 10), 20 kWh a minute.
fn grid_reg(k: i64) -> f64 {
    if k <= 30 {
        50_000.0 + 20.0 * k as f64
    } else {
        12.0 + 20.0 * (k - 31) as f64
    }
}

/// Publishes an hour of grid register readings (across the swap) and IT power (1000 kW), and
/// returns the API's 1h window once it ends at t0 + 1h.
fn swap_run(declared: bool) -> (serde_json::Value, String, Dcpue) {
    let broker = Mosquitto::start();
    let now = Utc::now().timestamp_millis();
    let t0 = (now - 5 * H) / H * H;
    let at = chrono::DateTime::from_timestamp_millis(t0 + AT_OFFSET_MS)
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .to_rfc3339();
    let replacement = if declared {
        format!(
            "[[facility.meter.replacement]]\nat = \"{at}\"\nold_final_kwh = {OLD_FINAL:.1}\nnew_initial_kwh = {NEW_INITIAL:.1}"
        )
    } else {
        String::new()
    };
    let d = Dcpue::start(&broker.url(), &layout(&replacement, &["it"]));
    let ts = |k: i64| t0 + k * M;
    let grid: Vec<String> = (0..=60)
        .map(|k| format!(r#"{{"ts": {}, "energy_kwh": {}}}"#, ts(k), grid_reg(k)))
        .collect();
    let it: Vec<String> = (0..=60)
        .map(|k| format!(r#"{{"ts": {}, "power_kw": 1000}}"#, ts(k)))
        .collect();
    broker.publish_lines("dc/f1/grid", &grid, 1);
    broker.publish_lines("dc/f1/it", &it, 1);
    let want_wm = chrono::DateTime::from_timestamp_millis(ts(60)).unwrap();
    let w = eventually(Duration::from_secs(60), || {
        let f = d.get_json("/api/v1/facilities/f1");
        let wm = f["watermark"].as_str()?;
        let wm = chrono::DateTime::parse_from_rfc3339(wm).ok()?;
        let w = &f["windows"]["1h"];
        (wm == want_wm && close(w["energy_kwh"]["it"].as_f64(), 1000.0)).then(|| w.clone())
    })
    .unwrap_or_else(|| {
        panic!(
            "facility: {}\nlog:\n{}",
            d.get_json("/api/v1/facilities/f1"),
            d.log()
        )
    });
    let text = d.metrics();
    (w, text, d)
}

#[test]
fn a_declared_replacement_gives_the_swap_energy_without_a_reset() {
    let (w, text, d) = swap_run(true);
    // By hand: 30 old minutes, the swap (old_final − last old) + (first new − new_initial),
    // 29 new minutes.
    let swap = (OLD_FINAL - grid_reg(30)) + (grid_reg(31) - NEW_INITIAL);
    assert_eq!(swap, 20.0);
    let total = (grid_reg(30) - grid_reg(0)) + swap + (grid_reg(60) - grid_reg(31));
    assert!(
        close(w["energy_kwh"]["total"].as_f64(), total),
        "want {total}: {w}"
    );
    assert!(close(w["pue"].as_f64(), total / 1000.0), "{w}");
    assert!(close(w["coverage"].as_f64(), 1.0), "{w}");
    for reason in [
        "glitch",
        "implausible",
        "malformed",
        "invalid_value",
        "too_late",
    ] {
        assert_eq!(
            metric_value(
                &text,
                &format!(r#"dcpue_readings_rejected_total{{facility="f1",reason="{reason}"}}"#)
            ),
            Some(0.0),
            "{reason}\n{text}"
        );
    }
    assert_eq!(
        metric_value(&text, r#"dcpue_readings_accepted_total{facility="f1"}"#),
        Some(122.0),
        "{text}"
    );
    // check-config lists the replacement
    let out = std::process::Command::new(dcpue_bin())
        .arg("check-config")
        .arg(&d.config)
        .output()
        .expect("check-config");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("meter grid replaced at") && stdout.contains("50610"),
        "{stdout}"
    );
}

#[test]
fn without_the_declaration_the_same_drop_is_a_reset() {
    let (w, _, _d) = swap_run(false);
    // §4: three readings below the old value are a reset, whose energy is the new value.
    let total = (grid_reg(30) - grid_reg(0)) + grid_reg(31) + (grid_reg(60) - grid_reg(31));
    assert!(
        close(w["energy_kwh"]["total"].as_f64(), total),
        "want {total}: {w}"
    );
}
