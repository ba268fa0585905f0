//! Wiring: the running service (`dcpue serve`) built from its adapters around the engine.
//!
//! MQTT messages arrive on a bounded channel; the ingest loop decodes them, feeds the engine,
//! acknowledges each message only after the engine took it, advances event time (alerts and
//! window points), and publishes snapshots that HTTP readers hold without blocking ingest.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::alerts::{
    ActiveAlert, ActiveAlertMetric, AlertDelivery, AlertEngine, AlertHistory, HistoryFilter,
    MeterSeen,
};
use crate::config::{Config, Role};
use crate::engine::{Engine, MeterRef, Reason};
use crate::http::{self, Shared};
use crate::ingest::commit::{self, Commit};
use crate::ingest::gateway::Routes;
use crate::ingest::mqtt::{self, AckToken, Incoming, MqttStatus};
use crate::ingest::take::{take_routed, Body, Taken};
use crate::ingest::{self, parse_topic};
use crate::sinks::{
    self,
    influx::InfluxHandle,
    line::{reading_line, window_line, WindowGrid},
};
use crate::store::wal::Wal;
use crate::store::{self, IngestMark};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Http(#[from] http::HttpError),
    #[error("mqtt: {0}")]
    Mqtt(#[from] mqtt::MqttError),
    #[error("state: {0}")]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Alerts(#[from] crate::alerts::AlertError),
    #[error(transparent)]
    Start(#[from] crate::config::StartError),
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

/// Alerts as HTTP serves them: the active list published after each evaluation, and the
/// on-disk history.
pub struct AlertsHttp {
    pub active: std::sync::RwLock<Arc<Vec<ActiveAlert>>>,
    pub history: Arc<AlertHistory>,
}

impl http::AlertsView for AlertsHttp {
    fn active(&self) -> serde_json::Value {
        let a = self.active.read().map(|a| a.clone()).unwrap_or_default();
        serde_json::to_value(&*a).unwrap_or_default()
    }

    fn history(
        &self,
        facility: Option<&str>,
        name: Option<&str>,
        since_ms: Option<i64>,
    ) -> serde_json::Value {
        let filter = HistoryFilter {
            facility: facility.map(str::to_string),
            name: name.map(str::to_string),
            since_ms,
            limit: Some(10_000),
        };
        match self.history.history(&filter) {
            Ok(h) => serde_json::to_value(h).unwrap_or_default(),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        }
    }
}

/// The alerting parts the ingest loop drives.
pub struct Alerting {
    pub engine: AlertEngine,
    pub history: Arc<AlertHistory>,
    pub delivery: AlertDelivery,
    pub metric: ActiveAlertMetric,
    pub http: Arc<AlertsHttp>,
}

impl Alerting {
    /// Records and sends what changed, and republishes the active list.
    fn flush(&mut self) {
        let changes = self.engine.drain_changes();
        if !changes.is_empty() {
            if let Err(e) = self.history.commit(&changes, &self.engine.export_state()) {
                tracing::error!("alert history: {e}");
            }
        }
        self.delivery.publish(&self.engine, &changes);
        let active = self.engine.active();
        self.metric.update(&active);
        if let Ok(mut a) = self.http.active.write() {
            *a = Arc::new(active);
        }
    }
}

/// Messages the ingest loop takes at once at most (one write to the log, one commit).
pub const BATCH: usize = 4096;

/// Hashes of recently taken messages, to recognise a broker's redelivery (DUP flag) of a message
/// already taken and durable, e.g. after a crash between the write-ahead log and the ack.
#[derive(Debug, Default)]
pub struct RecentMessages {
    order: VecDeque<u64>,
    set: HashSet<u64>,
}

impl RecentMessages {
    /// More than the messages taken but not yet acknowledged can ever be (see `commit::QUEUE`).
    pub const CAP: usize = 65_536;

    pub fn hash(topic: &str, payload: &[u8]) -> u64 {
        ((crc32fast::hash(topic.as_bytes()) as u64) << 32) | crc32fast::hash(payload) as u64
    }

    /// [`RecentMessages::hash`] of a message as taken (of a payload too large to keep: of its
    /// size), the same when it arrives and when it is taken again from the log.
    pub fn hash_body(topic: &str, body: Body<'_>) -> u64 {
        match body {
            Body::Payload(p) => Self::hash(topic, p),
            Body::TooLarge(n) => Self::hash(topic, format!("\0too_large {n}").as_bytes()),
        }
    }

    pub fn from_list(list: &[u64]) -> Self {
        let mut r = RecentMessages::default();
        for &h in list {
            r.insert(h);
        }
        r
    }

    pub fn insert(&mut self, h: u64) {
        if self.set.insert(h) {
            self.order.push_back(h);
            if self.order.len() > Self::CAP {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    pub fn contains(&self, h: u64) -> bool {
        self.set.contains(&h)
    }

    pub fn list(&self) -> Vec<u64> {
        self.order.iter().copied().collect()
    }
}

/// The service's parts that the ingest loop drives.
pub struct Service {
    pub cfg: Config,
    pub engine: Arc<Mutex<Engine>>,
    pub shared: Arc<Shared>,
    pub state_dir: PathBuf,
    /// Wall-clock time each meter was last heard from (MeterStale).
    pub last_heard: HashMap<MeterRef, i64>,
    pub alerting: Alerting,
    pub wal: Wal,
    pub recent: RecentMessages,
    /// The InfluxDB sink, when `[influxdb]` is configured, and what it needs.
    pub influx: Option<InfluxHandle>,
    /// Lines for the sink, pushed once per batch.
    pending_lines: Vec<String>,
    /// Role tag of each meter (`total+renewable` for two roles), by facility and meter.
    role_tags: Vec<Vec<String>>,
    /// The event-time steps that get window points.
    window_grid: WindowGrid,
    log: RateLimitedLog,
    prefix: String,
    /// Native topics and `[[source]]` topics (CONTRACT §12).
    routes: Routes,
    /// `dcpue_source_unmapped_total{source}`: live since start, not durable (it counts values
    /// ignored, not readings).
    unmapped: prometheus::IntCounterVec,
    /// MQTT messages taken since start, and when the last were (live, for `/metrics`; not
    /// from the snapshot).
    taken: prometheus::IntCounter,
    taken_at: prometheus::Gauge,
    /// The write-ahead log's fsyncs (group commits).
    fsyncs: prometheus::IntCounter,
}

impl Service {
    /// Takes one MQTT message: every reading judged and counted; rejections logged, accepted
    /// readings queued for the sink. Returns readings accepted.
    pub fn take_message(
        &mut self,
        engine: &mut Engine,
        topic: &str,
        body: Body<'_>,
        now: i64,
    ) -> u64 {
        let mut accepted = 0;
        let (log, last_heard, lines, role_tags) = (
            &mut self.log,
            &mut self.last_heard,
            &mut self.pending_lines,
            &self.role_tags,
        );
        let sink = self.influx.is_some();
        let cfg = &self.cfg;
        let unmapped = &self.unmapped;
        take_routed(engine, &self.routes, topic, body, now, &mut |t| match t {
            Taken::Meter(m) => {
                last_heard.insert(m, now);
            }
            Taken::Accepted(m, reading) => {
                accepted += 1;
                if sink {
                    let (f, mc) = (
                        &cfg.facilities[m.facility],
                        &cfg.facilities[m.facility].meters[m.meter],
                    );
                    if let Some(l) =
                        reading_line(f.id(), mc.id(), &role_tags[m.facility][m.meter], reading)
                    {
                        lines.push(l);
                    }
                }
            }
            Taken::Rejected(Reason::Duplicate, _) => {}
            Taken::Rejected(reason, msg) => log.warn(reason.as_str(), topic, &msg),
            Taken::Unmapped { source, count } => {
                unmapped.with_label_values(&[source]).inc_by(count);
            }
        });
        accepted
    }

    /// One message as it arrives: a redelivery of a message already taken counts as a
    /// duplicate; anything else goes to the write-ahead log and the engine. A payload over the
    /// 64 KiB limit is counted `too_large`: only its topic and size are logged.
    fn arrive(&mut self, engine: &mut Engine, msg: &Incoming) -> Result<(), store::StoreError> {
        let topic = msg.topic.as_str();
        let body = match msg.too_large {
            Some(n) => Body::TooLarge(n),
            None => Body::of(&msg.payload),
        };
        let h = RecentMessages::hash_body(topic, body);
        if msg.redelivered && self.recent.contains(h) {
            let facility = match self.routes.source(topic) {
                Some(s) => Some(s.facility.as_str()),
                None => parse_topic(&self.prefix, topic).map(|(f, _)| f),
            }
            .filter(|f| engine.facility_index(f).is_some());
            engine.count_rejected(facility, Reason::Duplicate, 1);
            return Ok(());
        }
        let now = now_ms();
        match body {
            Body::Payload(p) => self.wal.append(now, topic, p)?,
            Body::TooLarge(n) => self.wal.append_too_large(now, topic, n)?,
        };
        self.recent.insert(h);
        self.take_message(engine, topic, body, now);
        Ok(())
    }

    /// Writes a checkpoint of everything taken so far and starts a new write-ahead log segment
    /// (after the one being written in the background, if any).
    pub fn checkpoint(&mut self) -> Result<(), store::StoreError> {
        if let Err(err) = self.wal.finish_checkpoint() {
            tracing::error!("checkpoint failed: {err}");
        }
        let engine = self.engine.clone();
        let e = engine
            .lock()
            .map_err(|_| store::StoreError::Incompatible("engine lock poisoned".into()))?;
        self.wal.sync()?;
        let mark = IngestMark {
            wal_seq: self.wal.last_seq(),
            recent_messages: self.recent.list(),
            last_heard: heard_list(&self.cfg, &self.last_heard),
        };
        // The log segment up to the mark is closed and kept with `engine.state.prev`.
        self.wal.rotate()?;
        store::checkpoint(&self.state_dir, &e, &mark)?;
        drop(e);
        self.wal.checkpointed_at(mark.wal_seq)
    }
}

/// When each meter was last heard from, by id, for the checkpoint.
fn heard_list(cfg: &Config, last_heard: &HashMap<MeterRef, i64>) -> Vec<store::MeterHeard> {
    let mut out: Vec<store::MeterHeard> = last_heard
        .iter()
        .filter_map(|(m, &wall_ms)| {
            let f = cfg.facilities.get(m.facility)?;
            Some(store::MeterHeard {
                facility: f.id().to_string(),
                meter: f.meters.get(m.meter)?.id().to_string(),
                wall_ms,
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.facility, &a.meter).cmp(&(&b.facility, &b.meter)));
    out
}

/// [`heard_list`] read back against `cfg` (meters no longer configured are left out).
fn heard_map(cfg: &Config, list: &[store::MeterHeard]) -> HashMap<MeterRef, i64> {
    list.iter()
        .filter_map(|h| {
            let facility = cfg.facilities.iter().position(|f| f.id() == h.facility)?;
            let meter = cfg.facilities[facility]
                .meters
                .iter()
                .position(|m| m.id() == h.meter)?;
            Some((MeterRef { facility, meter }, h.wall_ms))
        })
        .collect()
}

/// Runs `dcpue serve` until `shutdown` is cancelled. `ready_tx` receives the HTTP address once
/// listening (tests and `demo` use it).
pub async fn serve(
    cfg: Config,
    shutdown: CancellationToken,
    ready_tx: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
) -> Result<(), AppError> {
    // What `check-config` checks too: a config it passes starts.
    cfg.check_start()?;
    let auth_failures = http::auth::failures_counter();
    let web =
        http::webconfig::load(&cfg.http, auth_failures.clone()).map_err(http::HttpError::from)?;
    if let Some(w) = http::webconfig::exposure_warning(&cfg.http.listen, &web) {
        tracing::warn!("{w}");
    }
    let nofile = http::server::raise_nofile_limit();
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
    // Held until serve returns: no other writer (`import`) touches the directory meanwhile.
    let _dir_lock = store::lock::lock_dir(&cfg.storage.dir, "serve")?;
    let store::Opened {
        engine,
        mark,
        wal,
        replay,
        fell_back,
    } = store::open(&cfg)?;
    let engine = Arc::new(Mutex::new(engine));
    let status = Arc::new(MqttStatus::new());
    let first = engine
        .lock()
        .map_err(|_| AppError::Other("engine lock".into()))?
        .snapshot(now_ms());
    let shared = Arc::new(Shared::new(engine.clone(), first, status.clone()));
    let _ = shared.web.set(web);
    shared
        .registry
        .register(Box::new(auth_failures))
        .map_err(|e| AppError::Other(e.to_string()))?;

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
        Some(ic) => Some(
            InfluxHandle::start(
                ic,
                sinks::influx::spool_dir(&cfg.storage.dir),
                &shared.registry,
            )
            .map_err(|e| AppError::Other(format!("influxdb: {e}")))?,
        ),
        None => None,
    };
    let role_tags = (0..cfg.facilities.len())
        .map(|fi| {
            (0..cfg.facilities[fi].meters.len())
                .map(|mi| {
                    role_tag(
                        &cfg,
                        MeterRef {
                            facility: fi,
                            meter: mi,
                        },
                    )
                })
                .collect()
        })
        .collect();
    let window_grid = WindowGrid::new(
        cfg.influxdb
            .as_ref()
            .map_or(crate::duration::Span::MINUTE, |i| i.window_every),
    );
    let taken = prometheus::IntCounter::new(
        "dcpue_ingest_messages_total",
        "MQTT messages the ingest loop has taken (logged and judged by the engine) since start; \
         counted live, not from the published snapshot.",
    )
    .map_err(|e| AppError::Other(e.to_string()))?;
    let taken_at = prometheus::Gauge::new(
        "dcpue_ingest_last_taken_timestamp_seconds",
        "Wall clock (Unix seconds) at which the ingest loop last took MQTT messages.",
    )
    .map_err(|e| AppError::Other(e.to_string()))?;
    let fsyncs = prometheus::IntCounter::new(
        "dcpue_wal_fsyncs_total",
        "fsyncs of the write-ahead log by the group commit (each covers every message taken \
         since the one before).",
    )
    .map_err(|e| AppError::Other(e.to_string()))?;
    let unmapped = prometheus::IntCounterVec::new(
        prometheus::Opts::new(
            "dcpue_source_unmapped_total",
            "Values of a gateway [[source]] that no [[source.map]] entry names, ignored (CONTRACT \
             §12); counted since start.",
        ),
        &["source"],
    )
    .map_err(|e| AppError::Other(e.to_string()))?;
    for s in &cfg.sources {
        unmapped.with_label_values(&[s.name.as_str()]);
    }
    for c in [
        Box::new(taken.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(unmapped.clone()),
        Box::new(taken_at.clone()),
        Box::new(fsyncs.clone()),
    ] {
        shared
            .registry
            .register(c)
            .map_err(|e| AppError::Other(e.to_string()))?;
    }
    // MeterStale goes on from when each meter was last heard, not from this start.
    let last_heard = heard_map(&cfg, &mark.last_heard);
    let mut svc = Service {
        taken,
        taken_at,
        fsyncs,
        influx,
        pending_lines: Vec::new(),
        role_tags,
        window_grid,
        prefix: cfg.mqtt.topic_prefix.clone(),
        routes: Routes::new(&cfg),
        unmapped,
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
        let engine = svc.engine.clone();
        {
            let Ok(mut e) = engine.lock() else {
                return Err(AppError::Other("engine lock".into()));
            };
            for r in &replay {
                let body = Body::of_record(r);
                svc.recent.insert(RecentMessages::hash_body(&r.topic, body));
                svc.take_message(&mut e, &r.topic, body, r.wall_ms);
            }
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
    ingest_loop(&mut svc, rx, status, shutdown.clone()).await;
    let _ = mqtt_task.await;
    let saved = svc
        .checkpoint()
        .and_then(|()| store::stopped_cleanly(&svc.state_dir, svc.wal.last_seq()));
    svc.alerting.flush();
    flush_lines(&mut svc);
    let _ = http_task.await;
    let Service {
        alerting, influx, ..
    } = svc;
    alerting.delivery.shutdown(Duration::from_secs(5)).await;
    if let Some(i) = influx {
        i.shutdown().await;
    }
    saved?;
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
    let mut last_wall_eval = Instant::now();
    let mut batch: Vec<Incoming> = Vec::with_capacity(BATCH);
    let (commit_tx, committer) = commit::spawn(shutdown.clone(), svc.fsyncs.clone());
    // Taken (in the engine and the log's buffer) but not yet handed to the committer: it is
    // handed on as soon as the committer has room, and gathers everything taken until then.
    let mut open = OpenCommit::default();
    // The log could not be written: nothing more is acknowledged.
    let mut broken = false;
    // Messages trickle in: wait a moment before the next read (see `ingest::LINGER`).
    let mut linger = false;
    loop {
        if std::mem::take(&mut linger) && !ingest::linger(&shutdown).await {
            break;
        }
        let waiting_since = Instant::now();
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            permit = commit_tx.reserve(), if !open.is_empty() => {
                let Ok(permit) = permit else { break };
                if let Err(e) = hand_on(svc, &mut open, permit) {
                    not_durable(&e, &shutdown);
                    broken = true;
                    break;
                }
            }
            n = rx.recv_many(&mut batch, BATCH - open.messages), if open.messages < BATCH => {
                if n == 0 {
                    break;
                }
                linger = n < BATCH / 16 && ingest::trickling(waiting_since.elapsed());
            }
            _ = tick.tick() => {}
        }
        svc.shared.set_ready(status.subscribed());
        if !batch.is_empty() {
            if let Err(e) = take_batch(svc, &batch) {
                not_durable(&e, &shutdown);
                broken = true;
                break;
            }
            flush_lines(svc);
            svc.taken.inc_by(batch.len() as u64);
            svc.taken_at.set(now_ms() as f64 / 1000.0);
            open.messages += batch.len();
            open.acks.extend(batch.drain(..).filter_map(|m| m.ack));
            if let Ok(permit) = commit_tx.try_reserve() {
                if let Err(e) = hand_on(svc, &mut open, permit) {
                    not_durable(&e, &shutdown);
                    broken = true;
                    break;
                }
            }
        }
        if last_publish.elapsed() >= Duration::from_millis(500)
            || rx.is_empty() && last_publish.elapsed() >= Duration::from_millis(200)
        {
            publish(svc);
            last_publish = Instant::now();
        }
        if last_wall_eval.elapsed() >= Duration::from_secs(5) {
            wall_clock_alerts(svc);
            last_wall_eval = Instant::now();
        }
        // Checkpoints are written by another thread; here only the state is copied.
        if let Some(Err(err)) = svc.wal.poll_checkpoint() {
            tracing::error!("checkpoint failed: {err}");
        }
        if !svc.wal.checkpoint_pending()
            && (svc.wal.bytes() > 64 << 20
                || svc.wal.has_unsaved()
                    && last_checkpoint.elapsed() >= svc.cfg.storage.checkpoint_every.as_std())
        {
            let engine = svc.engine.clone();
            let started = match engine.lock() {
                Ok(e) => {
                    let mark = IngestMark {
                        wal_seq: svc.wal.last_seq(),
                        recent_messages: svc.recent.list(),
                        last_heard: heard_list(&svc.cfg, &svc.last_heard),
                    };
                    store::checkpoint_in_background(&svc.state_dir, &e, mark, &mut svc.wal)
                }
                Err(_) => Err(store::StoreError::Incompatible(
                    "engine lock poisoned".into(),
                )),
            };
            if let Err(err) = started {
                tracing::error!("checkpoint failed: {err}");
            }
            last_checkpoint = Instant::now();
        }
    }
    publish(svc);
    // Every batch taken is acknowledged (once durable) before the collector lets go.
    if !open.is_empty() && !broken {
        if let Ok(permit) = commit_tx.reserve().await {
            if let Err(e) = hand_on(svc, &mut open, permit) {
                not_durable(&e, &shutdown);
            }
        }
    }
    drop(commit_tx);
    let _ = committer.await;
}

/// Messages taken since the last commit was handed to the committer.
#[derive(Default)]
struct OpenCommit {
    messages: usize,
    acks: Vec<AckToken>,
}

impl OpenCommit {
    fn is_empty(&self) -> bool {
        self.messages == 0
    }
}

/// The log cannot be written: what was taken stays unacknowledged (the broker redelivers it)
/// and the service stops rather than lose it.
fn not_durable(e: &store::StoreError, shutdown: &CancellationToken) {
    tracing::error!("cannot make ingest durable, stopping without acknowledging: {e}");
    shutdown.cancel();
}

/// Hands the open commit to the committer: the log's buffer written to the file (the committer
/// fsyncs it), the sink's spool asked for.
fn hand_on(
    svc: &mut Service,
    open: &mut OpenCommit,
    permit: mpsc::Permit<'_, Commit>,
) -> Result<(), store::StoreError> {
    let wal = svc.wal.flushed()?;
    let sink = svc.influx.as_ref().map(|i| {
        let s = i.sync_later();
        Box::pin(async move { s.await.map_err(|e| e.to_string()) }) as commit::SinkSync
    });
    permit.send(Commit {
        wal,
        sink,
        acks: std::mem::take(&mut open.acks),
    });
    open.messages = 0;
    Ok(())
}

fn flush_lines(svc: &mut Service) {
    if let Some(i) = &svc.influx {
        if !svc.pending_lines.is_empty() {
            i.push(std::mem::take(&mut svc.pending_lines));
        }
    }
}

/// Feeds a batch of messages to the engine and appends it to the log.
fn take_batch(svc: &mut Service, batch: &[Incoming]) -> Result<(), store::StoreError> {
    let engine = svc.engine.clone();
    {
        let mut e = engine
            .lock()
            .map_err(|_| store::StoreError::Incompatible("engine lock poisoned".into()))?;
        for msg in batch {
            svc.arrive(&mut e, msg)?;
        }
    }
    Ok(())
}

/// Advances event time (each step to the alert rules) and publishes a snapshot.
fn publish(svc: &mut Service) {
    let Ok(mut e) = svc.engine.lock() else { return };
    let now = now_ms();
    let alerts = &mut svc.alerting.engine;
    let influx_on = svc.influx.is_some();
    let lines = &mut svc.pending_lines;
    let grid = svc.window_grid;
    let cfg = &svc.cfg;
    e.advance(&mut |step| {
        alerts.on_step(&step, now);
        // Window points at the watermark's steps on the window_every grid of event time.
        if influx_on && grid.on_grid(step.step_ms) {
            let tier = cfg.facilities[step.facility].tier.as_str();
            for (w, v) in &step.windows.0 {
                if let Some(l) = window_line(step.facility_id, tier, w, step.step_ms, v) {
                    lines.push(l);
                }
            }
        }
    });
    let snap = e.snapshot(now);
    drop(e);
    svc.shared.publish(snap);
    svc.alerting.flush();
    flush_lines(svc);
}

/// MeterStale: wall-clock silence of each meter.
fn wall_clock_alerts(svc: &mut Service) {
    let cfg = &svc.cfg;
    let last = &svc.last_heard;
    let seen = cfg.facilities.iter().enumerate().flat_map(|(fi, f)| {
        f.meters.iter().enumerate().map(move |(mi, m)| MeterSeen {
            facility: f.id(),
            meter: m.id(),
            last_seen_wall_ms: last
                .get(&MeterRef {
                    facility: fi,
                    meter: mi,
                })
                .copied(),
        })
    });
    svc.alerting.engine.on_wall_clock(now_ms(), seen);
    svc.alerting.flush();
}
