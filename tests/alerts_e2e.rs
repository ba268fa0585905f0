//! Alerts end to end: readings through a real Mosquitto into `dcpue serve`, the PUE alert in a
//! real Alertmanager's own API, then resolved there after the facility recovers.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

const H: i64 = 3_600_000;
const M: i64 = 60_000;

fn start_alertmanager() -> Alertmanager {
    Alertmanager::start("route:\n  receiver: ops\n  group_by: ['alertname', 'facility']\n  group_wait: 1s\n  group_interval: 1s\nreceivers:\n  - name: ops\n")
}

fn lines(from: i64, minutes: i64, kw: f64) -> Vec<String> {
    (0..minutes)
        .map(|k| format!(r#"{{"ts": {}, "power_kw": {kw}}}"#, from + k * M))
        .collect()
}

/// An hour of one-minute readings as gateways send them: each meter a quarter-hour at a time.
fn publish_hour(broker: &Mosquitto, from: i64, grid_kw: f64, it_kw: f64) {
    for q in 0..4 {
        let t = from + q * 15 * M;
        broker.publish_lines("dc/f1/grid", &lines(t, 15, grid_kw), 1);
        broker.publish_lines("dc/f1/it", &lines(t, 15, it_kw), 1);
    }
}

fn ours(am: &Alertmanager) -> Vec<Value> {
    am.alerts()
        .into_iter()
        .filter(|a| {
            a["labels"]["alertname"] == "PueAboveCeiling" && a["labels"]["facility"] == "f1"
        })
        .collect()
}

#[test]
fn facility_crossing_its_ceiling_alerts_in_alertmanager_then_resolves() {
    let am = start_alertmanager();
    let broker = Mosquitto::start();
    let rest = format!(
        r#"
[engine]
windows = ["15m", "1h"]
compliance_window = "1h"

[alerting]
alertmanagers = ["http://127.0.0.1:{}"]
resend_every = "2s"

{F1_GRID_IT}"#,
        am.port
    );
    let d = Dcpue::start(&broker.url(), &rest);
    let now = chrono::Utc::now().timestamp_millis();
    let t0 = (now - 5 * H) / H * H;
    // An hour at PUE 1.2, then an hour at 1.4: the 1h compliance window crosses 1.3.
    publish_hour(&broker, t0, 1200.0, 1000.0);
    publish_hour(&broker, t0 + H, 1400.0, 1000.0);
    let firing = eventually(Duration::from_secs(60), || {
        ours(&am)
            .into_iter()
            .find(|a| a["status"]["state"] == "active")
    })
    .unwrap_or_else(|| {
        panic!(
            "PueAboveCeiling active in Alertmanager ({:?}); dcpue alerts {}\nfacility {}\nlog:\n{}",
            ours(&am),
            d.get_json("/api/v1/alerts"),
            d.get_json("/api/v1/facilities/f1")["windows"],
            d.log()
        )
    });
    let l = &firing["labels"];
    assert_eq!(l["window"], "1h");
    assert_eq!(
        l["severity"], "critical",
        "the compliance window is critical"
    );
    assert_eq!(l["tier"], "core");
    assert!(
        firing["annotations"]["summary_zh"]
            .as_str()
            .unwrap_or("")
            .contains("南昌核心"),
        "{firing}"
    );
    let starts = chrono::DateTime::parse_from_rfc3339(firing["startsAt"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    assert!(
        (starts - now).abs() < 120_000,
        "startsAt is wall-clock time, not event time"
    );
    let api = d.get_json("/api/v1/alerts");
    assert!(
        api.as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "PueAboveCeiling" && a["state"] == "firing"),
        "{api}"
    );
    assert!(d
        .metrics()
        .contains(r#"dcpue_alert_active{alertname="PueAboveCeiling",facility="f1""#));

    // Recovery: an hour at 1.1 brings the 1h PUE below 1.3 − hysteresis.
    publish_hour(&broker, t0 + 2 * H, 1100.0, 1000.0);
    let gone = eventually(Duration::from_secs(60), || {
        ours(&am)
            .iter()
            .all(|a| a["status"]["state"] != "active")
            .then_some(())
    });
    assert!(gone.is_some(), "resolved in Alertmanager: {:?}", ours(&am));
    let hist = eventually(Duration::from_secs(10), || {
        let h = d.get_json("/api/v1/alerts/history?facility=f1&name=PueAboveCeiling");
        (!h.as_array()?.is_empty()).then_some(h)
    })
    .expect("resolved alert in dcpue's history");
    assert!(hist[0]["resolved_at"].is_string(), "{hist}");
    let active = d.get_json("/api/v1/alerts");
    assert!(
        !active
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "PueAboveCeiling"),
        "{active}"
    );
}
