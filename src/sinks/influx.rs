//! The InfluxDB sink of CONTRACT §8: line-protocol points to any server of the InfluxDB v2 write
//! API, with nothing lost while it is unreachable.
//!
//! Design: [`InfluxHandle::push`] hands lines to the spool thread through an unbounded channel
//! (never blocks ingest). That thread appends them to the on-disk [`Spool`] (buffered; fsync'd
//! on [`InfluxHandle::sync`] and at least every 100 ms), so a crash loses nothing that `sync`
//! confirmed. The writer task reads batches from the spool in order (by size `batch_size` and
//! time `flush_every`), writes them gzip-compressed with precision=ms, and commits the spool
//! position only after the server answered 204: at least once, and no point sent twice unless
//! the process dies between a write and its commit. Failures are retried with capped exponential
//! backoff (200 ms → 30 s). A batch rejected as bad data (400, 413, 422) is bisected; a single
//! point the server still rejects is logged, counted and dropped, so it cannot block the queue.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use tokio::sync::{oneshot, Notify};
use tokio_util::sync::CancellationToken;

use super::spool::{Spool, SpoolError};
use crate::config::InfluxConfig;

/// Environment variable read for the token when no `token_file` is configured.
pub const TOKEN_ENV: &str = "DCPUE_INFLUX_TOKEN";

const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const SYNC_EVERY: Duration = Duration::from_millis(100);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("influxdb token_file {}: {source}", path.display())]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("influxdb token_file {} is empty", path.display())]
    EmptyToken { path: PathBuf },
    #[error("influxdb url {url:?}: {msg}")]
    Url { url: String, msg: String },
    #[error("influxdb client: {0}")]
    Client(String),
    #[error("influxdb spool: {0}")]
    Spool(#[from] SpoolError),
    #[error("influxdb spool: {0}")]
    SpoolFailed(#[from] SpoolFailure),
    #[error("influxdb spool: cannot start the spool thread: {0}")]
    SpoolThread(std::io::Error),
    #[error("influxdb sink metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("the influxdb sink has stopped")]
    Stopped,
    #[error("the influxdb sink must be started inside a Tokio runtime")]
    NoRuntime,
}

#[derive(Clone)]
struct Metrics {
    written: IntCounter,
    errors: IntCounterVec,
    queue: IntGauge,
    dropped: IntCounter,
    corrupt: IntCounter,
}

impl Metrics {
    fn register(registry: &Registry) -> Result<Metrics, SinkError> {
        let m = Metrics {
            written: IntCounter::with_opts(Opts::new(
                "dcpue_influx_points_written_total",
                "Points the InfluxDB server accepted.",
            ))?,
            errors: IntCounterVec::new(
                Opts::new(
                    "dcpue_influx_write_errors_total",
                    "Failed InfluxDB write requests, by kind.",
                ),
                &["kind"],
            )?,
            queue: IntGauge::with_opts(Opts::new(
                "dcpue_influx_queue_points",
                "Points waiting to be written to InfluxDB (spooled on disk).",
            ))?,
            dropped: IntCounter::with_opts(Opts::new(
                "dcpue_influx_points_dropped_total",
                "Points the InfluxDB server rejected as invalid (400/413/422), logged and dropped.",
            ))?,
            corrupt: IntCounter::with_opts(Opts::new(
                "dcpue_influx_spool_corrupt_records_total",
                "Corrupt or torn records found in the on-disk spool and skipped.",
            ))?,
        };
        for kind in ["connect", "http_4xx", "http_5xx", "other"] {
            m.errors.with_label_values(&[kind]);
        }
        registry.register(Box::new(m.written.clone()))?;
        registry.register(Box::new(m.errors.clone()))?;
        registry.register(Box::new(m.queue.clone()))?;
        registry.register(Box::new(m.dropped.clone()))?;
        registry.register(Box::new(m.corrupt.clone()))?;
        Ok(m)
    }
}

/// Why the spool thread could not do what it was asked (cloned to every waiter of a sync).
#[derive(Debug, Clone, thiserror::Error)]
pub enum SpoolFailure {
    #[error("{0}")]
    Spool(Arc<SpoolError>),
    #[error("points could not be spooled (see the log)")]
    AppendFailed,
    #[error("spool stopped")]
    Stopped,
}

impl From<SpoolError> for SpoolFailure {
    fn from(e: SpoolError) -> SpoolFailure {
        SpoolFailure::Spool(Arc::new(e))
    }
}

type Reply<T> = oneshot::Sender<Result<T, SpoolFailure>>;

enum Cmd {
    Append(Vec<String>),
    Sync(Reply<()>),
    Peek(usize, Reply<Vec<String>>),
    Commit(usize, Reply<()>),
}

/// State shared by the handle, the spool thread and the writer.
struct Shared {
    /// Lines in the spool not yet written.
    pending: AtomicU64,
    /// Lines pushed and not yet appended to the spool (in the channel).
    in_channel: AtomicU64,
    /// Woken after lines were appended.
    appended: Notify,
    /// Set once the spool thread has gone (push then only logs).
    dead: AtomicBool,
}

/// The sink's running parts; see the module docs.
pub struct InfluxSink;

/// The running sink. Dropping it without [`InfluxHandle::shutdown`] stops the writer after its
/// current request and syncs the spool (what is spooled is written by the next start).
pub struct InfluxHandle {
    tx: std_mpsc::Sender<Cmd>,
    shared: Arc<Shared>,
    drain: CancellationToken,
    cancel: CancellationToken,
    writer: Option<tokio::task::JoinHandle<()>>,
    spool_thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for InfluxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InfluxHandle")
            .field("pending", &self.shared.pending.load(Ordering::Relaxed))
            .finish()
    }
}

