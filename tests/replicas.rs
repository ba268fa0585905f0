//! Two replicas, one truth (CONTRACT §15), with real servers on free loopback ports: one
//! Mosquitto, two `dcpue serve` replicas of the same config (each its own `client_id`, session
//! and state), an Alertmanager cluster of two (`--cluster.peer`) that both replicas send to,
//! each Alertmanager with a webhook receiver that records every notification, and
//! VictoriaMetrics (one point per series and millisecond) as the InfluxDB server of both.
//!
//! A facility breaches: one firing notification for the alert group, not two. Replica 1 is
//! killed (SIGKILL) mid-stream: the alert stays active, kept alive by replica 2, and nothing is
//! resolved. Replica 1 returns, catches up from its session and state, and then shows the same
//! windows as replica 2. The window points of both replicas fall on one event-time grid.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use support::*;

const H: i64 = 3_600_000;
const M: i64 = 60_000;
/// `window_every` of both replicas.
const EVERY: i64 = 5 * M;

/// The notifications of the PueAboveCeiling group of f1 with `status`, from either
/// Alertmanager.
fn notifications(inbox: &Inbox, status: &str) -> Vec<(String, Value)> {
    inbox
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, v)| {
            v["groupLabels"]["alertname"] == "PueAboveCeiling"
                && v["groupLabels"]["facility"] == "f1"
                && v["status"] == status
        })
        .cloned()
        .collect()
}

/// Alertmanager's own view of the PueAboveCeiling alerts of f1 that are active.
fn active_in(am: &Alertmanager) -> Vec<Value> {
    am.alerts()
        .into_iter()
        .filter(|a| {
            a["labels"]["alertname"] == "PueAboveCeiling"
                && a["labels"]["facility"] == "f1"
                && a["status"]["state"] == "active"
        })
        .collect()
}

fn cluster_size(am: &Alertmanager) -> usize {
    let (_, body) =
        http_get(&format!("http://127.0.0.1:{}/api/v2/status", am.port)).unwrap_or_default();
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    v["cluster"]["peers"].as_array().map_or(0, Vec::len)
}

