//! Wiring: the running service (`dcpue serve`) built from its adapters around the engine.
//!
//! MQTT messages arrive on a bounded channel; the ingest loop decodes them, feeds the engine,
//! acknowledges each message only after the engine took it, advances event time (alerts and
//! window points), and publishes snapshots that HTTP readers hold without blocking ingest.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Role};
use crate::engine::{Engine, MeterRef, Reason, Verdict};
use crate::http::{self, Shared};
use crate::ingest::mqtt::{self, Incoming, MqttStatus};
use crate::ingest::{decode_payload, parse_topic};
use crate::store;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Http(#[from] http::HttpError),
    #[error("mqtt: {0}")]
    Mqtt(#[from] mqtt::MqttError),
    #[error("state: {0}")]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Other(String),
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Logs at most `burst` lines per key and 10 s; says how many were suppressed.
pub struct RateLimitedLog {
    window_start: Instant,
    counts: HashMap<&'static str, u64>,
    burst: u64,
}

impl RateLimitedLog {
    pub fn new(burst: u64) -> Self {
        RateLimitedLog {
            window_start: Instant::now(),
            counts: HashMap::new(),
            burst,
        }
    }

    pub fn warn(&mut self, key: &'static str, topic: &str, msg: &str) {
        if self.window_start.elapsed() > Duration::from_secs(10) {
            for (k, n) in self.counts.drain() {
                if n > self.burst {
                    tracing::warn!(
                        reason = k,
                        suppressed = n - self.burst,
                        "more rejections not logged in the last 10 s"
                    );
                }
            }
            self.window_start = Instant::now();
        }
        let n = self.counts.entry(key).or_insert(0);
        *n += 1;
        if *n <= self.burst {
            tracing::warn!(reason = key, topic, "rejected: {msg}");
        }
    }
}

/// Per-meter static facts the adapters need (role tag for InfluxDB points).
pub fn role_tag(cfg: &Config, m: MeterRef) -> String {
    let mc = &cfg.facilities[m.facility].meters[m.meter];
    mc.roles()
        .iter()
        .map(|r: &Role| r.as_str())
        .collect::<Vec<_>>()
        .join("+")
}

/// The service's parts that the ingest loop drives.
pub struct Service {
    pub cfg: Config,
    pub engine: Arc<Mutex<Engine>>,
    pub shared: Arc<Shared>,
    pub state_dir: PathBuf,
    /// Wall-clock time each meter was last heard from (MeterStale).
    pub last_heard: HashMap<MeterRef, i64>,
    log: RateLimitedLog,
    prefix: String,
}

impl Service {
    /// Takes one MQTT message: every reading judged and counted. Returns readings accepted.
    pub fn take_message(&mut self, engine: &mut Engine, topic: &str, payload: &[u8]) -> u64 {
        let now = now_ms();
        let Some((fid, mid)) = parse_topic(&self.prefix, topic) else {
            engine.count_rejected(None, Reason::UnknownMeter, 1);
            self.log.warn(
                Reason::UnknownMeter.as_str(),
                topic,
                "topic is not <prefix>/<facility>/<meter>",
            );
            return 0;
        };
        let known_facility = engine.facility_index(fid).map(|_| fid);
        let readings = match decode_payload(payload) {
            Ok(r) => r,
            Err((reason, msg)) => {
                engine.count_rejected(known_facility, reason, 1);
                self.log.warn(reason.as_str(), topic, &msg);
                return 0;
            }
        };
        let Some(m) = engine.lookup(fid, mid) else {
            engine.count_rejected(known_facility, Reason::UnknownMeter, readings.len() as u64);
            self.log.warn(
                Reason::UnknownMeter.as_str(),
                topic,
                &format!("no meter {mid:?} in facility {fid:?} in the config"),
            );
            return 0;
        };
        self.last_heard.insert(m, now);
        let mut accepted = 0;
        for r in readings {
            match r {
                Ok(reading) => match engine.ingest(m, reading, now) {
                    Verdict::Accepted => {
                        accepted += 1;
                    }
                    Verdict::Rejected(reason) => {
                        if reason != Reason::Duplicate {
                            self.log.warn(
                                reason.as_str(),
                                topic,
                                &format!("reading at ts {} ms: {}", reading.ts, reason),
                            );
                        }
                    }
                },
                Err((reason, msg)) => {
                    engine.count_rejected(Some(fid), reason, 1);
                    self.log.warn(reason.as_str(), topic, &msg);
                }
            }
        }
        accepted
    }
}

/// Runs `dcpue serve` until `shutdown` is cancelled. `ready_tx` receives the HTTP address once
/// listening (tests and `demo` use it).
pub async fn serve(
    cfg: Config,
    shutdown: CancellationToken,
    ready_tx: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
) -> Result<(), AppError> {
    let listener = http::bind(&cfg.http.listen).await?;
    let addr = listener
        .local_addr()
        .map_err(|e| AppError::Other(e.to_string()))?;
    std::fs::create_dir_all(&cfg.storage.dir).map_err(|e| {
        AppError::Other(format!(
            "cannot create storage dir {}: {e}",
            cfg.storage.dir.display()
        ))
    })?;
    let engine = store::restore(&cfg)?;
    let engine = Arc::new(Mutex::new(engine));
    let first = engine
        .lock()
        .map_err(|_| AppError::Other("engine lock".into()))?
        .snapshot(now_ms());
    let status = Arc::new(MqttStatus::new());
    let shared = Arc::new(Shared::new(engine.clone(), first, status.clone()));

    let (tx, rx) = mpsc::channel::<Incoming>(4096);
    let mqtt_task = mqtt::spawn(&cfg.mqtt, status.clone(), tx, shutdown.clone())?;
    let http_task = tokio::spawn(http::serve(listener, shared.clone(), shutdown.clone()));
    tracing::info!(%addr, broker = %cfg.mqtt.url, facilities = cfg.facilities.len(), "dcpue serving");
    if let Some(t) = ready_tx {
        let _ = t.send(addr);
    }
    let mut svc = Service {
        prefix: cfg.mqtt.topic_prefix.clone(),
        state_dir: cfg.storage.dir.clone(),
        cfg,
        engine,
        shared: shared.clone(),
        last_heard: HashMap::new(),
        log: RateLimitedLog::new(20),
    };
    ingest_loop(&mut svc, rx, status, shutdown.clone()).await;
    let _ = mqtt_task.await;
    let _ = http_task.await;
    if let Ok(e) = svc.engine.lock() {
        store::checkpoint(&svc.state_dir, &e)?;
    }
    tracing::info!("dcpue stopped; state saved");
    Ok(())
}

async fn ingest_loop(
    svc: &mut Service,
    mut rx: mpsc::Receiver<Incoming>,
    status: Arc<MqttStatus>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut last_publish = Instant::now() - Duration::from_secs(10);
    let mut last_checkpoint = Instant::now();
    let mut batch: Vec<Incoming> = Vec::with_capacity(1024);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, 1024) => {
                if n == 0 {
                    break;
                }
            }
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => break,
        }
        svc.shared.set_ready(status.subscribed());
        if !batch.is_empty() {
            if !take_batch(svc, &batch) {
                break;
            }
            // The engine took every message of the batch: now the broker may forget them.
            for msg in batch.drain(..) {
                if let Some(ack) = msg.ack {
                    ack.ack().await;
                }
            }
        }
        if last_publish.elapsed() >= Duration::from_millis(500)
            || rx.is_empty() && last_publish.elapsed() >= Duration::from_millis(200)
        {
            publish(svc);
            last_publish = Instant::now();
        }
        if last_checkpoint.elapsed() >= Duration::from_secs(60) {
            if let Ok(e) = svc.engine.lock() {
                if let Err(err) = store::checkpoint(&svc.state_dir, &e) {
                    tracing::error!("checkpoint failed: {err}");
                }
            }
            last_checkpoint = Instant::now();
        }
    }
    publish(svc);
}

/// Feeds a batch of messages to the engine; false when the engine lock is poisoned.
fn take_batch(svc: &mut Service, batch: &[Incoming]) -> bool {
    let engine = svc.engine.clone();
    let Ok(mut e) = engine.lock() else {
        return false;
    };
    for msg in batch {
        svc.take_message(&mut e, &msg.topic, &msg.payload);
    }
    true
}

/// Advances event time (each step to the alert rules) and publishes a snapshot.
fn publish(svc: &mut Service) {
    let Ok(mut e) = svc.engine.lock() else { return };
    e.advance(&mut |_step| {});
    let snap = e.snapshot(now_ms());
    drop(e);
    svc.shared.publish(snap);
}