/// Reads the token: `token_file` if configured (trimmed; a missing or empty file is an error),
/// else the environment variable [`TOKEN_ENV`], else none (servers without authentication).
pub fn read_token(cfg: &InfluxConfig) -> Result<Option<String>, SinkError> {
    if let Some(path) = &cfg.token_file {
        let text = std::fs::read_to_string(path).map_err(|source| SinkError::TokenFile {
            path: path.clone(),
            source,
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(SinkError::EmptyToken { path: path.clone() });
        }
        return Ok(Some(token.to_string()));
    }
    Ok(std::env::var(TOKEN_ENV)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty()))
}

/// What `start` checks before it starts, without connecting or opening the spool: the token
/// (file) and the url. `dcpue check-config` runs it.
pub fn check(cfg: &InfluxConfig) -> Result<(), SinkError> {
    let token = read_token(cfg)?;
    build_client(cfg, token).map(|_| ())
}

/// The server url: `http://host[:port]` or `https://…` (the rule lives with the config).
pub fn check_url(url: &str) -> Result<(), SinkError> {
    InfluxConfig::check_url(url).map_err(|e| SinkError::Url {
        url: e.url,
        msg: e.msg,
    })
}

fn build_client(cfg: &InfluxConfig, token: Option<String>) -> Result<influxdb2::Client, SinkError> {
    check_url(&cfg.url)?;
    influxdb2::ClientBuilder::new(cfg.url.clone(), cfg.org.clone(), token.unwrap_or_default())
        .gzip(true)
        .build()
        .map_err(|e| SinkError::Client(e.to_string()))
}

impl InfluxSink {
    /// Same as [`InfluxHandle::start`].
    pub fn start(
        cfg: &InfluxConfig,
        spool_dir: PathBuf,
        registry: &Registry,
    ) -> Result<InfluxHandle, SinkError> {
        InfluxHandle::start(cfg, spool_dir, registry)
    }
}

