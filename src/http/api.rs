//! The JSON API of CONTRACT §6 (and the series endpoint the dashboard charts read).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::TimeZone;
use serde::Serialize;
use serde_json::json;

use super::auth::Access;
use super::Shared;
use crate::duration::parse_span;
use crate::engine::{FacilitySnapshot, MeterSnapshot};

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v1/facilities", get(facilities))
        .route("/api/v1/facilities/{id}", get(facility))
        .route("/api/v1/facilities/{id}/series", get(series))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/alerts/history", get(alerts_history))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({ "error": msg.into() }))).into_response()
}

async fn facilities(State(s): State<Arc<Shared>>, access: Access) -> Response {
    let snap = s.snapshot();
    if access.is_all() {
        return Json(&snap.facilities).into_response();
    }
    let seen: Vec<&FacilitySnapshot> = snap
        .facilities
        .iter()
        .filter(|f| access.sees(&f.id))
        .collect();
    Json(seen).into_response()
}

#[derive(Serialize)]
struct FacilityDetail<'a> {
    #[serde(flatten)]
    facility: &'a FacilitySnapshot,
    meters: &'a [MeterSnapshot],
}

async fn facility(
    State(s): State<Arc<Shared>>,
    access: Access,
    Path(id): Path<String>,
) -> Response {
    let snap = s.snapshot();
    // Another facility is, for a scoped user, as if it did not exist.
    match snap.facility(&id).filter(|_| access.sees(&id)) {
        Some(f) => Json(FacilityDetail {
            facility: f,
            meters: &f.meters,
        })
        .into_response(),
        None => error(StatusCode::NOT_FOUND, format!("unknown facility {id:?}")),
    }
}

/// RFC 3339 or epoch milliseconds.
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

