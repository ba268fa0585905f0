//! Alert delivery to a REAL Alertmanager (Debian `prometheus-alertmanager`), started on a free
//! loopback port: a facility crosses its 1.3 ceiling → the alert is active in Alertmanager's own
//! API with the right labels, kept alive by re-sends while no new data arrives, routed to the
//! operator's webhook receiver; the facility recovers → resolved there too. Alongside, dcpue's
//! own generic webhook gets the firing and resolved notifications.

mod support;

use std::time::Duration;

use chrono::{DateTime, Utc};
use dcpue::alerts::{ActiveAlertMetric, AlertDelivery, AlertEngine};
use dcpue::config::Config;
use dcpue::engine::{Energies, FacilityStep, WindowValues, Windows};
use prometheus::{Encoder, Registry, TextEncoder};
use serde_json::Value;
use support::{facility, free_port, promtool_check_metrics, start_receiver, Alertmanager};

const MIN: i64 = 60_000;
/// Event time of the synthetic series: 2025-06-01T00:00:00Z, far from the wall clock, so a
/// startsAt taken from event time would show.
const T0: i64 = 1_748_736_000_000;

fn start_alertmanager(receiver_port: u16) -> Alertmanager {
    Alertmanager::start(&format!(
        "route:\n  receiver: ops\n  group_by: ['alertname', 'facility']\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
         receivers:\n  - name: ops\n    webhook_configs:\n      - url: http://127.0.0.1:{receiver_port}/am-hook\n        send_resolved: true\n"
    ))
}

fn config(am_port: u16, receiver_port: u16, storage: &std::path::Path) -> Config {
    let text = format!(
        r#"
[storage]
dir = "{}"
{}
[alerting]
alertmanagers = ["http://127.0.0.1:{am_port}"]
webhooks = ["http://127.0.0.1:{receiver_port}/dcpue-hook"]
resend_every = "1s"
"#,
        storage.display(),
        facility("nanchang-1")
            .name("南昌核心数据中心")
            .meter("grid-in", "total")
            .meter("it-a", "it")
    );
    Config::parse(&text, "test.toml").unwrap()
}

fn windows(pue: f64) -> Windows {
    Windows(
        ["15m", "1h", "24h", "30d", "365d"]
            .iter()
            .map(|w| {
                let v = WindowValues {
                    pue: Some(pue),
                    coverage: 0.98,
                    renewable_share: None,
                    energy_kwh: Energies {
                        total: pue * 1000.0,
                        it: 1000.0,
                        renewable: 0.0,
                    },
                    covered_energy_kwh: None,
                    kpi: Default::default(),
                    start_ms: 0,
                    end_ms: 0,
                    estimated_share: None,
                };
                (w.to_string(), v)
            })
            .collect(),
    )
}

fn wall_now() -> i64 {
    Utc::now().timestamp_millis()
}

