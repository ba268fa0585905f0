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

//!
//! Modules: [`options`] (the URL through `config::broker_url`, session, TLS), [`acks`] (manual
//! acks written in bulk), `driver`
//! (the event loop), [`status`] (what /metrics and /readyz see), `eventloop` (the only code that
//! touches rumqttc's `EventLoop` fields, and why).

mod acks;
mod driver;
mod eventloop;
pub mod options;
mod status;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rumqttc::AsyncClient;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::MAX_PAYLOAD;
use crate::config::MqttConfig;
use acks::AckQueue;
pub use acks::AckToken;
pub use options::parse_url;
use options::prepare;
pub use status::MqttStatus;

/// The largest packet read in normal operation (remaining length): a PUBLISH of a 64 KiB payload
/// under the longest topic MQTT allows (2 + 65,535 bytes) with its packet id, rounded up.
pub const MAX_PACKET: usize = MAX_PAYLOAD + 65_536 + 16;
/// MQTT's largest remaining length.
pub(crate) const MQTT_MAX_REMAINING: usize = 268_435_455;
/// The keep-alive interval sent to the broker.
pub const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// The first and the longest pause between reconnect attempts.
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long writing and flushing acks may wait for the broker to read before the connection
/// counts as broken (rumqttc's own default for its flushes).
pub(crate) const ACK_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors that stop the collector from starting (bad url, unreadable files). Connection
/// errors after start are retried, never returned.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error(transparent)]
    Url(#[from] crate::config::broker_url::UrlError),
    #[error("mqtt {what} {path}: {source}")]
    File {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("mqtt config: {0}")]
    Config(#[from] ConfigProblem),
    /// A TLS file that does not hold what it must; `key` is its `[mqtt]` key (`url` for the
    /// system CA bundle and for what rustls refuses of the whole).
    #[error("mqtt TLS: {detail}")]
    Tls { key: &'static str, detail: String },
}

/// `[mqtt]` settings that cannot work together (found when the collector starts).
#[derive(Debug, thiserror::Error)]
pub enum ConfigProblem {
    #[error("qos {0} must be 0, 1 or 2")]
    Qos(u8),
    #[error("client_id must not be empty with a persistent session")]
    EmptyClientId,
    #[error("password_file {} is not UTF-8", .0.display())]
    PasswordNotUtf8(PathBuf),
    #[error("password_file is set but username is not")]
    PasswordWithoutUsername,
    #[error("ca_file/client_cert_file/client_key_file need an mqtts:// url")]
    TlsFilesWithoutMqtts,
    #[error("client_cert_file and client_key_file go together")]
    CertWithoutKey,
}

impl MqttError {
    /// The `[mqtt]` key the error is about, for the line `check-config` names.
    pub fn key(&self) -> &'static str {
        match self {
            MqttError::Url(_) => "url",
            MqttError::File { what, .. } => what,
            MqttError::Config(p) => match p {
                ConfigProblem::Qos(_) => "qos",
                ConfigProblem::EmptyClientId => "client_id",
                ConfigProblem::PasswordNotUtf8(_) | ConfigProblem::PasswordWithoutUsername => {
                    "password_file"
                }
                ConfigProblem::TlsFilesWithoutMqtts => "ca_file",
                ConfigProblem::CertWithoutKey => "client_cert_file",
            },
            MqttError::Tls { key, .. } => key,
        }
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
    let driver = driver::Driver {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter() {
        assert_eq!(topic_filter("dc"), "dc/+/+");
    }
}
