//! HTTP (CONTRACT §6): the JSON API, Prometheus metrics and the dashboard page. Handlers only
//! read published snapshots, so a scrape or a page load never blocks ingest; the engine is
//! locked briefly only for history series.

pub mod api;
pub mod auth;
pub mod metrics;
pub mod page;
pub mod tls;
pub mod webconfig;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;

use crate::engine::{Engine, Snapshot};
use crate::ingest::mqtt::MqttStatus;

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
    pub engine: Arc<Mutex<Engine>>,
    pub mqtt: Arc<MqttStatus>,
    /// Metrics of the adapters (sink, delivery), gathered at scrape.
    pub registry: prometheus::Registry,
    pub alerts: RwLock<Option<Arc<dyn AlertsView>>>,
    pub ready: AtomicBool,
    /// TLS and users from `[http] web_config_file`, set once before serving.
    pub web: std::sync::OnceLock<webconfig::Web>,
}

impl Shared {
    pub fn new(engine: Arc<Mutex<Engine>>, first: Snapshot, mqtt: Arc<MqttStatus>) -> Shared {
        let text = metrics::render_snapshot(&first);
        Shared {
            snapshot: RwLock::new(Arc::new(first)),
            metrics_text: RwLock::new(Arc::new(text)),
            engine,
            mqtt,
            registry: prometheus::Registry::new(),
            alerts: RwLock::new(None),
            ready: AtomicBool::new(false),
            web: std::sync::OnceLock::new(),
        }
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
    match auth {
        Some(a) => app.layer(axum::middleware::from_fn_with_state(a, auth::require)),
        None => app,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot listen on {addr}: {source} (is another dcpue or program using the port? set [http] listen or DCPUE_HTTP_LISTEN)")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("http server: {0}")]
    Serve(std::io::Error),
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

/// Serves until `shutdown` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), HttpError> {
    let tls = shared.web.get().and_then(|w| w.tls.clone());
    let app = router(shared).into_make_service_with_connect_info::<SocketAddr>();
    let stop = async move { shutdown.cancelled().await };
    match tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
        Some(acceptor) => {
            // `tap_io` only so that the connect info (the peer address) comes along.
            use axum::serve::ListenerExt;
            let tls = tls::TlsListener::new(listener, acceptor)
                .map_err(HttpError::Serve)?
                .tap_io(|_| {});
            axum::serve(tls, app).with_graceful_shutdown(stop).await
        }
    }
    .map_err(HttpError::Serve)
}