/// Alertmanager's own view: GET /api/v2/alerts (active, not-yet-ended alerts).
async fn am_alerts(http: &reqwest::Client, port: u16) -> Vec<Value> {
    let url = format!("http://127.0.0.1:{port}/api/v2/alerts");
    match http.get(&url).send().await {
        Ok(r) => r.json::<Vec<Value>>().await.unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let end = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn metrics_text(registry: &Registry) -> String {
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut buf)
        .unwrap();
    String::from_utf8(buf).unwrap()
}

/// `promtool check metrics` on the exposition: clean, as CONTRACT §6 wants /metrics.
fn promtool_check(text: &str) {
    if let Err(said) = promtool_check_metrics(text) {
        panic!("promtool: {said}\n{text}");
    }
}

fn ours(a: &Value) -> bool {
    a["labels"]["alertname"] == "PueAboveCeiling" && a["labels"]["window"] == "365d"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pue_alert_fires_and_resolves_in_a_real_alertmanager() {
    let (rport, inbox) = start_receiver();
    let am = start_alertmanager(rport);
    let http = reqwest::Client::new();
    eventually("alertmanager ready", || {
        let http = http.clone();
        async move {
            let r = http
                .get(format!("http://127.0.0.1:{}/-/ready", am.port))
                .send()
                .await
                .ok()?;
            r.status().is_success().then_some(())
        }
    })
    .await;

    let storage = tempfile::tempdir().unwrap();
    let cfg = config(am.port, rport, storage.path());
    let registry = Registry::new();
    let delivery = AlertDelivery::start(
        &cfg.alerting,
        "http://127.0.0.1:9184/api/v1/alerts",
        &registry,
    )
    .unwrap();
    let active_metric = ActiveAlertMetric::register(&registry).unwrap();
    let mut alerts = AlertEngine::new(&cfg);

    // An hour under the ceiling, then the facility crosses 1.3 (minute by minute, event time).
    let mut t = T0;
    let mut drive = |alerts: &mut AlertEngine, pue: f64, minutes: i64| {
        let w = windows(pue);
        for _ in 0..minutes {
            alerts.on_step(
                &FacilityStep {
                    facility: 0,
                    facility_id: "nanchang-1",
                    step_ms: t,
                    windows: &w,
                },
                wall_now(),
            );
            t += MIN;
        }
        let changes = alerts.drain_changes();
        delivery.publish(alerts, &changes);
        active_metric.update(&alerts.active());
        changes
    };
    drive(&mut alerts, 1.25, 60);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        am_alerts(&http, am.port).await.iter().all(|a| !ours(a)),
        "no alert while under the ceiling"
    );

    let before_fire = wall_now();
    let changes = drive(&mut alerts, 1.36, 5);
    assert!(!changes.is_empty());

    let alert = eventually("the alert active in Alertmanager", || {
        let http = http.clone();
        async move { am_alerts(&http, am.port).await.into_iter().find(ours) }
    })
    .await;
    let labels = &alert["labels"];
    assert_eq!(labels["facility"], "nanchang-1");
    assert_eq!(labels["severity"], "critical");
    assert_eq!(labels["tier"], "core");
    assert_eq!(alert["status"]["state"], "active");
    assert!(alert["annotations"]["summary_zh"]
        .as_str()
        .unwrap()
        .contains("超过上限"));
    assert_eq!(
        alert["annotations"]["event_since"], "2025-06-01T09:00:00+08:00",
        "event time in annotations"
    );
    assert_eq!(alert["generatorURL"], "http://127.0.0.1:9184/api/v1/alerts");
    // startsAt is the wall clock when it fired, not the event time.
    let starts: DateTime<Utc> = alert["startsAt"].as_str().unwrap().parse().unwrap();
    assert!(
        (starts.timestamp_millis() - before_fire).abs() < 5_000,
        "startsAt {starts}"
    );
    let ends1: DateTime<Utc> = alert["endsAt"].as_str().unwrap().parse().unwrap();
    assert!(
        ends1 > Utc::now(),
        "a firing alert's endsAt is in the future"
    );

    // No new data (the watermark stalls): re-sends keep moving endsAt forward.
    let ends2 = eventually("a re-send extending endsAt", || {
        let http = http.clone();
        async move {
            let a = am_alerts(&http, am.port).await.into_iter().find(ours)?;
            let e: DateTime<Utc> = a["endsAt"].as_str()?.parse().ok()?;
            (e > ends1 + chrono::Duration::milliseconds(500)).then_some(e)
        }
    })
    .await;
    assert!(ends2 > ends1);

    // Alertmanager routed it to the operator's receiver.
    eventually("alertmanager's firing notification", || {
        let inbox = inbox.clone();
        async move {
            let v = inbox.lock().unwrap();
            v.iter()
                .any(|(p, b)| {
                    p == "am-hook"
                        && b["status"] == "firing"
                        && b["alerts"].as_array().is_some_and(|a| a.iter().any(ours))
                })
                .then_some(())
        }
    })
    .await;
    let m = metrics_text(&registry);
    promtool_check(&m);
    assert!(m.contains("dcpue_alert_active{alertname=\"PueAboveCeiling\",facility=\"nanchang-1\",meter=\"\",severity=\"critical\",tier=\"core\",window=\"365d\"} 1"), "{m}");
    assert!(m.contains(&format!("dcpue_alert_notifications_total{{receiver=\"http://127.0.0.1:{}\",result=\"success\"}}", am.port)), "{m}");

    // Recovery: the ceiling minus the hysteresis or below resolves it.
    let recovered_at = wall_now();
    let changes = drive(&mut alerts, 1.25, 3);
    assert!(changes
        .iter()
        .any(|c| matches!(c, dcpue::alerts::AlertChange::Resolved(_))));
    eventually("the alert gone from Alertmanager's active alerts", || {
        let http = http.clone();
        async move {
            let list = am_alerts(&http, am.port).await;
            // An empty list may also be a failed request: only accept a reachable server.
            http.get(format!("http://127.0.0.1:{}/-/healthy", am.port))
                .send()
                .await
                .ok()?;
            (!list.iter().any(ours)).then_some(())
        }
    })
    .await;
    let resolved = eventually("alertmanager's resolved notification", || {
        let inbox = inbox.clone();
        async move {
            let v = inbox.lock().unwrap();
            v.iter()
                .filter(|(p, b)| p == "am-hook" && b["status"] == "resolved")
                .find_map(|(_, b)| b["alerts"].as_array()?.iter().find(|a| ours(a)).cloned())
        }
    })
    .await;
    // Ended by dcpue's resolved notification at the recovery, not by expiry of the last
    // firing endsAt (which lies at least 3 s after it with resend_every = 1s).
    let ended: DateTime<Utc> = resolved["endsAt"].as_str().unwrap().parse().unwrap();
    let off = ended.timestamp_millis() - recovered_at;
    assert!(
        (-1000..1500).contains(&off),
        "endsAt {ended} is {off} ms from the recovery"
    );
    // dcpue's own webhook saw both transitions.
    eventually("dcpue's webhook: firing and resolved", || {
        let inbox = inbox.clone();
        async move {
            let v = inbox.lock().unwrap();
            let statuses: Vec<&str> = v
                .iter()
                .filter(|(p, b)| {
                    p == "dcpue-hook" && b["alerts"].as_array().is_some_and(|a| a.iter().any(ours))
                })
                .filter_map(|(_, b)| b["status"].as_str())
                .collect();
            (statuses == ["firing", "resolved"]).then_some(())
        }
    })
    .await;
    let m = metrics_text(&registry);
    assert!(
        !m.contains("dcpue_alert_active{"),
        "gauge series removed after resolution: {m}"
    );
    delivery.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_alertmanager_is_retried_and_counted_without_blocking() {
    // Ports nothing listens on, on purpose: a dead Alertmanager; the webhook receiver is unused.
    let dead = free_port();
    let storage = tempfile::tempdir().unwrap();
    let mut cfg = config(dead, free_port(), storage.path());
    cfg.alerting.webhooks.clear();
    let registry = Registry::new();
    let delivery = AlertDelivery::start(
        &cfg.alerting,
        "http://127.0.0.1:9184/api/v1/alerts",
        &registry,
    )
    .unwrap();
    let mut alerts = AlertEngine::new(&cfg);
    let w = windows(1.4);
    let started = std::time::Instant::now();
    for i in 0..200 {
        alerts.on_step(
            &FacilityStep {
                facility: 0,
                facility_id: "nanchang-1",
                step_ms: T0 + i * MIN,
                windows: &w,
            },
            wall_now(),
        );
        let changes = alerts.drain_changes();
        delivery.publish(&alerts, &changes);
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "handing alerts over never waits for the receiver"
    );
    let m = eventually("failures counted", || {
        let m = metrics_text(&registry);
        async move { m.contains("result=\"failure\"").then_some(m) }
    })
    .await;
    assert!(
        m.contains(&format!(
            "dcpue_alert_notification_errors_total{{receiver=\"http://127.0.0.1:{dead}\"}}"
        )),
        "{m}"
    );
    delivery.shutdown(Duration::from_secs(1)).await;
}
