//! Facility scopes of `[http.access]` through the real router: what a scoped user gets.

use serde_json::{json, Value};

use super::super::{auth::Auth, webconfig::Web, AlertsView, Shared};
use super::Arc;
use crate::config::fixture::facility;
use crate::config::Config;
use crate::engine::Engine;
use crate::ingest::mqtt::MqttStatus;

/// Alerts of both facilities; the history of a facility is what the store would answer.
struct FakeAlerts;

fn alert(f: &str, wall: i64) -> Value {
    json!({"name": "PueAboveCeiling", "labels": {"facility": f}, "resolved_wall_ms": wall})
}

impl AlertsView for FakeAlerts {
    fn active(&self) -> Value {
        json!([alert("a-1", 1), alert("b-1", 2)])
    }
    fn history(&self, facility: Option<&str>, _: Option<&str>, _: Option<i64>) -> Value {
        let all = [
            alert("b-1", 5),
            alert("a-1", 4),
            alert("b-1", 3),
            alert("a-1", 2),
        ];
        Value::Array(
            all.into_iter()
                .filter(|a| facility.is_none_or(|f| a["labels"]["facility"] == f))
                .collect(),
        )
    }
}

async fn server() -> (String, tokio_util::sync::CancellationToken) {
    let text = format!(
        "{}{}",
        facility("a-1").grid_and_it(),
        facility("b-1").grid_and_it()
    );
    let cfg = Config::parse(&text, "t.toml").unwrap();
    let mut engine = Engine::new(&cfg);
    let first = engine.snapshot(0);
    let (shared, _series) = Shared::new(first, Arc::new(MqttStatus::new()));
    let shared = Arc::new(shared);
    *shared.alerts.write().unwrap() = Some(Arc::new(FakeAlerts));
    let users = [("reg", "r"), ("op", "o")]
        .into_iter()
        .map(|(u, p)| (u.to_string(), bcrypt::hash(p, 4).unwrap()))
        .collect();
    let access = [("op".to_string(), vec!["a-1".to_string()])].into();
    let failures = prometheus::IntCounter::new("f", "f").unwrap();
    let auth = Auth::new(users, &access, failures);
    let _ = shared.web.set(Web {
        auth: Some(Arc::new(auth)),
        ..Web::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let opts = super::super::server::ServerOptions::new(&cfg.http, None);
    tokio::spawn(super::super::serve(listener, shared, opts, stop.clone()));
    (url, stop)
}

async fn get(url: &str, user: &str, pw: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(url)
        .basic_auth(user, Some(pw))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn facilities_of(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["facility"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_scoped_user_gets_only_its_facilities_alerts() {
    let (url, stop) = server().await;
    let (s, v) = get(&format!("{url}/api/v1/alerts"), "op", "o").await;
    assert_eq!((s, facilities_of(&v)), (200, vec!["a-1"]));
    let (_, v) = get(&format!("{url}/api/v1/alerts"), "reg", "r").await;
    assert_eq!(facilities_of(&v), ["a-1", "b-1"]);

    let (_, v) = get(&format!("{url}/api/v1/alerts/history"), "op", "o").await;
    assert_eq!(facilities_of(&v), ["a-1", "a-1"]);
    assert_eq!(v[0]["resolved_wall_ms"], 4, "newest first: {v}");
    let (_, v) = get(
        &format!("{url}/api/v1/alerts/history?facility=b-1"),
        "op",
        "o",
    )
    .await;
    assert_eq!(v, json!([]));
    let (_, v) = get(&format!("{url}/api/v1/alerts/history"), "reg", "r").await;
    assert_eq!(facilities_of(&v), ["b-1", "a-1", "b-1", "a-1"]);

    let (s, v) = get(&format!("{url}/api/v1/facilities"), "op", "o").await;
    assert_eq!((s, v.as_array().map(Vec::len)), (200, Some(1)));
    assert_eq!(v[0]["id"], "a-1");
    let (s, _) = get(&format!("{url}/api/v1/facilities/b-1"), "op", "o").await;
    assert_eq!(s, 404);
    let (s, _) = get(&format!("{url}/api/v1/facilities/b-1/series"), "op", "o").await;
    assert_eq!(s, 404);
    let (s, _) = get(&format!("{url}/metrics"), "op", "o").await;
    assert_eq!(s, 403);
    let (s, _) = get(&format!("{url}/metrics"), "reg", "r").await;
    assert_eq!(s, 200);
    stop.cancel();
}