async fn series(
    State(s): State<Arc<Shared>>,
    access: Access,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let snap = s.snapshot();
    let Some(fs) = snap.facility(&id).filter(|_| access.sees(&id)) else {
        return error(StatusCode::NOT_FOUND, format!("unknown facility {id:?}"));
    };
    let window_name = q.get("window").map(String::as_str).unwrap_or("24h");
    let window = match parse_span(window_name) {
        Ok(w) if w.ms() >= 60_000 => w,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("window {window_name:?}: use a duration such as 1h, 24h, 30d"),
            )
        }
    };
    let to = match q.get("to") {
        Some(t) => match parse_time(t) {
            Some(v) => v,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("to {t:?}: use RFC 3339 or epoch ms"),
                )
            }
        },
        None => fs.watermark_ms.unwrap_or(snap.taken_at_ms),
    };
    let from = match q.get("from") {
        Some(t) => match parse_time(t) {
            Some(v) => v,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("from {t:?}: use RFC 3339 or epoch ms"),
                )
            }
        },
        None => to - window.ms(),
    };
    if from > to {
        return error(StatusCode::BAD_REQUEST, "from is after to");
    }
    let step = match q.get("step") {
        Some(st) => match parse_span(st) {
            Ok(v) if v.ms() >= 60_000 => v.ms(),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("step {st:?}: a duration of at least 1m"),
                )
            }
        },
        None => ((to - from) / 200).max(60_000) / 60_000 * 60_000,
    };
    if (to - from) / step > 2000 {
        return error(StatusCode::BAD_REQUEST, "more than 2000 points: raise step");
    }
    let engine = s.engine.clone();
    let fid = id.clone();
    let points = tokio::task::spawn_blocking(move || {
        let e = engine.lock().map_err(|_| "engine lock poisoned")?;
        let fi = e.facility_index(&fid).ok_or("unknown facility")?;
        let tz = e.config().timezone();
        let min_coverage = e.config().engine.min_coverage;
        Ok::<_, &str>((
            min_coverage,
            e.series(fi, window, from, to, step)
                .into_iter()
                .map(|(t, v)| {
                    json!({
                        "t": tz.timestamp_millis_opt(t).single().map(|d| d.to_rfc3339()),
                        "pue": v.pue,
                        "coverage": v.coverage,
                        "renewable_share": v.renewable_share,
                        "energy_kwh": v.energy_kwh,
                        "covered_energy_kwh": v.covered_energy_kwh,
                        "wue": v.kpi.wue,
                        "erf": v.kpi.erf,
                        "ref": v.kpi.ref_,
                        "cue": v.kpi.cue,
                    })
                })
                .collect::<Vec<_>>(),
        ))
    })
    .await;
    match points {
        Ok(Ok((min_coverage, points))) => Json(json!({
            "facility": id,
            "window": window_name,
            "step": crate::duration::Span(step).to_string(),
            "ceiling": fs.pue_ceiling,
            "renewable_target": fs.renewable_target,
            "min_coverage": min_coverage,
            "points": points,
        }))
        .into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn alerts(State(s): State<Arc<Shared>>, access: Access) -> Response {
    match s.alerts() {
        Some(a) => Json(access.filter_json(a.active())).into_response(),
        None => Json(json!([])).into_response(),
    }
}

async fn alerts_history(
    State(s): State<Arc<Shared>>,
    access: Access,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let since = match q.get("since") {
        Some(t) => match parse_time(t) {
            Some(v) => Some(v),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("since {t:?}: use RFC 3339 or epoch ms"),
                )
            }
        },
        None => None,
    };
    let Some(a) = s.alerts() else {
        return Json(json!([])).into_response();
    };
    let name = q.get("name").map(String::as_str);
    match (q.get("facility").map(String::as_str), &access) {
        (Some(f), _) if !access.sees(f) => Json(json!([])).into_response(),
        (Some(_), _) | (None, Access::All) => {
            Json(access.filter_json(a.history(q.get("facility").map(String::as_str), name, since)))
                .into_response()
        }
        // A scoped user: each of its facilities asked on its own (so another facility's many
        // alerts cannot crowd its own out of the bounded answer), merged newest first.
        (None, Access::Only(ids)) => {
            let mut all: Vec<serde_json::Value> = ids
                .iter()
                .filter_map(|f| match a.history(Some(f), name, since) {
                    serde_json::Value::Array(items) => Some(items),
                    _ => None,
                })
                .flatten()
                .collect();
            let at = |v: &serde_json::Value| v["resolved_wall_ms"].as_i64().unwrap_or(i64::MIN);
            all.sort_by_key(|v| std::cmp::Reverse(at(v)));
            all.truncate(HISTORY_MAX);
            Json(access.filter_json(serde_json::Value::Array(all))).into_response()
        }
    }
}

/// The most resolved alerts one history answer holds (as the store's query is bounded).
const HISTORY_MAX: usize = 10_000;

async fn readyz(State(s): State<Arc<Shared>>) -> Response {
    if s.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: broker subscription not up yet\n",
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::{json, Value};

    use super::super::{auth::Auth, webconfig::Web, AlertsView, Shared};
    use super::Arc;
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

    const FACILITY: &str = "tier = \"core\"\nclass = \"large\"\ncommissioned = \"2023-06-01\"\n  \
        [[facility.meter]]\n  id = \"grid\"\n  role = \"total\"\n  [[facility.meter]]\n  \
        id = \"it\"\n  role = \"it\"\n";

    async fn server() -> (String, tokio_util::sync::CancellationToken) {
        let text = format!(
            "[[facility]]\nid = \"a-1\"\nname = \"A\"\ncity = \"A\"\n{FACILITY}\n\
             [[facility]]\nid = \"b-1\"\nname = \"B\"\ncity = \"B\"\n{FACILITY}"
        );
        let cfg = Config::parse(&text, "t.toml").unwrap();
        let mut engine = Engine::new(&cfg);
        let first = engine.snapshot(0);
        let shared = Arc::new(Shared::new(
            Arc::new(Mutex::new(engine)),
            first,
            Arc::new(MqttStatus::new()),
        ));
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
        tokio::spawn(super::super::serve(listener, shared, stop.clone()));
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
}
