//! The MQTT collector: a thin driver around rumqttc (CONTRACT §3, §9).
//!
//! - subscribes to `<prefix>/+/+` (and each `[[source]]` topic, CONTRACT §12) at the configured
//!   QoS on every ConnAck (also when the broker kept the session), with a persistent session
//!   (`clean_session = false`) on the fixed client id;
//! - hands each message to the app over a bounded channel; when the app is slow it stops
//!   reading from the broker rather than dropping anything;
//! - acknowledges a QoS 1/2 message only when the app calls [`AckToken::ack`], i.e. after the
//!   engine took it, so a crash loses nothing the broker delivered (it is redelivered); the acks
//!   given meanwhile are written together, one flush (one system call) for all of them;
//! - reconnects with capped exponential backoff, logs (rate-limited) and never panics;
//! - reads packets up to [`MAX_PACKET`] (a 64 KiB payload under the longest topic). rumqttc
//!   refuses a larger packet before reading it and drops the connection; the broker would send it
//!   again on every connection, so the next connection (at once, no backoff) has room for that
//!   packet's size, once: it is read, its payload dropped at once, counted `too_large` by the app
//!   and acknowledged, and the connection after that is bounded again. A payload over 64 KiB
//!   never reaches the app's channel, the log or the engine: only its topic and size do;
//! - disconnects cleanly at shutdown (the broker keeps the session and the un-acked messages).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rumqttc::tokio_rustls::rustls;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, PubAck, PubRec,
    Publish, QoS, Request, Subscribe, SubscribeFilter, SubscribeReasonCode, TlsConfiguration,
    Transport,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{trickling, MAX_PAYLOAD};
use crate::config::MqttConfig;

/// The largest packet read in normal operation (remaining length): a PUBLISH of a 64 KiB payload
/// under the longest topic MQTT allows (2 + 65,535 bytes) with its packet id, rounded up.
pub const MAX_PACKET: usize = MAX_PAYLOAD + 65_536 + 16;
/// MQTT's largest remaining length.
const MQTT_MAX_REMAINING: usize = 268_435_455;
/// The keep-alive interval sent to the broker.
pub const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// The first and the longest pause between reconnect attempts.
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long writing and flushing acks may wait for the broker to read before the connection
/// counts as broken (rumqttc's own default for its flushes).
const ACK_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors that stop the collector from starting (bad url, unreadable files). Connection
/// errors after start are retried, never returned.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("mqtt url {url:?}: {why}")]
    Url { url: String, why: String },
    #[error("mqtt {what} {path}: {source}")]
    File {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("mqtt config: {0}")]
    Config(String),
    #[error("mqtt TLS: {0}")]
    Tls(String),
}

/// The collector's state as /metrics and /readyz see it. Shared, lock-free.
#[derive(Debug, Default)]
pub struct MqttStatus {
    connected: AtomicBool,
    subscribed: AtomicBool,
    /// Wall clock (epoch ms) of the newest message; 0 = none yet.
    last_message_wall_ms: AtomicI64,
    messages: AtomicU64,
    connects: AtomicU64,
    disconnects: AtomicU64,
    /// Connection generation: bumped when a connection is lost, so an [`AckToken`] from an
    /// earlier connection is not sent on a later one (the broker redelivers that message).
    epoch: AtomicU64,
}

impl MqttStatus {
    pub fn new() -> MqttStatus {
        MqttStatus::default()
    }
    /// Connected to the broker (ConnAck received, connection not lost since).
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
    /// The broker granted the subscription on the current connection (readiness).
    pub fn subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed)
    }
    /// Wall clock (epoch ms) at which the newest message arrived, if any.
    pub fn last_message_wall_ms(&self) -> Option<i64> {
        match self.last_message_wall_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(ms),
        }
    }
    /// Messages received (redeliveries included).
    pub fn messages_received(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }
    /// Successful connections (ConnAcks) since start.
    pub fn connects(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }
    /// Connections lost or failed attempts since start.
    pub fn disconnects(&self) -> u64 {
        self.disconnects.load(Ordering::Relaxed)
    }
    fn set_down(&self) {
        self.connected.store(false, Ordering::Relaxed);
        self.subscribed.store(false, Ordering::Relaxed);
    }
}

