//! HTTP (CONTRACT §6): the JSON API, Prometheus metrics and the dashboard page. Handlers only
//! read what was published (the snapshot, the rendered metrics, the active alerts), so a scrape
//! or a page load never blocks ingest, and HTTP holds no handle on the engine.
//!
//! The one exception is a history series: it needs one facility's buckets (up to 13 months of
//! hours per meter, about 100 KB a meter), too much to copy into every snapshot (several a
//! second, every facility) or to keep a second time. It asks the ingest loop, the engine's only
//! owner, for a copy of that one facility ([`SeriesRequest`]); the loop makes it between two
//! batches (a memory copy, no arithmetic) and goes on, and the points are computed from the
//! copy on a low-priority thread. At most [`SERIES_CONCURRENCY`] copies exist at once: the
//! permit is taken before asking and held until the points are done.

pub mod alerts_view;
pub mod api;
pub mod auth;
pub mod background;
pub mod metrics;
pub mod page;
pub mod server;
pub mod tls;
pub mod webconfig;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use axum::Router;
use tokio::sync::{mpsc, oneshot};

use crate::engine::series::SeriesInput;
use crate::engine::Snapshot;
use crate::ingest::mqtt::MqttStatus;

/// A history series' request for a copy of one facility's bucket data, answered by the ingest
/// loop (the engine's owner) between batches; `None` when no facility has that id.
pub struct SeriesRequest {
    pub facility: String,
    pub reply: oneshot::Sender<Option<SeriesCopy>>,
}

/// One facility's bucket data as a series needs it, with the config values it is shown with.
pub struct SeriesCopy {
    pub input: SeriesInput,
    pub tz: chrono_tz::Tz,
    pub min_coverage: f64,
}

/// Alerts as the HTTP layer sees them: active alerts and a history query.
pub trait AlertsView: Send + Sync {
    /// `/api/v1/alerts`: JSON array.
    fn active(&self) -> serde_json::Value;
    /// `/api/v1/alerts/history`: JSON array, filtered.
    fn history(
        &self,
        facility: Option<&str>,
        name: Option<&str>,
        since_ms: Option<i64>,
    ) -> serde_json::Value;
}

/// What the HTTP handlers read. Everything behind a lock is swapped whole, never edited.
pub struct Shared {
    pub snapshot: RwLock<Arc<Snapshot>>,
    /// Engine-derived metrics, rendered when the snapshot was published.
    pub metrics_text: RwLock<Arc<String>>,
    /// Where a history series asks for its copy of a facility's buckets.
    pub series: mpsc::Sender<SeriesRequest>,
    pub mqtt: Arc<MqttStatus>,
    /// Metrics of the adapters (sink, delivery), gathered at scrape.
    pub registry: prometheus::Registry,
    pub alerts: RwLock<Option<Arc<dyn AlertsView>>>,
    pub ready: AtomicBool,
    /// TLS and users from `[http] web_config_file`, set once before serving.
    pub web: std::sync::OnceLock<webconfig::Web>,
    /// History series in progress at once (each holds a copy of a facility's buckets).
    pub series_permits: Arc<tokio::sync::Semaphore>,
    /// Where history series are computed, at a lower CPU priority than ingest.
    pub background: background::Background,
}

/// History series in progress at once: one, so that series requests, however many, take at
/// most one core, and only what ingest leaves of it.
pub const SERIES_CONCURRENCY: usize = 1;

impl Shared {
    /// The state HTTP reads, and the receiving end of the series copy requests (for the
    /// engine's owner to answer; dropped, every series request is a 503).
    pub fn new(first: Snapshot, mqtt: Arc<MqttStatus>) -> (Shared, mpsc::Receiver<SeriesRequest>) {
        let text = metrics::render_snapshot(&first);
        let (series, series_rx) = mpsc::channel(SERIES_CONCURRENCY);
        let shared = Shared {
            snapshot: RwLock::new(Arc::new(first)),
            metrics_text: RwLock::new(Arc::new(text)),
            series,
            mqtt,
            registry: prometheus::Registry::new(),
            alerts: RwLock::new(None),
            ready: AtomicBool::new(false),
            web: std::sync::OnceLock::new(),
            series_permits: Arc::new(tokio::sync::Semaphore::new(SERIES_CONCURRENCY)),
            background: background::Background::start("dcpue-series"),
        };
        (shared, series_rx)
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Publishes a new snapshot and its rendered metrics.
    pub fn publish(&self, snap: Snapshot) {
        let text = Arc::new(metrics::render_snapshot(&snap));
        let snap = Arc::new(snap);
        match self.snapshot.write() {
            Ok(mut g) => *g = snap,
            Err(p) => *p.into_inner() = snap,
        }
        match self.metrics_text.write() {
            Ok(mut g) => *g = text,
            Err(p) => *p.into_inner() = text,
        }
    }

    pub fn alerts(&self) -> Option<Arc<dyn AlertsView>> {
        self.alerts.read().ok().and_then(|a| a.clone())
    }

    pub fn set_ready(&self, v: bool) {
        self.ready.store(v, Ordering::Relaxed);
    }
}

pub fn router(shared: Arc<Shared>) -> Router {
    let auth = shared.web.get().and_then(|w| w.auth.clone());
    let app = Router::new()
        .merge(api::routes())
        .merge(metrics::routes())
        .with_state(shared)
        .merge(page::routes());
    let app = match auth {
        Some(a) => app.layer(axum::middleware::from_fn_with_state(a, auth::require)),
        None => app,
    };
    // Outermost, so that a 401 or 403 says it too.
    app.layer(axum::middleware::map_response(nosniff))
}

/// Every response says what it is: browsers must not sniff a JSON body into HTML.
async fn nosniff(mut res: axum::response::Response) -> axum::response::Response {
    res.headers_mut().insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        axum::http::HeaderValue::from_static("nosniff"),
    );
    res
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot listen on {addr}: {source} (is another dcpue or program using the port? set [http] listen or DCPUE_HTTP_LISTEN)")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    WebConfig(#[from] webconfig::WebConfigError),
}

/// Binds the listener (so a taken port is reported at once).
pub async fn bind(addr: &str) -> Result<tokio::net::TcpListener, HttpError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| HttpError::Bind {
            addr: addr.to_string(),
            source,
        })
}

/// Serves until `shutdown` is cancelled (see [`server::run`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    opts: server::ServerOptions,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), HttpError> {
    let tls = shared.web.get().and_then(|w| w.tls.clone());
    server::run(listener, router(shared), tls, opts, shutdown).await;
    Ok(())
}