impl InfluxHandle {
    /// Opens the spool in `spool_dir` (what a previous run left there is written first), starts
    /// the spool thread and the writer task (must be called inside a Tokio runtime), and
    /// registers the sink's metrics on `registry`.
    pub fn start(
        cfg: &InfluxConfig,
        spool_dir: PathBuf,
        registry: &Registry,
    ) -> Result<InfluxHandle, SinkError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| SinkError::NoRuntime)?;
        let token = read_token(cfg)?;
        if token.is_none() {
            tracing::warn!(
                "influxdb: no token (token_file or {TOKEN_ENV}): writing without authentication"
            );
        }
        let client = build_client(cfg, token)?;
        let spool = Spool::open(&spool_dir)?;
        let metrics = Metrics::register(registry)?;
        if !spool.is_empty() {
            tracing::info!(points = spool.len(), dir = %spool_dir.display(), "influxdb: points spooled by a previous run will be written");
        }
        metrics
            .corrupt
            .inc_by(spool.corrupt_records() + spool.truncated_records());
        metrics.queue.set(spool.len() as i64);
        let shared = Arc::new(Shared {
            pending: AtomicU64::new(spool.len()),
            in_channel: AtomicU64::new(0),
            appended: Notify::new(),
            dead: AtomicBool::new(false),
        });
        let (tx, rx) = std_mpsc::channel();
        let spool_thread = {
            let shared = shared.clone();
            let metrics = metrics.clone();
            std::thread::Builder::new()
                .name("influx-spool".into())
                .spawn(move || spool_loop(spool, rx, shared, metrics))
                .map_err(SinkError::SpoolThread)?
        };
        let drain = CancellationToken::new();
        let cancel = CancellationToken::new();
        let writer = Writer {
            client,
            bucket: cfg.bucket.clone(),
            batch_size: cfg.batch_size.max(1),
            flush_every: cfg.flush_every.as_std(),
            tx: tx.clone(),
            shared: shared.clone(),
            metrics,
            drain: drain.clone(),
            cancel: cancel.clone(),
        };
        let writer = runtime.spawn(writer.run());
        Ok(InfluxHandle {
            tx,
            shared,
            drain,
            cancel,
            writer: Some(writer),
            spool_thread: Some(spool_thread),
        })
    }

    /// Queues lines for writing. Never blocks: the lines go to the spool thread.
    pub fn push(&self, lines: Vec<String>) {
        if lines.is_empty() {
            return;
        }
        let n = lines.len() as u64;
        self.shared.in_channel.fetch_add(n, Ordering::Relaxed);
        if self.tx.send(Cmd::Append(lines)).is_err()
            && !self.shared.dead.swap(true, Ordering::Relaxed)
        {
            tracing::error!("influxdb: the spool thread has stopped: points are no longer kept");
        }
    }

    /// Returns once every line pushed before this call is durable on disk (fsync'd): call it
    /// before acknowledging the messages the lines came from.
    pub async fn sync(&self) -> Result<(), SinkError> {
        self.sync_later().await
    }

    /// Like [`sync`](Self::sync), but asks now (so it covers exactly the lines pushed before this
    /// call) and lets the caller wait elsewhere: the future does not borrow the handle.
    pub fn sync_later(
        &self,
    ) -> impl std::future::Future<Output = Result<(), SinkError>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let sent = self.tx.send(Cmd::Sync(tx));
        async move {
            sent.map_err(|_| SinkError::Stopped)?;
            rx.await
                .map_err(|_| SinkError::Stopped)?
                .map_err(SinkError::from)
        }
    }

    /// Points waiting to be written (pushed and not yet spooled, or in the spool).
    pub fn queued(&self) -> u64 {
        self.shared.pending.load(Ordering::Relaxed) + self.shared.in_channel.load(Ordering::Relaxed)
    }

    /// Writes what it can within 10 s, then stops; what is left stays in the spool (durable) for
    /// the next start.
    pub async fn shutdown(self) {
        self.shutdown_within(SHUTDOWN_TIMEOUT).await
    }

    /// [`InfluxHandle::shutdown`] with a given time limit for the final writes.
    pub async fn shutdown_within(mut self, limit: Duration) {
        self.drain.cancel();
        if let Some(mut w) = self.writer.take() {
            if tokio::time::timeout(limit, &mut w).await.is_err() {
                self.cancel.cancel();
                let _ = w.await;
            }
        }
        self.cancel.cancel();
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Sync(tx)).is_ok() {
            if let Ok(Err(e)) = rx.await {
                tracing::error!("influxdb: spool sync at shutdown failed: {e}");
            }
        }
        let left = self.queued();
        if left > 0 {
            tracing::info!(
                points = left,
                "influxdb: points left in the spool for the next start"
            );
        }
        // Dropping `self` closes the channel; the spool thread syncs and exits.
        if let Some(t) = self.spool_thread.take() {
            drop(self);
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

impl Drop for InfluxHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn spool_loop(
    mut spool: Spool,
    rx: std_mpsc::Receiver<Cmd>,
    shared: Arc<Shared>,
    metrics: Metrics,
) {
    let mut last_sync = Instant::now();
    let mut corrupt_seen = spool.corrupt_records() + spool.truncated_records();
    let mut waiters: Vec<Reply<()>> = Vec::new();
    let mut append_failed = false;
    loop {
        let first = match rx.recv_timeout(SYNC_EVERY) {
            Ok(c) => Some(c),
            Err(std_mpsc::RecvTimeoutError::Timeout) => None,
            Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut appended = false;
        let mut next = first;
        let mut handled = 0;
        while let Some(cmd) = next {
            match cmd {
                Cmd::Append(lines) => {
                    let res = spool.append(&lines);
                    shared
                        .in_channel
                        .fetch_sub(lines.len() as u64, Ordering::Relaxed);
                    match res {
                        Ok(()) => appended = true,
                        Err(e) => {
                            tracing::error!(
                                points = lines.len(),
                                "influxdb: cannot spool points: {e}"
                            );
                            append_failed = true;
                        }
                    }
                }
                Cmd::Sync(w) => waiters.push(w),
                Cmd::Peek(max, reply) => {
                    let _ = reply.send(spool.peek_batch(max).map_err(SpoolFailure::from));
                }
                Cmd::Commit(n, reply) => {
                    let _ = reply.send(spool.commit(n).map_err(SpoolFailure::from));
                }
            }
            handled += 1;
            next = if handled < 1024 {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if !waiters.is_empty() || (spool.needs_sync() && last_sync.elapsed() >= SYNC_EVERY) {
            let res = spool.sync().map_err(SpoolFailure::from);
            if let Err(e) = &res {
                tracing::error!("influxdb: spool fsync failed: {e}");
            }
            let res = match res {
                Ok(()) if append_failed => Err(SpoolFailure::AppendFailed),
                r => r,
            };
            append_failed = false;
            for w in waiters.drain(..) {
                let _ = w.send(res.clone());
            }
            last_sync = Instant::now();
        }
        shared.pending.store(spool.len(), Ordering::Relaxed);
        let queued = spool.len() + shared.in_channel.load(Ordering::Relaxed);
        metrics.queue.set(queued as i64);
        let corrupt = spool.corrupt_records() + spool.truncated_records();
        if corrupt > corrupt_seen {
            metrics.corrupt.inc_by(corrupt - corrupt_seen);
            corrupt_seen = corrupt;
        }
        if appended {
            shared.appended.notify_one();
        }
    }
    if let Err(e) = spool.sync() {
        tracing::error!("influxdb: spool fsync failed: {e}");
    }
    shared.dead.store(true, Ordering::Relaxed);
}

/// A pre-formatted line, written as is (with its newline) into the request body.
struct RawLine(String);

impl influxdb2::models::WriteDataPoint for RawLine {
    fn write_data_point_to<W: std::io::Write>(&self, mut w: W) -> std::io::Result<()> {
        w.write_all(self.0.as_bytes())?;
        w.write_all(b"\n")
    }
}

enum Outcome {
    Written,
    /// The server will never take these points as they are (400, 413, 422).
    BadData(String),
    /// Worth retrying: unreachable, 5xx, 429, 401/403/404 (a config fix on the server side).
    Retry(String),
}

struct Writer {
    client: influxdb2::Client,
    bucket: String,
    batch_size: usize,
    flush_every: Duration,
    tx: std_mpsc::Sender<Cmd>,
    shared: Arc<Shared>,
    metrics: Metrics,
    drain: CancellationToken,
    cancel: CancellationToken,
}

impl Writer {
    async fn peek(&self, max: usize) -> Result<Vec<String>, SpoolFailure> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Peek(max, tx))
            .map_err(|_| SpoolFailure::Stopped)?;
        rx.await.map_err(|_| SpoolFailure::Stopped)?
    }

    async fn commit(&self, n: usize) -> Result<(), SpoolFailure> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Commit(n, tx))
            .map_err(|_| SpoolFailure::Stopped)?;
        rx.await.map_err(|_| SpoolFailure::Stopped)?
    }

    /// Sleeps `d` unless cancelled (false) or draining (returns early).
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = self.drain.cancelled() => !self.cancel.is_cancelled(),
            _ = self.cancel.cancelled() => false,
        }
    }

    async fn write(&self, batch: Vec<String>) -> Outcome {
        let points = futures::stream::iter(batch.into_iter().map(RawLine).collect::<Vec<_>>());
        let req = self.client.write_with_precision(
            &self.bucket,
            points,
            influxdb2::api::write::TimestampPrecision::Milliseconds,
        );
        let res = tokio::select! {
            r = tokio::time::timeout(REQUEST_TIMEOUT, req) => r,
            _ = self.cancel.cancelled() => return Outcome::Retry("cancelled".into()),
        };
        let (kind, outcome) = match res {
            Ok(Ok(())) => return Outcome::Written,
            Err(_) => (
                "connect",
                Outcome::Retry(format!("no answer within {REQUEST_TIMEOUT:?}")),
            ),
            Ok(Err(influxdb2::RequestError::Http { status, text })) => {
                let mut text = text;
                if text.len() > 300 {
                    let cut = (0..=300)
                        .rev()
                        .find(|&i| text.is_char_boundary(i))
                        .unwrap_or(0);
                    text.truncate(cut);
                }
                let msg = format!("HTTP {status}: {text}");
                let code = status.as_u16();
                let kind = if status.is_server_error() {
                    "http_5xx"
                } else if status.is_client_error() {
                    "http_4xx"
                } else {
                    "other"
                };
                if matches!(code, 400 | 413 | 422) {
                    (kind, Outcome::BadData(msg))
                } else {
                    (kind, Outcome::Retry(msg))
                }
            }
            Ok(Err(influxdb2::RequestError::ReqwestProcessing { source })) => {
                let kind = if source.is_connect() || source.is_timeout() {
                    "connect"
                } else {
                    "other"
                };
                (kind, Outcome::Retry(source.to_string()))
            }
            Ok(Err(e)) => ("other", Outcome::Retry(e.to_string())),
        };
        self.metrics.errors.with_label_values(&[kind]).inc();
        outcome
    }

    async fn run(self) {
        let mut backoff = BACKOFF_MIN;
        let mut limit = self.batch_size;
        let mut oldest: Option<Instant> = None;
        let mut failing = false;
        loop {
            if self.cancel.is_cancelled() {
                return;
            }
            let draining = self.drain.is_cancelled();
            let batch = match self.peek(limit).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!("influxdb: cannot read the spool: {e}");
                    if draining || !self.pause(Duration::from_secs(1)).await {
                        return;
                    }
                    continue;
                }
            };
            if batch.is_empty() {
                oldest = None;
                if draining {
                    return;
                }
                tokio::select! {
                    _ = self.shared.appended.notified() => {}
                    _ = self.drain.cancelled() => {}
                    _ = self.cancel.cancelled() => return,
                }
                continue;
            }
            let since = *oldest.get_or_insert_with(Instant::now);
            if batch.len() < limit && !draining && !failing {
                let due = since + self.flush_every;
                if Instant::now() < due {
                    // Wait for the batch to fill or for its time.
                    let mut full = false;
                    while !full && Instant::now() < due {
                        tokio::select! {
                            _ = tokio::time::sleep_until(due.into()) => {}
                            _ = self.shared.appended.notified() => {}
                            _ = self.drain.cancelled() => break,
                            _ = self.cancel.cancelled() => return,
                        }
                        full = self.shared.pending.load(Ordering::Relaxed) >= limit as u64;
                    }
                    continue;
                }
            }
            let n = batch.len();
            let first_line: String = batch
                .first()
                .map(|l| l.chars().take(300).collect())
                .unwrap_or_default();
            match self.write(batch).await {
                Outcome::Written => {
                    self.metrics.written.inc_by(n as u64);
                    if let Err(e) = self.commit(n).await {
                        tracing::error!("influxdb: cannot commit the spool position: {e}");
                    }
                    if failing {
                        tracing::info!("influxdb: writing again");
                    }
                    failing = false;
                    backoff = BACKOFF_MIN;
                    limit = (limit * 2).min(self.batch_size);
                    oldest = None;
                }
                Outcome::BadData(msg) if n > 1 => {
                    tracing::warn!(points = n, "influxdb: batch rejected ({msg}): splitting it");
                    limit = n / 2;
                }
                Outcome::BadData(msg) => {
                    tracing::error!(line = %first_line, "influxdb: point rejected ({msg}): dropped");
                    self.metrics.dropped.inc();
                    if let Err(e) = self.commit(1).await {
                        tracing::error!("influxdb: cannot commit the spool position: {e}");
                    }
                    limit = (limit * 2).min(self.batch_size);
                }
                Outcome::Retry(msg) => {
                    if self.cancel.is_cancelled() {
                        return;
                    }
                    tracing::warn!(points = n, retry_in = ?backoff, "influxdb: write failed: {msg}");
                    failing = true;
                    if draining || !self.pause(backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }
}

/// The spool directory under the storage dir.
pub fn spool_dir(storage_dir: &Path) -> PathBuf {
    storage_dir.join("influx-spool")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::Span;

    fn cfg(url: &str, token_file: Option<PathBuf>) -> InfluxConfig {
        InfluxConfig {
            url: url.into(),
            org: "jiangxi".into(),
            bucket: "dcpue".into(),
            token_file,
            window_every: Span::MINUTE,
            batch_size: 10,
            flush_every: Span(100),
            memory_points: 10,
        }
    }

    #[test]
    fn token_from_file_trimmed_missing_file_is_a_clear_error() {
        let t = tempfile::tempdir().expect("tmp");
        let f = t.path().join("influx.token");
        std::fs::write(&f, "  s3cr3t-token\n").expect("write");
        let tok = read_token(&cfg("http://127.0.0.1:8086", Some(f.clone()))).expect("token");
        assert_eq!(tok.as_deref(), Some("s3cr3t-token"));

        let missing = t.path().join("nope.token");
        let e = read_token(&cfg("http://127.0.0.1:8086", Some(missing))).expect_err("missing");
        let msg = e.to_string();
        assert!(
            msg.contains("token_file") && msg.contains("nope.token"),
            "{msg}"
        );

        std::fs::write(&f, " \n").expect("write");
        let e = read_token(&cfg("http://127.0.0.1:8086", Some(f))).expect_err("empty");
        assert!(e.to_string().contains("is empty"), "{e}");
    }

    #[test]
    fn bad_urls_are_errors_not_panics() {
        for url in ["", "127.0.0.1:8086", "ftp://x", "http://"] {
            let e = build_client(&cfg(url, None), None).expect_err(url);
            assert!(e.to_string().contains("influxdb url"), "{url}: {e}");
        }
        assert!(build_client(&cfg("https://influx.example:8086", None), Some("t".into())).is_ok());
    }

    #[test]
    fn client_debug_does_not_show_the_token() {
        let c = build_client(
            &cfg("http://127.0.0.1:8086", None),
            Some("s3cr3t-token".into()),
        )
        .expect("client");
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