/// One message from the broker.
#[derive(Debug)]
pub struct Incoming {
    pub topic: String,
    pub payload: Bytes,
    /// For QoS 1/2: acknowledge only after the engine took the message (every reading of it
    /// judged, rejections included); `None` for QoS 0.
    pub ack: Option<AckToken>,
    /// The broker's DUP flag: this may be a redelivery of a message sent before.
    pub redelivered: bool,
    /// A payload over the 64 KiB limit: its size (`payload` is then empty: its bytes are
    /// dropped as soon as it is read, never queued).
    pub too_large: Option<usize>,
}

/// The right to acknowledge one message to the broker. Acks go out in the order they are
/// given; give them in the order the messages arrived. Dropping it unacked leaves the
/// message with the broker, which redelivers it after the next reconnect.
#[derive(Debug)]
pub struct AckToken {
    queue: Arc<AckQueue>,
    qos: QoS,
    pkid: u16,
    epoch: u64,
}

impl AckToken {
    /// Acknowledges the message; never blocks (see [`try_ack`](Self::try_ack)).
    pub async fn ack(self) -> bool {
        self.try_ack()
    }
    /// Acknowledges the message without waiting. Returns false when the connection it came on
    /// is gone (the broker will redeliver it) or the collector stopped.
    pub fn try_ack(self) -> bool {
        let queue = self.queue.clone();
        queue.push(std::iter::once(self)) == 1
    }
    /// Acknowledges messages in the given order, waking the collector once for all of them
    /// (it writes them to the broker together, one flush). Returns how many were taken (the
    /// others came on a lost connection and will be redelivered).
    pub fn ack_all(tokens: Vec<AckToken>) -> usize {
        match tokens.first() {
            Some(t) => t.queue.clone().push(tokens.into_iter()),
            None => 0,
        }
    }
    /// The packet id of the message (for logs).
    pub fn pkid(&self) -> u16 {
        self.pkid
    }
}

/// Acks the app gave, waiting for the collector, which writes all of them into the connection
/// and flushes once (rumqttc's request queue would write and flush each ack by itself: one
/// system call per message). An ack never blocks the app: the app waiting on the collector
/// while the collector waits on the app (its channel full) would be a deadlock.
#[derive(Debug)]
struct AckQueue {
    status: Arc<MqttStatus>,
    /// (connection epoch, qos, packet id), in the order given.
    waiting: Mutex<Vec<(u64, QoS, u16)>>,
    /// Wakes the collector when acks are waiting.
    ready: tokio::sync::Notify,
    stopped: AtomicBool,
}

impl AckQueue {
    /// Queues the tokens of the current connection; returns how many.
    fn push(&self, tokens: impl Iterator<Item = AckToken>) -> usize {
        if self.stopped.load(Ordering::Acquire) {
            return 0;
        }
        let epoch = self.status.epoch.load(Ordering::Acquire);
        let mut n = 0;
        {
            let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            for t in tokens {
                if t.epoch == epoch {
                    w.push((t.epoch, t.qos, t.pkid));
                    n += 1;
                }
            }
        }
        if n > 0 {
            self.ready.notify_one();
        }
        n
    }

    /// Moves the waiting acks into `out` (emptied first).
    fn take(&self, out: &mut Vec<(u64, QoS, u16)>) {
        out.clear();
        let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::swap(&mut *w, out);
    }
}

/// The subscription filter for `prefix`: `<prefix>/+/+`.
pub fn topic_filter(prefix: &str) -> String {
    format!("{prefix}/+/+")
}

