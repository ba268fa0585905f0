//! Wiring: the running service (`dcpue serve`) built from its adapters around the engine.
//!
//! MQTT messages arrive on a bounded channel; the ingest loop ([`ingest_loop`]) decodes them,
//! feeds the engine, acknowledges each message only after the engine took it, advances event
//! time (alerts and window points, [`feeds`]), and publishes snapshots that HTTP readers hold
//! without blocking ingest. [`service`] holds the state the loop drives; this file builds it,
//! starts the adapters and stops them in order.

pub mod feeds;
pub mod ingest_loop;
pub mod metrics;
pub mod service;
pub mod start;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::alerts::{ActiveAlertMetric, AlertDelivery, AlertEngine, AlertHistory};
use crate::config::Config;
use crate::http::alerts_view::AlertsHttp;
use crate::http::{self, Shared};
use crate::ingest::commit::BATCH;
use crate::ingest::dedup::RecentMessages;
use crate::ingest::gateway::Routes;
use crate::ingest::mqtt::{self, Incoming, MqttStatus};
use crate::ingest::take::Body;
use crate::sinks::{self, influx::InfluxHandle};
use crate::store;

use feeds::{Alerting, SinkFeed};
use ingest_loop::{ingest_loop, publish};
use metrics::IngestMetrics;
use service::{heard_map, RateLimitedLog, Service};

/// Why `dcpue serve` could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Http(#[from] http::HttpError),
    #[error("mqtt: {0}")]
    Mqtt(#[from] mqtt::MqttError),
    #[error("state: {0}")]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Alerts(#[from] crate::alerts::AlertError),
    #[error(transparent)]
    Start(#[from] start::StartError),
    /// The bound listener's address could not be read.
    #[error("{0}")]
    ListenAddr(std::io::Error),
    #[error("cannot create storage dir {}: {source}", dir.display())]
    StorageDir {
        dir: std::path::PathBuf,
        source: std::io::Error,
    },
    /// A metric could not be registered (a name registered twice).
    #[error("{0}")]
    Metrics(#[from] prometheus::Error),
    #[error("influxdb: {0}")]
    Influx(#[from] sinks::influx::SinkError),
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Runs `dcpue serve` until `shutdown` is cancelled. `ready_tx` receives the HTTP address once
/// listening (tests and `demo` use it).
pub async fn serve(
    cfg: Config,
    shutdown: CancellationToken,
    ready_tx: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
) -> Result<(), ServeError> {
    // What `check-config` checks too: a config it passes starts.
    start::check(&cfg)?;
    let auth_failures = http::auth::failures_counter();
    let web =
        http::webconfig::load(&cfg.http, auth_failures.clone()).map_err(http::HttpError::from)?;
    if let Some(w) = http::webconfig::exposure_warning(&cfg.http.listen, &web) {
        tracing::warn!("{w}");
    }
    let nofile = http::server::raise_nofile_limit();
    let listener = http::bind(&cfg.http.listen).await?;
    let addr = listener.local_addr().map_err(ServeError::ListenAddr)?;
    std::fs::create_dir_all(&cfg.storage.dir).map_err(|source| ServeError::StorageDir {
        dir: cfg.storage.dir.clone(),
        source,
    })?;
    // Held until serve returns: no other writer (`import`) touches the directory meanwhile.
    let _dir_lock = store::lock::lock_dir(&cfg.storage.dir, "serve")?;
    let store::Opened {
        mut engine,
        mark,
        wal,
        replay,
        fell_back,
    } = store::open(&cfg)?;
    let status = Arc::new(MqttStatus::new());
    let first = engine.snapshot(now_ms());
    let (shared, series_rx) = Shared::new(first, status.clone());
    let shared = Arc::new(shared);
    let _ = shared.web.set(web);
    shared.registry.register(Box::new(auth_failures))?;

    let history = Arc::new(AlertHistory::open_at_start(&cfg.storage.dir)?);
    let mut alert_engine = AlertEngine::new(&cfg);
    if let Some(st) = history.load_state()? {
        alert_engine.restore(st, now_ms());
    }
    let scheme = match shared.web.get().is_some_and(|w| w.tls.is_some()) {
        true => "https",
        false => "http",
    };
    let generator_url = format!("{scheme}://{addr}/api/v1/alerts");
    let alerting = Alerting {
        engine: alert_engine,
        history: history.clone(),
        delivery: AlertDelivery::start(&cfg.alerting, &generator_url, &shared.registry)?,
        metric: ActiveAlertMetric::register(&shared.registry)?,
        http: Arc::new(AlertsHttp {
            active: std::sync::RwLock::new(Arc::new(Vec::new())),
            history,
        }),
    };
    if let Ok(mut a) = shared.alerts.write() {
        *a = Some(alerting.http.clone());
    }
    let influx = match &cfg.influxdb {
        Some(ic) => Some(InfluxHandle::start(
            ic,
            sinks::influx::spool_dir(&cfg.storage.dir),
            &shared.registry,
        )?),
        None => None,
    };
    let sink = SinkFeed::new(&cfg, influx);
    let metrics = IngestMetrics::register(&cfg, &shared.registry)?;
    // MeterStale goes on from when each meter was last heard, not from this start.
    let last_heard = heard_map(&cfg, &mark.last_heard);
    let mut svc = Service {
        metrics,
        sink,
        prefix: cfg.mqtt.topic_prefix.clone(),
        routes: Routes::new(&cfg),
        state_dir: cfg.storage.dir.clone(),
        cfg,
        engine,
        shared: shared.clone(),
        last_heard,
        alerting,
        wal,
        recent: RecentMessages::from_list(&mark.recent_messages),
        log: RateLimitedLog::new(20),
    };
    // Messages taken after the checkpoint restored, before a crash: taken again, exactly once.
    if !replay.is_empty() || fell_back {
        for r in &replay {
            let body = Body::of_record(r);
            svc.recent.insert(RecentMessages::hash_body(&r.topic, body));
            svc.take_message(&r.topic, body, r.wall_ms);
        }
        if !replay.is_empty() {
            tracing::info!(
                messages = replay.len(),
                "replayed the write-ahead log after an unclean stop"
            );
        }
        svc.checkpoint()?;
    }
    publish(&mut svc);

    let (tx, rx) = mpsc::channel::<Incoming>(4 * BATCH);
    let mqtt_task = mqtt::spawn_filters(
        &svc.cfg.mqtt,
        svc.routes.filters(),
        status.clone(),
        tx,
        shutdown.clone(),
    )?;
    let http_opts = http::server::ServerOptions::new(&svc.cfg.http, nofile);
    let http_task = tokio::spawn(http::serve(
        listener,
        shared.clone(),
        http_opts,
        shutdown.clone(),
    ));
    tracing::info!(%addr, broker = %svc.cfg.mqtt.url, facilities = svc.cfg.facilities.len(), "dcpue serving");
    if let Some(t) = ready_tx {
        let _ = t.send(addr);
    }
    ingest_loop(&mut svc, rx, series_rx, status, shutdown.clone()).await;
    let _ = mqtt_task.await;
    let saved = svc
        .checkpoint()
        .and_then(|()| store::stopped_cleanly(&svc.state_dir, svc.wal.last_seq()));
    svc.alerting.flush();
    svc.sink.flush();
    let _ = http_task.await;
    let Service { alerting, sink, .. } = svc;
    alerting.delivery.shutdown(Duration::from_secs(5)).await;
    if let Some(i) = sink.influx {
        i.shutdown().await;
    }
    saved?;
    tracing::info!("dcpue stopped; state saved");
    Ok(())
}
