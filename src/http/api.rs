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
    match s.alerts() {
        Some(a) => Json(access.filter_json(a.history(
            q.get("facility").map(String::as_str),
            q.get("name").map(String::as_str),
            since,
        )))
        .into_response(),
        None => Json(json!([])).into_response(),
    }
}

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