/// Starts the collector on the current tokio runtime. Errors only for what cannot work at all
/// (bad url, unreadable password/certificate files); the broker being down is retried.
pub fn spawn(
    cfg: &MqttConfig,
    status: Arc<MqttStatus>,
    tx: mpsc::Sender<Incoming>,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, MqttError> {
    spawn_filters(
        cfg,
        vec![topic_filter(&cfg.topic_prefix)],
        status,
        tx,
        shutdown,
    )
}

/// [`spawn`] with the filters to subscribe to (the native one and each `[[source]]`'s, CONTRACT
/// §12): all at the same QoS, in the same persistent session, in one SUBSCRIBE.
pub fn spawn_filters(
    cfg: &MqttConfig,
    filters: Vec<String>,
    status: Arc<MqttStatus>,
    tx: mpsc::Sender<Incoming>,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, MqttError> {
    let (opts, qos) = prepare(cfg)?;
    // rumqttc's request queue carries only the DISCONNECT at shutdown: acks are written by the
    // driver itself (see `AckQueue`), the subscription goes ahead of the queue.
    let (client, eventloop) = AsyncClient::new(opts, 16);
    let acks = Arc::new(AckQueue {
        status: status.clone(),
        waiting: Mutex::new(Vec::new()),
        ready: tokio::sync::Notify::new(),
        stopped: AtomicBool::new(false),
    });
    let driver = Driver {
        client,
        eventloop,
        filter: filters.join(" "),
        filters,
        qos,
        status,
        acks,
        ack_buf: Vec::new(),
        ack_error: None,
        tx,
        shutdown,
    };
    Ok(tokio::spawn(driver.run()))
}

/// What `spawn` checks before it starts, without connecting: the url, the client id, the
/// password and TLS files (read and parsed). `dcpue check-config` runs it.
pub fn check(cfg: &MqttConfig) -> Result<(), MqttError> {
    prepare(cfg).map(|_| ())
}

fn prepare(cfg: &MqttConfig) -> Result<(MqttOptions, QoS), MqttError> {
    let opts = options(cfg)?;
    let qos = match cfg.qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        2 => QoS::ExactlyOnce,
        q => return Err(MqttError::Config(format!("qos {q} must be 0, 1 or 2"))),
    };
    Ok((opts, qos))
}

/// The rumqttc options for `cfg`: persistent session, manual acks, large packets, TLS.
fn options(cfg: &MqttConfig) -> Result<MqttOptions, MqttError> {
    let (tls, host, port) = parse_url(&cfg.url)?;
    if cfg.client_id.is_empty() {
        return Err(MqttError::Config(
            "client_id must not be empty with a persistent session".into(),
        ));
    }
    let mut o = MqttOptions::new(cfg.client_id.clone(), host, port);
    o.set_keep_alive(KEEP_ALIVE)
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_max_packet_size(MAX_PACKET, MAX_PACKET);
    match (&cfg.username, &cfg.password_file) {
        (Some(user), Some(file)) => {
            let password = read_file("password_file", file)?;
            let password = String::from_utf8(password).map_err(|_| {
                MqttError::Config(format!("password_file {} is not UTF-8", file.display()))
            })?;
            o.set_credentials(
                user.clone(),
                password.trim_end_matches(['\r', '\n']).to_string(),
            );
        }
        (Some(user), None) => {
            o.set_credentials(user.clone(), "");
        }
        (None, Some(_)) => {
            return Err(MqttError::Config(
                "password_file is set but username is not".into(),
            ))
        }
        (None, None) => {}
    }
    if tls {
        o.set_transport(Transport::tls_with_config(tls_config(cfg)?));
    } else if cfg.ca_file.is_some()
        || cfg.client_cert_file.is_some()
        || cfg.client_key_file.is_some()
    {
        return Err(MqttError::Config(
            "ca_file/client_cert_file/client_key_file need an mqtts:// url".into(),
        ));
    }
    Ok(o)
}

/// `mqtt://host[:port]` or `mqtts://host[:port]` → (tls, host, port).
pub fn parse_url(url: &str) -> Result<(bool, String, u16), MqttError> {
    let bad = |why: &str| MqttError::Url {
        url: url.to_string(),
        why: why.to_string(),
    };
    let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("mqtt://") {
        (false, r)
    } else {
        return Err(bad("must start with mqtt:// or mqtts://"));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return Err(bad(
            "only mqtt[s]://host:port is supported (credentials go in username/password_file)",
        ));
    }
    let default_port = if tls { 8883 } else { 1883 };
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, after) = r
            .split_once(']')
            .ok_or_else(|| bad("unclosed [ in IPv6 host"))?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return Err(bad("unexpected text after ]")),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| bad("port must be 1-65535"))?,
        None => default_port,
    };
    Ok((tls, host.to_string(), port))
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, MqttError> {
    std::fs::read(path).map_err(|source| MqttError::File {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// rustls client config: the CA from `ca_file` (else the system's CA bundle), an optional client
/// certificate. Built with an explicit crypto provider (several are linked into the binary, so
/// rustls cannot pick one by itself).
fn tls_config(cfg: &MqttConfig) -> Result<TlsConfiguration, MqttError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let mut roots = rustls::RootCertStore::empty();
    let (ca_pem, ca_name) = match &cfg.ca_file {
        Some(f) => (read_file("ca_file", f)?, f.display().to_string()),
        None => {
            let sys = [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
            ];
            let found = sys
                .iter()
                .find_map(|p| std::fs::read(p).ok().map(|b| (b, p.to_string())));
            found
                .ok_or_else(|| MqttError::Tls("no ca_file and no system CA bundle found".into()))?
        }
    };
    for cert in CertificateDer::pem_slice_iter(&ca_pem) {
        let cert = cert.map_err(|e| MqttError::Tls(format!("{ca_name}: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| MqttError::Tls(format!("{ca_name}: {e}")))?;
    }
    if roots.is_empty() {
        return Err(MqttError::Tls(format!(
            "{ca_name}: no CA certificate in it"
        )));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| MqttError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    let config = match (&cfg.client_cert_file, &cfg.client_key_file) {
        (Some(cf), Some(kf)) => {
            let cert_pem = read_file("client_cert_file", cf)?;
            let certs = CertificateDer::pem_slice_iter(&cert_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| MqttError::Tls(format!("{}: {e}", cf.display())))?;
            if certs.is_empty() {
                return Err(MqttError::Tls(format!(
                    "{}: no certificate in it",
                    cf.display()
                )));
            }
            let key_pem = read_file("client_key_file", kf)?;
            let key = PrivateKeyDer::from_pem_slice(&key_pem)
                .map_err(|e| MqttError::Tls(format!("{}: {e}", kf.display())))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| MqttError::Tls(e.to_string()))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(MqttError::Config(
                "client_cert_file and client_key_file go together".into(),
            ))
        }
    };
    Ok(TlsConfiguration::Rustls(Arc::new(config)))
}

/// At most one log line per `every`; counts what it held back.
struct RateLimit {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimit {
    fn new(every: Duration) -> RateLimit {
        RateLimit {
            every,
            last: None,
            suppressed: 0,
        }
    }
    /// Some(number held back since the last line) when a line may be logged now.
    fn check(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.every)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// The size of an incoming packet rumqttc refused as over the limit (before reading it).
fn oversized(e: &ConnectionError) -> Option<usize> {
    match e {
        ConnectionError::MqttState(rumqttc::StateError::Deserialization(
            rumqttc::Error::PayloadSizeLimitExceeded(n),
        )) => Some(*n),
        _ => None,
    }
}

struct Driver {
    client: AsyncClient,
    eventloop: EventLoop,
    /// The filters, for logs.
    filter: String,
    filters: Vec<String>,
    qos: QoS,
    status: Arc<MqttStatus>,
    acks: Arc<AckQueue>,
    /// The acks being written (swapped with the queue's, so neither allocates again).
    ack_buf: Vec<(u64, QoS, u16)>,
    /// Writing acks failed while a message waited for room in the channel.
    ack_error: Option<ConnectionError>,
    tx: mpsc::Sender<Incoming>,
    shutdown: CancellationToken,
}

impl Driver {
    async fn run(mut self) {
        let mut backoff = BACKOFF_MIN;
        let mut error_log = RateLimit::new(Duration::from_secs(10));
        let (host, port) = self.eventloop.mqtt_options.broker_address();
        tracing::info!(broker = %format!("{host}:{port}"), client_id = %self.eventloop.mqtt_options.client_id(), filter = %self.filter, "mqtt collector starting");
        // Messages are trickling in (the last read waited briefly for them): wait a moment
        // before the next read so it takes many at once.
        let mut linger = false;
        loop {
            let network_bound = self.eventloop.state.events.is_empty();
            if network_bound && std::mem::take(&mut linger) && !super::linger(&self.shutdown).await
            {
                break;
            }
            let waited_since = network_bound.then(Instant::now);
            let acked = match self.ack_error.take() {
                Some(e) => Err(e),
                None => self.write_acks().await,
            };
            let event = match acked {
                Err(e) => {
                    // The connection broke under the acks: as if the read had failed.
                    self.eventloop.clean();
                    Err(e)
                }
                Ok(()) => {
                    let connected = self.eventloop.network.is_some();
                    tokio::select! {
                        biased;
                        _ = self.shutdown.cancelled() => break,
                        // Acks are written between polls; a poll waiting on the network is
                        // interrupted for them (rumqttc's poll leaves nothing half-done when
                        // dropped while its write buffer is empty, which `write_acks` ensures).
                        // Not while connecting: there is nothing to ack on a new connection yet.
                        _ = self.acks.ready.notified(), if connected => continue,
                        ev = self.eventloop.poll() => ev,
                    }
                }
            };
            if let (Some(t), Ok(Event::Incoming(Packet::Publish(_)))) = (waited_since, &event) {
                linger = trickling(t.elapsed());
            }
            match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    // A connection given room for one oversized packet keeps it; the next one
                    // is bounded again.
                    self.eventloop
                        .mqtt_options
                        .set_max_packet_size(MAX_PACKET, MAX_PACKET);
                    self.status.connected.store(true, Ordering::Relaxed);
                    self.status.connects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(session_present = ack.session_present, "mqtt connected");
                    // Subscribe on every ConnAck: a broker that lost the session (restarted
                    // without persistence) would otherwise send nothing.
                    // Ahead of anything queued (the request queue may be full of acks).
                    self.eventloop
                        .pending
                        .push_front(Request::Subscribe(Subscribe::new_many(
                            self.filters
                                .iter()
                                .map(|f| SubscribeFilter::new(f.clone(), self.qos)),
                        )));
                }
                Ok(Event::Incoming(Packet::SubAck(suback))) => {
                    if suback
                        .return_codes
                        .iter()
                        .any(|c| matches!(c, SubscribeReasonCode::Failure))
                    {
                        tracing::error!(filter = %self.filter, "mqtt broker refused the subscription (check its ACLs); retrying");
                        self.eventloop.clean();
                        self.lost();
                        Self::pause(&self.shutdown, &mut backoff).await;
                    } else {
                        self.status.subscribed.store(true, Ordering::Relaxed);
                        backoff = BACKOFF_MIN;
                        tracing::info!(filter = %self.filter, granted = ?suback.return_codes, "mqtt subscribed");
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let epoch = self.status.epoch.load(Ordering::Acquire);
                    if !self.forward(p, epoch).await {
                        break;
                    }
                }
                Ok(Event::Incoming(Packet::Disconnect)) => {
                    tracing::warn!("mqtt broker sent DISCONNECT");
                }
                Ok(_) => {}
                Err(e) => {
                    // Messages read just before the error are still handed on (nothing read is
                    // dropped), tagged with the lost connection so their acks are not sent on
                    // the next one: the broker redelivers them.
                    let epoch = self.status.epoch.load(Ordering::Acquire);
                    let buffered: Vec<Publish> = self
                        .eventloop
                        .state
                        .events
                        .drain(..)
                        .filter_map(|e| match e {
                            Event::Incoming(Packet::Publish(p)) => Some(p),
                            _ => None,
                        })
                        .collect();
                    self.lost();
                    let mut stop = false;
                    for p in buffered {
                        if !self.forward(p, epoch).await {
                            stop = true;
                            break;
                        }
                    }
                    if stop {
                        break;
                    }
                    if let Some(held) = error_log.check() {
                        let held = if held > 0 {
                            format!(" ({held} similar errors not logged)")
                        } else {
                            String::new()
                        };
                        tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "mqtt connection lost or refused{held}");
                    } else {
                        tracing::debug!(error = %e, "mqtt connection error");
                    }
                    if matches!(e, ConnectionError::RequestsDone) {
                        break; // cannot happen while we hold the client; never spin on it
                    }
                    if let Some(size) = oversized(&e) {
                        // Read it on the next connection (once: a packet is larger than the
                        // last room only when it is a different one), so it is counted and
                        // acknowledged instead of breaking every connection.
                        tracing::warn!(
                            bytes = size,
                            limit = MAX_PACKET,
                            "mqtt: a packet over the limit; reconnecting with room for it once, to count it too_large and acknowledge it"
                        );
                        self.eventloop
                            .mqtt_options
                            .set_max_packet_size(size.min(MQTT_MAX_REMAINING), MAX_PACKET);
                        continue;
                    }
                    if !Self::pause(&self.shutdown, &mut backoff).await {
                        break;
                    }
                }
            }
        }
        self.stop().await;
    }

    /// Hands one message to the app. Backpressure: waits for room rather than drop; while
    /// waiting nothing is read from the broker (it holds the rest of the session's queue), but
    /// the acks the app gives meanwhile are written.
    /// False when the collector must stop (shutdown, or the app closed its channel).
    async fn forward(&mut self, p: Publish, epoch: u64) -> bool {
        self.status.messages.fetch_add(1, Ordering::Relaxed);
        self.status.last_message_wall_ms.store(
            chrono::Utc::now().timestamp_millis().max(1),
            Ordering::Relaxed,
        );
        let ack = (p.qos != QoS::AtMostOnce).then(|| AckToken {
            queue: self.acks.clone(),
            qos: p.qos,
            pkid: p.pkid,
            epoch,
        });
        let too_large = (p.payload.len() > MAX_PAYLOAD).then_some(p.payload.len());
        let msg = Incoming {
            redelivered: p.dup,
            topic: p.topic,
            payload: if too_large.is_some() {
                Bytes::new()
            } else {
                p.payload
            },
            ack,
            too_large,
        };
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return false,
                r = self.tx.reserve() => match r {
                    Ok(permit) => {
                        permit.send(msg);
                        return true;
                    }
                    Err(_) => {
                        tracing::info!("mqtt collector: the app closed its channel; stopping");
                        return false;
                    }
                },
                _ = self.acks.ready.notified() => {}
            }
            if self.ack_error.is_none() {
                // The connection broke under the acks: handled as a lost connection once this
                // message is handed on.
                self.ack_error = self.write_acks().await.err();
            }
        }
    }

    /// Writes the acks the app gave since the last call, in order, and flushes them with one
    /// system call. Acks of a lost connection are dropped (the broker redelivers their messages).
    async fn write_acks(&mut self) -> Result<(), ConnectionError> {
        self.acks.take(&mut self.ack_buf);
        if self.ack_buf.is_empty() {
            return Ok(());
        }
        let epoch = self.status.epoch.load(Ordering::Acquire);
        let Some(network) = self.eventloop.network.as_mut() else {
            return Ok(());
        };
        let acks = &self.ack_buf;
        // Bounded as a whole: writing blocks (and flushes) whenever the buffer is full, and a
        // broker that stops reading must not hold the collector forever.
        let written = tokio::time::timeout(ACK_FLUSH_TIMEOUT, async {
            let mut wrote = false;
            for &(e, qos, pkid) in acks {
                let packet = match qos {
                    _ if e != epoch => continue,
                    QoS::AtMostOnce => continue,
                    QoS::AtLeastOnce => Packet::PubAck(PubAck::new(pkid)),
                    QoS::ExactlyOnce => Packet::PubRec(PubRec::new(pkid)),
                };
                network.write(packet).await?;
                wrote = true;
            }
            if wrote {
                network.flush().await?;
            }
            Ok::<(), rumqttc::StateError>(())
        })
        .await;
        self.ack_buf.clear();
        match written {
            Ok(r) => Ok(r?),
            Err(_) => Err(ConnectionError::FlushTimeout),
        }
    }

    /// The connection is gone: un-acked messages are redelivered on the next one.
    fn lost(&self) {
        self.status.epoch.fetch_add(1, Ordering::AcqRel);
        if self.status.connected() {
            self.status.disconnects.fetch_add(1, Ordering::Relaxed);
        }
        self.status.set_down();
    }

    /// Sleeps the current backoff and doubles it (capped). False if shutdown came first.
    async fn pause(shutdown: &CancellationToken, backoff: &mut Duration) -> bool {
        let d = *backoff;
        *backoff = (*backoff * 2).min(BACKOFF_MAX);
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }

    /// Clean DISCONNECT (the broker keeps the persistent session), bounded in time.
    /// The acks the app already gave go out first; messages arriving meanwhile are left
    /// un-acked (the broker redelivers them to the next run).
    async fn stop(mut self) {
        if self.status.connected() {
            let done = tokio::time::timeout(Duration::from_secs(2), async {
                if self.write_acks().await.is_err() {
                    return;
                }
                if self.client.try_disconnect().is_err() {
                    return;
                }
                loop {
                    match self.eventloop.poll().await {
                        Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            })
            .await;
            if done.is_err() {
                tracing::warn!("mqtt disconnect timed out");
            }
        }
        self.acks.stopped.store(true, Ordering::Release);
        self.status.epoch.fetch_add(1, Ordering::AcqRel);
        self.status.set_down();
        tracing::info!("mqtt collector stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter() {
        assert_eq!(topic_filter("dc"), "dc/+/+");
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("mqtt://127.0.0.1:1883").unwrap(),
            (false, "127.0.0.1".into(), 1883)
        );
        assert_eq!(
            parse_url("mqtt://broker").unwrap(),
            (false, "broker".into(), 1883)
        );
        assert_eq!(
            parse_url("mqtts://broker.example/").unwrap(),
            (true, "broker.example".into(), 8883)
        );
        assert_eq!(
            parse_url("mqtts://[::1]:9000").unwrap(),
            (true, "::1".into(), 9000)
        );
        for bad in [
            "http://x",
            "mqtt://",
            "mqtt://h:0",
            "mqtt://h:99999",
            "mqtt://u:p@h",
            "mqtt://h/x",
            "mqtt://[::1",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn options_from_config() {
        let cfg = MqttConfig {
            url: "mqtt://127.0.0.1:1999".into(),
            ..Default::default()
        };
        let o = options(&cfg).unwrap();
        assert!(!o.clean_session());
        assert!(o.manual_acks());
        assert_eq!(o.client_id(), "dcpue-1");
        // A 64 KiB payload under the longest topic fits; nothing near a 100 MB one does.
        assert!(o.max_packet_size() >= crate::ingest::MAX_PAYLOAD + 2 + 65_535 + 2);
        assert!(o.max_packet_size() < 256 * 1024);
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let cfg = MqttConfig {
            username: Some("dcpue".into()),
            password_file: Some(pw),
            ..Default::default()
        };
        let login = options(&cfg).unwrap().credentials().unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("dcpue", "s3cret")
        );
        let cfg = MqttConfig {
            username: Some("dcpue".into()),
            password_file: Some(dir.path().join("missing")),
            ..Default::default()
        };
        assert!(matches!(options(&cfg), Err(MqttError::File { .. })));
        let cfg = MqttConfig {
            url: "mqtts://127.0.0.1".into(),
            ca_file: Some(dir.path().join("pw")),
            ..Default::default()
        };
        assert!(matches!(options(&cfg), Err(MqttError::Tls(_))));
    }

    #[test]
    fn rate_limit() {
        let mut r = RateLimit::new(Duration::from_secs(60));
        assert_eq!(r.check(), Some(0));
        assert_eq!(r.check(), None);
        assert_eq!(r.check(), None);
        r.last = Some(Instant::now() - Duration::from_secs(61));
        assert_eq!(r.check(), Some(2));
    }
}