fn lines(from: i64, minutes: i64, kw: f64) -> Vec<String> {
    (0..minutes)
        .map(|k| format!(r#"{{"ts": {}, "power_kw": {kw}}}"#, from + k * M))
        .collect()
}

/// `minutes` of one-minute readings of both meters, as gateways send them: a quarter-hour of
/// one meter at a time.
fn publish(broker: &Mosquitto, from: i64, minutes: i64, grid_kw: f64, it_kw: f64) {
    let mut t = from;
    while t < from + minutes * M {
        let n = (15).min((from + minutes * M - t) / M);
        broker.publish_lines("dc/f1/grid", &lines(t, n, grid_kw), 1);
        broker.publish_lines("dc/f1/it", &lines(t, n, it_kw), 1);
        t += n * M;
    }
}

/// What must be identical between the replicas: every window value, the verdict and the
/// watermark of every facility.
fn results(d: &Dcpue) -> Value {
    let f = d.get_json("/api/v1/facilities");
    Value::Array(
        f.as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|x| {
                serde_json::json!({
                    "id": x["id"], "watermark": x["watermark"], "windows": x["windows"],
                    "status": x["status"], "grade": x["grade"],
                })
            })
            .collect(),
    )
}

#[test]
fn two_replicas_notify_once_survive_a_crash_and_agree() {
    let (rx_port, inbox) = start_receiver();
    let am_config = |name: &str| {
        format!(
            "route:\n  receiver: ops\n  group_by: ['alertname', 'facility']\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: ops\n    webhook_configs:\n      - url: http://127.0.0.1:{rx_port}/{name}\n        send_resolved: true\n"
        )
    };
    // Each on gossip and web ports it listens on itself; the second joins the first.
    let am1 = Alertmanager::start_clustered(&am_config("am1"), &[], "5s");
    let c1 = am1.cluster_port.expect("am1 gossips");
    let am2 = Alertmanager::start_clustered(&am_config("am2"), &[c1], "5s");
    assert!(
        eventually(Duration::from_secs(30), || (cluster_size(&am1) == 2
            && cluster_size(&am2) == 2)
            .then_some(()))
        .is_some(),
        "the two Alertmanagers did not form a cluster"
    );
    let vm = VictoriaMetrics::start();
    let token_dir = tempfile::tempdir().unwrap();
    let token = token_dir.path().join("influx.token");
    std::fs::write(&token, "secret-token\n").unwrap();
    let broker = Mosquitto::start();
    let rest = format!(
        r#"
[engine]
windows = ["15m", "1h"]
compliance_window = "1h"

[alerting]
alertmanagers = ["http://127.0.0.1:{}", "http://127.0.0.1:{}"]
resend_every = "2s"

[influxdb]
url = "{}"
org = "jiangxi"
bucket = "dcpue"
token_file = "{}"
window_every = "5m"

{F1_GRID_IT}"#,
        am1.port,
        am2.port,
        vm.url(),
        token.display()
    );
    let mut r1 = Dcpue::start(&broker.url(), &rest);
    let r2 = Dcpue::start(&broker.url(), &rest);
    let logs =
        |r1: &Dcpue, r2: &Dcpue| format!("replica 1:\n{}\nreplica 2:\n{}", r1.log(), r2.log());

    // An hour at PUE 1.2, then 20 minutes at 1.4 (the 1h window ends above 1.3); the first
    // reading 3 minutes past a whole hour, so a grid that began at the first step would show.
    let t0 = (chrono::Utc::now().timestamp_millis() - 6 * H) / H * H + 3 * M;
    publish(&broker, t0, 60, 1200.0, 1000.0);
    publish(&broker, t0 + H, 40, 1400.0, 1000.0);
    eventually(Duration::from_secs(60), || {
        (!notifications(&inbox, "firing").is_empty()).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "a firing notification; Alertmanager 1 has {:?}\n{}",
            active_in(&am1),
            logs(&r1, &r2)
        )
    });
    // Long enough for the second Alertmanager (peer_timeout 5s) to send too, were the cluster
    // not to deduplicate, or the replicas' alerts not to be the same alert.
    std::thread::sleep(Duration::from_secs(12));
    let firing = notifications(&inbox, "firing");
    assert_eq!(
        firing.len(),
        1,
        "one firing notification for the group, not one per replica or per Alertmanager: {firing:?}"
    );
    for am in [&am1, &am2] {
        let a = active_in(am);
        assert_eq!(a.len(), 1, "one alert in each Alertmanager: {a:?}");
    }
    // The replicas evaluated the same steps: the same alerts, labels, annotations and values
    // (once both have taken the same data).
    let ours = |r: &Dcpue| {
        r.get_json("/api/v1/alerts")
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a["name"] == "PueAboveCeiling")
            .map(|a| {
                serde_json::json!({
                    "labels": a["labels"], "annotations": a["annotations"], "state": a["state"],
                    "since": a["since"], "value": a["value"],
                })
            })
            .collect::<Vec<_>>()
    };
    let same = eventually(Duration::from_secs(10), || {
        let (a1, a2) = (ours(&r1), ours(&r2));
        (!a1.is_empty() && a1 == a2).then_some(())
    });
    assert!(
        same.is_some(),
        "the same alerts from both replicas:\n{:?}\n{:?}",
        ours(&r1),
        ours(&r2)
    );

    // Replica 1 dies mid-stream: 40 more minutes at 1.4 are being published as it is killed.
    let broker = Arc::new(broker);
    let b = broker.clone();
    let streaming = std::thread::spawn(move || {
        for k in 0..8 {
            publish(&b, t0 + H + 40 * M + k * 5 * M, 5, 1400.0, 1000.0);
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    r1.kill();
    streaming.join().unwrap();
    // Replica 1's last firing alert ends by itself after 4 × resend_every (8 s): replica 2 must
    // keep it alive past that.
    std::thread::sleep(Duration::from_secs(15));
    assert!(
        notifications(&inbox, "resolved").is_empty(),
        "nothing resolved while one replica is down: {:?}",
        notifications(&inbox, "resolved")
    );
    for am in [&am1, &am2] {
        assert_eq!(active_in(am).len(), 1, "still active in every Alertmanager");
    }

    // Replica 1 returns, catches up from its persistent session and its state, and agrees.
    r1.restart();
    let want_wm = r2.get_json("/api/v1/facilities/f1")["watermark"].clone();
    let agreed = eventually(Duration::from_secs(60), || {
        let (x, y) = (results(&r1), results(&r2));
        (x == y && x[0]["watermark"] == want_wm).then_some(x)
    });
    assert!(
        agreed.is_some(),
        "replica 1 after its restart: {}\nreplica 2: {}\n{}",
        results(&r1),
        results(&r2),
        logs(&r1, &r2)
    );
    assert_eq!(
        notifications(&inbox, "firing").len(),
        1,
        "still one firing notification"
    );

    // Both replicas' window points are on one event-time grid: VictoriaMetrics holds one point
    // per window_every, none in between.
    let series = eventually(Duration::from_secs(30), || {
        let s = vm.export("{__name__=\"dcpue_window_pue\",facility=\"f1\"}");
        (s.len() == 2 && s.values().all(|v| v.len() >= 20)).then_some(s)
    })
    .unwrap_or_else(|| {
        panic!(
            "window points of 15m and 1h in VictoriaMetrics; {}",
            logs(&r1, &r2)
        )
    });
    for ((_, labels), points) in &series {
        for p in points {
            assert_eq!(p.0 % EVERY, 0, "{labels}: a point off the grid at {}", p.0);
        }
        for w in points.windows(2) {
            assert_eq!(
                w[1].0 - w[0].0,
                EVERY,
                "{labels}: one point per step of the grid"
            );
        }
    }
}
