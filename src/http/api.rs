//! The JSON API of CONTRACT §6 (and the series endpoint the dashboard charts read).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::TimeZone;
use serde::Serialize;
use serde_json::json;

use super::auth::Access;
use super::background::BackgroundError;
use super::{SeriesCopy, SeriesRequest, Shared};
use crate::config::HISTORY_DAYS;
use crate::duration::parse_span;
use crate::engine::series::MAX_POINTS;
use crate::engine::{Energies, FacilitySnapshot, MeterSnapshot};

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

/// Latest time a series parameter may name: 9999-12-31T23:59:59.999Z.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;
/// Longest series window: the history kept.
pub const MAX_WINDOW_MS: i64 = HISTORY_DAYS * 86_400_000;
/// Shortest window and step.
const MIN_SPAN_MS: i64 = 60_000;

/// A bad query parameter of `GET .../series` (400; each names its parameter).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeriesParamError {
    #[error("window {0:?}: use a duration from 1m to {HISTORY_DAYS}d (the history kept), such as 1h, 24h, 30d")]
    Window(String),
    #[error("{name} {value:?}: use a time from 1970-01-01 to 9999-12-31, RFC 3339 or epoch ms")]
    Time { name: &'static str, value: String },
    #[error("from {from} is after to {to}")]
    FromAfterTo { from: i64, to: i64 },
    #[error("step {0:?}: use a duration from 1m to {HISTORY_DAYS}d")]
    Step(String),
    #[error("step {step}: {points} points from `from` to `to`, at most {max}: raise step")]
    TooManyPoints {
        step: String,
        points: i64,
        max: usize,
    },
}

/// The checked parameters of one series request (epoch ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesParams {
    pub window_name: String,
    pub window_ms: i64,
    pub from: i64,
    pub to: i64,
    pub step: i64,
}

fn time_param(
    q: &HashMap<String, String>,
    name: &'static str,
) -> Result<Option<i64>, SeriesParamError> {
    match q.get(name) {
        None => Ok(None),
        Some(v) => match parse_time(v) {
            Some(t) if (0..=MAX_TIME_MS).contains(&t) => Ok(Some(t)),
            _ => Err(SeriesParamError::Time {
                name,
                value: v.clone(),
            }),
        },
    }
}

impl SeriesParams {
    /// Checks `window` (default 24h), `to` (default `default_to`), `from` (default `to` minus
    /// the window) and `step` (default about 200 points, whole minutes); every bound is checked
    /// before any arithmetic, so nothing overflows.
    pub fn parse(
        q: &HashMap<String, String>,
        default_to: i64,
    ) -> Result<SeriesParams, SeriesParamError> {
        let window_name = q.get("window").map(String::as_str).unwrap_or("24h");
        let window_ms = match parse_span(window_name) {
            Ok(w) if (MIN_SPAN_MS..=MAX_WINDOW_MS).contains(&w.ms()) => w.ms(),
            _ => return Err(SeriesParamError::Window(window_name.to_string())),
        };
        let to = time_param(q, "to")?.unwrap_or(default_to.clamp(0, MAX_TIME_MS));
        let from = time_param(q, "from")?.unwrap_or((to - window_ms).max(0));
        if from > to {
            return Err(SeriesParamError::FromAfterTo { from, to });
        }
        let step = match q.get("step") {
            Some(st) => match parse_span(st) {
                Ok(v) if (MIN_SPAN_MS..=MAX_WINDOW_MS).contains(&v.ms()) => v.ms(),
                _ => return Err(SeriesParamError::Step(st.clone())),
            },
            None => ((to - from) / 200).max(MIN_SPAN_MS) / MIN_SPAN_MS * MIN_SPAN_MS,
        };
        let points = (to - from) / step;
        if points > MAX_POINTS as i64 {
            return Err(SeriesParamError::TooManyPoints {
                step: crate::duration::Span(step).to_string(),
                points,
                max: MAX_POINTS,
            });
        }
        Ok(SeriesParams {
            window_name: window_name.to_string(),
            window_ms,
            from,
            to,
            step,
        })
    }
}

#[derive(Debug, thiserror::Error)]
enum SeriesError {
    #[error("unknown facility")]
    Unknown,
    #[error("encoding the series: {0}")]
    Json(#[from] serde_json::Error),
}

/// One point of a series. Fields in name order, as before.
#[derive(Serialize)]
struct SeriesPoint {
    coverage: f64,
    covered_energy_kwh: Option<Energies>,
    cue: Option<f64>,
    energy_kwh: Energies,
    erf: Option<f64>,
    estimated_share: Option<f64>,
    pue: Option<f64>,
    #[serde(rename = "ref")]
    ref_: Option<f64>,
    renewable_share: Option<f64>,
    t: Option<String>,
    wue: Option<f64>,
}

#[derive(Serialize)]
struct SeriesBody<'a> {
    ceiling: f64,
    facility: &'a str,
    min_coverage: f64,
    points: Vec<SeriesPoint>,
    renewable_target: Option<f64>,
    step: String,
    window: &'a str,
}

/// `GET /api/v1/facilities/{id}/series`: the window ending at each step. The ingest loop copies
/// the facility's buckets (see the module docs of `http`); the points are computed from the
/// copy, one request at a time on the low-priority background thread, each in
/// O(buckets + points).
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
    let p = match SeriesParams::parse(&q, fs.watermark_ms.unwrap_or(snap.taken_at_ms)) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    // The permit moves into the work: a client that goes away does not free it early.
    let Ok(permit) = s.series_permits.clone().acquire_owned().await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    };
    let (reply, copied) = tokio::sync::oneshot::channel();
    let request = SeriesRequest {
        facility: id.clone(),
        reply,
    };
    if s.series.send(request).await.is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    let SeriesCopy {
        input,
        tz,
        min_coverage,
    } = match copied.await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                SeriesError::Unknown.to_string(),
            )
        }
        Err(_) => return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
    };
    let (ceiling, renewable_target) = (fs.pue_ceiling, fs.renewable_target);
    let body = s
        .background
        .run(move || {
            let _permit = permit;
            let points = crate::engine::series::series(&input, p.window_ms, p.from, p.to, p.step)
                .into_iter()
                .map(|(t, v)| SeriesPoint {
                    coverage: v.coverage,
                    covered_energy_kwh: v.covered_energy_kwh,
                    cue: v.kpi.cue,
                    energy_kwh: v.energy_kwh,
                    erf: v.kpi.erf,
                    estimated_share: v.estimated_share,
                    pue: v.pue,
                    ref_: v.kpi.ref_,
                    renewable_share: v.renewable_share,
                    t: tz.timestamp_millis_opt(t).single().map(|d| d.to_rfc3339()),
                    wue: v.kpi.wue,
                })
                .collect();
            serde_json::to_vec(&SeriesBody {
                ceiling,
                facility: &id,
                min_coverage,
                points,
                renewable_target,
                step: crate::duration::Span(p.step).to_string(),
                window: &p.window_name,
            })
        })
        .await;
    match body {
        Ok(Ok(b)) => ([(header::CONTENT_TYPE, "application/json")], b).into_response(),
        Ok(Err(e)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            SeriesError::from(e).to_string(),
        ),
        Err(BackgroundError::Stopped) => error(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
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
mod scope_tests;
#[cfg(test)]
mod tests;
