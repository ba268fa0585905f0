//! The sustainability KPIs end to end (CONTRACT §14): water, reused-heat and PV meters and one
//! green certificate, readings through a real Mosquitto into `dcpue serve`; WUE, ERF, REF and
//! CUE from the API and /metrics equal what this test computes by hand from the readings it
//! published, and WueAboveTarget / RefBelowTarget fire in a real Alertmanager.

mod support;

use std::time::Duration;

use chrono::{Datelike, TimeZone, Utc};
use serde_json::Value;
use support::*;

const H: i64 = 3_600_000;
const M: i64 = 60_000;
const GRID_FACTOR: f64 = 0.5703;
const CERT_MWH: f64 = 300.0;

fn grid_kw(k: i64) -> f64 {
    1300.0 + 10.0 * (k % 5) as f64
}
fn it_kw(k: i64) -> f64 {
    1000.0 + 5.0 * (k % 3) as f64
}
fn pv_kw(k: i64) -> f64 {
    100.0 + (k % 4) as f64
}
/// Water drawn in minute k, m³.
fn water_step(k: i64) -> f64 {
    0.02 + 0.01 * (k % 3) as f64
}
/// Heat delivered in minute k, kWh.
fn heat_step(k: i64) -> f64 {
    3.0 + 0.5 * (k % 2) as f64
}

/// Trapezoid energy of 60 one-minute intervals of power samples `kw(0..=60)`, kWh.
fn trapezoid(kw: fn(i64) -> f64) -> f64 {
    (0..60).map(|k| (kw(k) + kw(k + 1)) / 2.0 / 60.0).sum()
}

/// The calendar month (UTC, the engine's timezone here) holding `t`, as [start, end) ms and
/// "YYYY-MM".
fn month_of(t: i64) -> (i64, i64, String) {
    let d = Utc.timestamp_millis_opt(t).unwrap();
    let start = Utc
        .with_ymd_and_hms(d.year(), d.month(), 1, 0, 0, 0)
        .unwrap();
    let (ny, nm) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    let end = Utc.with_ymd_and_hms(ny, nm, 1, 0, 0, 0).unwrap();
    (
        start.timestamp_millis(),
        end.timestamp_millis(),
        format!("{:04}-{:02}", d.year(), d.month()),
    )
}

fn ours(am: &Alertmanager, name: &str) -> Option<Value> {
    am.alerts().into_iter().find(|a| {
        a["labels"]["alertname"] == name
            && a["labels"]["facility"] == "f1"
            && a["status"]["state"] == "active"
    })
}

fn close(got: Option<f64>, want: f64) -> bool {
    got.is_some_and(|g| (g - want).abs() <= 1e-9 * want.abs().max(1.0))
}

