//! `dcpue serve` end to end: a real Mosquitto, readings published with `mosquitto_pub`, values
//! read back from the HTTP API and /metrics as users and scrapers see them.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

const H: i64 = 3_600_000;
const M: i64 = 60_000;

/// A whole hour at least 3 hours in the past.
fn base() -> i64 {
    (now_ms() - 4 * H) / H * H
}

fn power_lines(from: i64, minutes: i64, kw: f64) -> Vec<String> {
    (0..=minutes)
        .map(|k| format!(r#"{{"ts": {}, "power_kw": {kw}}}"#, from + k * M))
        .collect()
}

fn window<'a>(f: &'a Value, w: &str) -> &'a Value {
    &f["windows"][w]
}

fn wait_accepted(d: &Dcpue, facility: &str, n: f64) {
    let series = format!("dcpue_readings_accepted_total{{facility=\"{facility}\"}}");
    let got = eventually(Duration::from_secs(30), || {
        d.metric(&series).filter(|v| *v >= n)
    });
    assert_eq!(
        got,
        Some(n),
        "accepted readings of {facility}; log:\n{}",
        d.log()
    );
}

#[test]
fn scenario_values_come_out_of_the_api_and_metrics() {
    let broker = Mosquitto::start();
    let d = Dcpue::start(&broker.url(), TEST_FACILITIES);
    let t0 = base();
    broker.publish_lines("dc/f1/grid", &power_lines(t0, 120, 1300.0), 1);
    broker.publish_lines("dc/f1/it-a", &power_lines(t0, 120, 500.0), 1);
    broker.publish_lines("dc/f1/it-b", &power_lines(t0, 120, 500.0), 1);
    // On-site PV as a batch array of readings, 100 kW.
    let batch: Vec<String> = (0..=120)
        .map(|k| format!(r#"{{"ts":"{}","power_kw":100}}"#, rfc3339(t0 + k * M)))
        .collect();
    broker.publish("dc/f1/pv", &format!("[{}]", batch.join(",")), 1);
    wait_accepted(&d, "f1", 4.0 * 121.0);

    let f = eventually(Duration::from_secs(10), || {
        let f = d.get_json("/api/v1/facilities/f1");
        (f["watermark"].is_string() && window(&f, "1h")["pue"].is_number()).then_some(f)
    })
    .expect("f1 has a 1h PUE");
    let h1 = window(&f, "1h");
    assert!(
        (h1["pue"].as_f64().unwrap() - 1.4).abs() < 1e-9,
        "(1300+100)/1000: {h1}"
    );
    assert!((h1["coverage"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    assert!((h1["energy_kwh"]["total"].as_f64().unwrap() - 1400.0).abs() < 1e-6);
    assert!((h1["energy_kwh"]["it"].as_f64().unwrap() - 1000.0).abs() < 1e-6);
    assert!((h1["renewable_share"].as_f64().unwrap() - 100.0 / 1400.0).abs() < 1e-9);
    assert_eq!(f["pue_ceiling"], 1.3);
    assert_eq!(f["tier"], "core");
    assert_eq!(
        f["status"], "insufficient_data",
        "two hours of a 365d compliance window"
    );
    assert_eq!(f["grade"], Value::Null);
    assert_eq!(f["stale"], true, "watermark hours behind the wall clock");
    assert_eq!(f["meters"].as_array().unwrap().len(), 4);
    let wm = chrono::DateTime::parse_from_rfc3339(f["watermark"].as_str().unwrap()).unwrap();
    assert_eq!(wm.timestamp_millis(), t0 + 120 * M);
    assert_eq!(wm.offset().local_minus_utc(), 8 * 3600, "Asia/Shanghai");

    let all = d.get_json("/api/v1/facilities");
    let ids: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["f1", "f2"]);
    // The page and scripts judge window coverage against the configured minimum.
    assert_eq!(all[0]["min_coverage"], 0.9);
    assert_eq!(
        all[1]["pue_ceiling"], 1.5,
        "existing medium facility: grade-3 bound"
    );
    assert_eq!(all[1]["watermark"], Value::Null);
    assert_eq!(
        window(&all[1], "24h")["pue"],
        Value::Null,
        "no data is null, never zero"
    );

    let (status, body) = http_get(&d.url("/api/v1/facilities/nope")).unwrap();
    assert_eq!(status, 404);
    assert!(body.contains("unknown facility"), "{body}");

    let m = d.metrics();
    assert_eq!(
        metric_value(
            &m,
            r#"dcpue_pue_ratio{facility="f1",tier="core",window="1h"}"#
        )
        .map(|v| (v * 1e6).round() / 1e6),
        Some(1.4)
    );
    assert_eq!(
        metric_value(&m, r#"dcpue_pue_ceiling_ratio{facility="f1"}"#),
        Some(1.3)
    );
    assert_eq!(
        metric_value(
            &m,
            r#"dcpue_facility_status{facility="f1",status="insufficient_data"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric_value(
            &m,
            r#"dcpue_facility_status{facility="f1",status="breach"}"#
        ),
        Some(0.0)
    );
    assert_eq!(metric_value(&m, "dcpue_mqtt_connected"), Some(1.0));
    assert!(
        !m.contains(r#"dcpue_pue_ratio{facility="f2""#),
        "no series while null"
    );

    // The series endpoint the dashboard charts.
    let s = d.get_json(&format!(
        "/api/v1/facilities/f1/series?window=1h&from={}&to={}&step=30m",
        t0 + H,
        t0 + 2 * H
    ));
    let pts = s["points"].as_array().unwrap();
    assert_eq!(pts.len(), 3);
    assert!((pts[2]["pue"].as_f64().unwrap() - 1.4).abs() < 1e-9, "{s}");
    // Two hours of a 365d window: coverage is below min_coverage, which is its own alert
    // (for 1h of event time), and PUE above the ceiling on thin data is not a breach alert.
    let alerts = d.get_json("/api/v1/alerts");
    let names: Vec<(&str, &str)> = alerts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap(),
                a["labels"]["facility"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(names.contains(&("CoverageBelowMinimum", "f1")), "{alerts}");
    assert!(
        !names.iter().any(|(n, _)| *n == "PueAboveCeiling"),
        "{alerts}"
    );
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .to_rfc3339()
}

#[test]
fn every_bad_payload_is_counted_under_its_reason_and_good_ones_keep_flowing() {
    let broker = Mosquitto::start();
    let d = Dcpue::start(&broker.url(), TEST_FACILITIES);
    let t0 = base();
    let now = now_ms();
    broker.publish_lines("dc/f2/it", &power_lines(t0, 30, 800.0), 1);
    wait_accepted(&d, "f2", 31.0);
    let ts = |min: i64| t0 + min * M;
    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("dc/f2/it", "x".repeat(70 * 1024), "f2", "too_large"),
        ("dc/f2/it", "not json".into(), "f2", "malformed"),
        (
            "dc/f2/nope",
            format!(r#"{{"ts":{},"power_kw":1}}"#, ts(40)),
            "f2",
            "unknown_meter",
        ),
        (
            "dc/nowhere/it",
            format!(r#"{{"ts":{},"power_kw":1}}"#, ts(40)),
            "",
            "unknown_meter",
        ),
        ("dc/f2/it", r#"{"power_kw":1}"#.into(), "f2", "malformed"),
        (
            "dc/f2/it",
            format!(r#"{{"ts":{},"power_kw":-5}}"#, ts(31)),
            "f2",
            "invalid_value",
        ),
        (
            "dc/f2/it",
            format!(r#"{{"ts":{},"power_kw":5}}"#, now + H),
            "f2",
            "future_timestamp",
        ),
        (
            "dc/f2/it",
            format!(r#"{{"ts":{},"power_kw":800}}"#, ts(30)),
            "f2",
            "duplicate",
        ),
        (
            "dc/f2/it",
            format!(r#"{{"ts":{},"power_kw":801}}"#, ts(30)),
            "f2",
            "conflict",
        ),
        (
            "dc/f2/it",
            format!(r#"{{"ts":{},"power_kw":800}}"#, ts(5) + 1),
            "f2",
            "too_late",
        ),
        (
            "dc/f2/grid",
            format!(r#"{{"ts":{},"power_kw":9000}}"#, ts(30)),
            "f2",
            "implausible",
        ),
    ];
    let mut expected: std::collections::BTreeMap<(String, String), f64> = Default::default();
    for (topic, payload, facility, reason) in &cases {
        broker.publish(topic, payload, 1);
        *expected
            .entry((facility.to_string(), reason.to_string()))
            .or_default() += 1.0;
    }
    // A gateway batch with one bad element among good ones: each element judged on its own.
    broker.publish("dc/f2/it", &format!(r#"[{{"ts":{},"power_kw":800}},{{"ts":"yesterday","power_kw":1}},{{"ts":{},"power_kw":800}}]"#, ts(31), ts(32)), 1);
    *expected
        .entry(("f2".into(), "malformed".into()))
        .or_default() += 1.0;
    // A register that glitches to 0 while its gateway restarts.
    broker.publish("dc/f2/grid", &format!(r#"[{{"ts":{},"energy_kwh":1000}},{{"ts":{},"energy_kwh":0}},{{"ts":{},"energy_kwh":1020}}]"#, ts(30), ts(31), ts(32)), 1);
    *expected.entry(("f2".into(), "glitch".into())).or_default() += 1.0;
    // Good readings keep flowing after all of that.
    broker.publish_lines("dc/f2/it", &power_lines(ts(33), 10, 800.0), 1);
    wait_accepted(&d, "f2", 31.0 + 2.0 + 3.0 + 11.0);
    let m = d.metrics();
    for ((facility, reason), n) in &expected {
        let series =
            format!("dcpue_readings_rejected_total{{facility=\"{facility}\",reason=\"{reason}\"}}");
        assert_eq!(metric_value(&m, &series), Some(*n), "{series}\n{m}");
    }
    // Every reason of CONTRACT §3-4 is exported, even at zero.
    for reason in [
        "too_large",
        "malformed",
        "unknown_meter",
        "invalid_value",
        "future_timestamp",
        "duplicate",
        "conflict",
        "too_late",
        "implausible",
        "glitch",
    ] {
        assert!(
            m.contains(&format!(
                "dcpue_readings_rejected_total{{facility=\"f1\",reason=\"{reason}\"}} 0"
            )),
            "{reason}"
        );
    }
    assert!(d.log().contains("rejected"), "rejections are logged");
    assert!(d.proc.is_some());
}

#[test]
fn metrics_pass_promtool_check() {
    let broker = Mosquitto::start();
    let d = Dcpue::start(&broker.url(), TEST_FACILITIES);
    let t0 = base();
    broker.publish_lines("dc/f1/grid", &power_lines(t0, 20, 1300.0), 1);
    broker.publish_lines("dc/f1/it-a", &power_lines(t0, 20, 500.0), 1);
    broker.publish_lines("dc/f1/it-b", &power_lines(t0, 20, 500.0), 1);
    wait_accepted(&d, "f1", 63.0);
    let text = d.metrics();
    if let Err(said) = promtool_check_metrics(&text) {
        panic!("promtool check metrics:\n{said}");
    }
}

#[test]
fn broker_killed_and_restarted_mid_stream_every_reading_counted_once() {
    let mut broker = Mosquitto::start();
    let d = Dcpue::start(&broker.url(), TEST_FACILITIES);
    let t0 = base();
    broker.publish_lines("dc/f2/grid", &power_lines(t0, 60, 1300.0), 1);
    broker.publish_lines("dc/f2/it", &power_lines(t0, 60, 1000.0), 1);
    wait_accepted(&d, "f2", 122.0);
    // Crash the broker (SIGKILL) and bring it back on the same port and persistence.
    if let Some(mut p) = broker.proc.take() {
        p.kill();
    }
    let down = eventually(Duration::from_secs(20), || {
        (d.metric("dcpue_mqtt_connected") == Some(0.0)).then_some(())
    });
    assert!(down.is_some(), "dcpue saw the broker go");
    broker.restart();
    let up = eventually(Duration::from_secs(40), || {
        (d.metric("dcpue_mqtt_connected") == Some(1.0)).then_some(())
    });
    assert!(up.is_some(), "dcpue reconnected: {}", d.log());
    let _ = eventually(Duration::from_secs(10), || {
        http_get(&d.url("/readyz")).filter(|(s, _)| *s == 200)
    });
    broker.publish_lines("dc/f2/grid", &power_lines(t0 + 61 * M, 59, 1300.0), 1);
    broker.publish_lines("dc/f2/it", &power_lines(t0 + 61 * M, 59, 1000.0), 1);
    wait_accepted(&d, "f2", 242.0);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        d.metric(r#"dcpue_readings_accepted_total{facility="f2"}"#),
        Some(242.0),
        "each reading counted exactly once"
    );
    let f = d.get_json("/api/v1/facilities/f2");
    let h1 = window(&f, "1h");
    assert!(
        (h1["energy_kwh"]["it"].as_f64().unwrap() - 1000.0).abs() < 1e-6,
        "{f}"
    );
    assert!((h1["pue"].as_f64().unwrap() - 1.3).abs() < 1e-9);
}

#[test]
fn state_and_counters_survive_a_restart() {
    let broker = Mosquitto::start();
    let mut d = Dcpue::start(&broker.url(), TEST_FACILITIES);
    let t0 = base();
    broker.publish_lines("dc/f1/grid", &power_lines(t0, 60, 1300.0), 1);
    broker.publish_lines("dc/f1/it-a", &power_lines(t0, 60, 500.0), 1);
    broker.publish_lines("dc/f1/it-b", &power_lines(t0, 60, 500.0), 1);
    broker.publish("dc/f1/it-a", "garbage", 1);
    wait_accepted(&d, "f1", 183.0);
    let before = d.get_json("/api/v1/facilities/f1");
    assert_eq!(d.stop(), Some(0), "clean exit on SIGTERM: {}", d.log());
    d.restart();
    let after = d.get_json("/api/v1/facilities/f1");
    assert_eq!(after["windows"], before["windows"]);
    assert_eq!(after["watermark"], before["watermark"]);
    assert_eq!(
        d.metric(r#"dcpue_readings_accepted_total{facility="f1"}"#),
        Some(183.0)
    );
    assert_eq!(
        d.metric(r#"dcpue_readings_rejected_total{facility="f1",reason="malformed"}"#),
        Some(1.0)
    );
}

#[test]
fn after_a_crash_the_report_includes_what_the_write_ahead_log_holds() {
    let broker = Mosquitto::start();
    let mut d = Dcpue::start(&broker.url(), TEST_FACILITIES);
    let t0 = base();
    broker.publish_lines("dc/f2/grid", &power_lines(t0, 60, 1300.0), 1);
    broker.publish_lines("dc/f2/it", &power_lines(t0, 60, 1000.0), 1);
    wait_accepted(&d, "f2", 122.0);
    // A crash before any checkpoint: everything taken is only in the write-ahead log.
    d.kill();
    let from = rfc3339(t0);
    let to = rfc3339(t0 + H);
    let out = std::process::Command::new(dcpue_bin())
        .args(["report", "--config"])
        .arg(&d.config)
        .args([
            "--from",
            &from,
            "--to",
            &to,
            "--format",
            "json",
            "--facility",
            "f2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &report["facilities"][0];
    assert_eq!(f["id"], "f2");
    assert!(
        (f["energy_kwh"]["it"].as_f64().unwrap() - 1000.0).abs() < 1e-6,
        "{f}"
    );
    assert!((f["pue"].as_f64().unwrap() - 1.3).abs() < 1e-9, "{f}");
    // And serve, restarted, replays the same log: nothing lost, nothing counted twice.
    d.restart();
    assert_eq!(
        d.metric(r#"dcpue_readings_accepted_total{facility="f2"}"#),
        Some(122.0)
    );
    let f = d.get_json("/api/v1/facilities/f2");
    assert!(
        (f["windows"]["1h"]["pue"].as_f64().unwrap() - 1.3).abs() < 1e-9,
        "{f}"
    );
}