#[test]
fn kpis_from_water_heat_pv_and_a_certificate_match_the_hand_computation_and_alert() {
    let am = Alertmanager::start("route:\n  receiver: ops\n  group_by: ['alertname', 'facility']\n  group_wait: 1s\n  group_interval: 1s\nreceivers:\n  - name: ops\n");
    let broker = Mosquitto::start();
    let now = Utc::now().timestamp_millis();
    let t0 = (now - 5 * H) / H * H;
    let (m_start, m_end, month) = month_of(t0);
    let rest = format!(
        r#"
[engine]
timezone = "UTC"
windows = ["15m", "1h"]
compliance_window = "1h"

[policy]
grid_emission_factor = {GRID_FACTOR}

[alerting]
alertmanagers = ["http://127.0.0.1:{}"]
resend_every = "2s"
{}"#,
        am.port,
        facility("f1")
            .name("南昌绿色数据中心")
            .key("wue_target = 1.0")
            .key("ref_target = 0.9")
            .raw(&format!(
                "  [[facility.certificate]]\n  month = \"{month}\"\n  mwh = {CERT_MWH}"
            ))
            .grid_and_it()
            .meter_with("pv", "renewable", "renewable_kind = \"onsite\"")
            .meter("water", "water")
            .meter("heat", "reused_heat")
    );
    let d = Dcpue::start(&broker.url(), &rest);

    // One hour of one-minute readings, t0..=t0+1h, so the 1h window is exactly [t0, t0+1h).
    let ts = |k: i64| t0 + k * M;
    let power = |kw: fn(i64) -> f64| -> Vec<String> {
        (0..=60)
            .map(|k| format!(r#"{{"ts": {}, "power_kw": {}}}"#, ts(k), kw(k)))
            .collect()
    };
    let mut volume = 812.5;
    let mut water = Vec::new();
    let mut heat_reg = 40_000.0;
    let mut heat = Vec::new();
    for k in 0..=60 {
        water.push(format!(r#"{{"ts": {}, "volume_m3": {volume}}}"#, ts(k)));
        heat.push(format!(r#"{{"ts": {}, "energy_kwh": {heat_reg}}}"#, ts(k)));
        volume += water_step(k);
        heat_reg += heat_step(k);
    }
    broker.publish_lines("dc/f1/pv", &power(pv_kw), 1);
    broker.publish_lines("dc/f1/water", &water, 1);
    broker.publish_lines("dc/f1/heat", &heat, 1);
    broker.publish_lines("dc/f1/grid", &power(grid_kw), 1);
    broker.publish_lines("dc/f1/it", &power(it_kw), 1);

    // By hand, from what was published.
    let e_total = trapezoid(grid_kw);
    let e_it = trapezoid(it_kw);
    let e_pv = trapezoid(pv_kw);
    let water_m3: f64 = (0..60).map(water_step).sum();
    let heat_kwh: f64 = (0..60).map(heat_step).sum();
    let (w_start, w_end) = (t0, t0 + H);
    let overlap = (w_end.min(m_end) - w_start.max(m_start)).max(0) as f64;
    let cert_kwh = CERT_MWH * 1000.0 * overlap / (m_end - m_start) as f64;
    let wue = 1000.0 * water_m3 / e_it;
    let erf = heat_kwh / e_total;
    let ref_ = ((e_pv + cert_kwh) / e_total).min(1.0);
    let cue = (e_total - e_pv - cert_kwh).max(0.0) * GRID_FACTOR / e_it;
    assert!(
        wue > 1.0 && ref_ < 0.9,
        "the targets are missed: {wue} {ref_}"
    );

    let got = eventually(Duration::from_secs(60), || {
        let f = d.get_json("/api/v1/facilities/f1");
        let w = f["windows"]["1h"].clone();
        let all = close(w["wue"].as_f64(), wue)
            && close(w["erf"].as_f64(), erf)
            && close(w["ref"].as_f64(), ref_)
            && close(w["cue"].as_f64(), cue);
        all.then_some(f)
    })
    .unwrap_or_else(|| {
        panic!(
            "API windows: {}\nwant wue {wue} erf {erf} ref {ref_} cue {cue}\nlog:\n{}",
            d.get_json("/api/v1/facilities/f1")["windows"],
            d.log()
        )
    });
    assert_eq!(got["wue_target"], 1.0);
    assert_eq!(got["ref_target"], 0.9);
    let list = d.get_json("/api/v1/facilities");
    assert!(
        close(list[0]["windows"]["1h"]["wue"].as_f64(), wue),
        "{list}"
    );

    let text = d.metrics();
    for (name, want) in [
        ("dcpue_wue_liters_per_kwh", wue),
        ("dcpue_erf_ratio", erf),
        ("dcpue_ref_ratio", ref_),
        ("dcpue_cue_kg_per_kwh", cue),
    ] {
        let series = format!(r#"{name}{{facility="f1",window="1h"}}"#);
        assert!(
            close(metric_value(&text, &series), want),
            "{series}: want {want}\n{text}"
        );
    }
    promtool_check_metrics(&text).expect("promtool-clean");

    // `dcpue report --url` over the same hour: the EU 2024/1364 names carry the same figures.
    let out = d.dir.path().join("report.json");
    let fmt = |t: i64| {
        Utc.timestamp_millis_opt(t)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    dcpue::report::run_report(&dcpue::report::ReportArgs {
        config: d.config.clone(),
        from: fmt(w_start),
        to: fmt(w_end),
        facilities: Vec::new(),
        format: dcpue::report::Format::Json,
        lang: dcpue::report::Lang::En,
        url: Some(d.url("")),
        out: Some(out.clone()),
    })
    .unwrap_or_else(|e| panic!("report --url: {e}\nlog:\n{}", d.log()));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let eu = &r["facilities"][0]["eu_2024_1364"];
    for (name, want) in [
        ("EDC", e_total),
        ("EIT", e_it),
        ("WIN", water_m3),
        ("EREUSE", heat_kwh),
        ("ERES_TOT", e_pv + cert_kwh),
        ("PUE", e_total / e_it),
        ("WUE", wue),
        ("ERF", erf),
        ("REF", ref_),
    ] {
        assert!(
            close(eu[name].as_f64(), want),
            "{name}: want {want} in {eu}"
        );
    }
    assert!(close(r["facilities"][0]["cue"].as_f64(), cue), "{r}");

    for name in ["WueAboveTarget", "RefBelowTarget"] {
        let a = eventually(Duration::from_secs(60), || ours(&am, name)).unwrap_or_else(|| {
            panic!(
                "{name} active in Alertmanager; dcpue alerts {}\nlog:\n{}",
                d.get_json("/api/v1/alerts"),
                d.log()
            )
        });
        assert_eq!(a["labels"]["window"], "1h", "{a}");
        assert_eq!(a["labels"]["severity"], "warning", "{a}");
        assert!(
            a["annotations"]["summary_zh"]
                .as_str()
                .unwrap_or("")
                .contains("南昌绿色数据中心"),
            "{a}"
        );
    }
}
