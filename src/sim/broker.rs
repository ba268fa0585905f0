//! The embedded MQTT broker of `dcpue demo`: rumqttd, in-process, on 127.0.0.1 only.
//!
//! Settings for no loss (CONTRACT §9): payloads up to 1 MiB (≥ 64 KiB), a large in-flight window
//! per connection and a commit log large enough to hold a year of simulated history while the
//! collector catches up; sessions are persistent when the client asks (clean_session = false).

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

/// Largest payload the embedded broker accepts.
pub const MAX_PAYLOAD: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(
        "port {port} on 127.0.0.1 is already in use (choose another with --mqtt-port): {source}"
    )]
    PortInUse { port: u16, source: std::io::Error },
    #[error("the embedded MQTT broker did not start: {0}")]
    Start(String),
}

/// A running embedded broker. It runs on its own threads until the process exits (rumqttd has no
/// shutdown); dropping this handle does not stop it.
#[derive(Debug)]
pub struct EmbeddedBroker {
    pub port: u16,
}

impl EmbeddedBroker {
    /// `mqtt://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

/// Whether a log event is the embedded broker's report about one client connection: rumqttd
/// logs at ERROR a client that closes before its CONNECT (as the readiness probe below does), a
/// client gone after its DISCONNECT (which it handles twice: "already gone"), a link dropped at
/// shutdown, although the broker is fine; each client reports its own connection trouble.
/// Matched by rumqttd's per-connection spans (`remote_link`, or one carrying a
/// `connection_id`), so the broker's own failures (cannot listen, router stopped) are not.
pub fn is_connection_noise<S>(
    meta: &tracing::Metadata<'_>,
    cx: &tracing_subscriber::layer::Context<'_, S>,
) -> bool
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    if !may_be_connection_noise(meta) {
        return false;
    }
    cx.lookup_current().is_some_and(|span| {
        span.scope().any(|s| {
            s.name() == "remote_link" || s.metadata().fields().field("connection_id").is_some()
        })
    })
}

/// Whether events of this call site can be [`is_connection_noise`]: rumqttd's warnings and
/// errors.
pub fn may_be_connection_noise(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_event() && meta.target().starts_with("rumqttd") && *meta.level() <= tracing::Level::WARN
}

/// The rumqttd configuration of the demo broker on `127.0.0.1:port`.
pub fn broker_config(port: u16) -> Config {
    let listen = SocketAddr::from(([127, 0, 0, 1], port));
    let connections = ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: MAX_PAYLOAD,
        max_inflight_count: 1000,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = ServerSettings {
        name: "dcpue-demo-v4".into(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    let router = RouterConfig {
        max_connections: 1000,
        max_outgoing_packet_count: 1000,
        // The commit log (in memory) keeps up to 32 × 32 MiB, so a subscriber that falls
        // behind a fast backfill still gets every message.
        max_segment_size: 32 * 1024 * 1024,
        max_segment_count: 32,
        ..Default::default()
    };
    Config {
        id: 0,
        router,
        v4: Some(HashMap::from([("1".to_string(), server)])),
        ..Default::default()
    }
}

/// Starts rumqttd on `127.0.0.1:port` in its own thread and waits until it accepts connections.
/// A port already taken is a clear error (checked by binding it first). Port 0: the system
/// chooses a free port when rumqttd binds, and [`EmbeddedBroker::port`] is the one it bound.
pub fn start_embedded_broker(port: u16) -> Result<EmbeddedBroker, BrokerError> {
    if port == 0 {
        return start_on_any_port();
    }
    let probe = TcpListener::bind(("127.0.0.1", port))
        .map_err(|source| BrokerError::PortInUse { port, source })?;
    drop(probe);
    spawn_broker(port)?;
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(EmbeddedBroker { port });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(BrokerError::Start(format!(
        "nothing listens on 127.0.0.1:{port} after 10 s"
    )))
}

fn spawn_broker(port: u16) -> Result<(), BrokerError> {
    let config = broker_config(port);
    std::thread::Builder::new()
        .name("dcpue-broker".into())
        .spawn(move || {
            let mut broker = Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded MQTT broker stopped");
            }
        })
        .map_err(|e| BrokerError::Start(e.to_string()))?;
    Ok(())
}

/// rumqttd on a port the system chose: rumqttd binds the port itself and does not say which
/// port it bound, so it is given one found free a moment before (bound on port 0, released),
/// and counts as started only once this process listens on it (read from /proc, so Linux only);
/// when another process took the port meanwhile, rumqttd is started again on another one.
fn start_on_any_port() -> Result<EmbeddedBroker, BrokerError> {
    if listening_ports(None).is_none() {
        return Err(BrokerError::Start(
            "--mqtt-port 0 needs /proc (Linux); choose a port instead".into(),
        ));
    }
    for _ in 0..20 {
        let port = TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| BrokerError::Start(format!("no free port on 127.0.0.1: {e}")))?
            .port();
        spawn_broker(port)?;
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            let Some((ours, any)) = listening_ports(None) else {
                break;
            };
            if ours.contains(&port) && TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(EmbeddedBroker { port });
            }
            if any.contains(&port) && !ours.contains(&port) {
                // Another process took it: rumqttd could not bind it.
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Err(BrokerError::Start(
        "the broker did not listen on 127.0.0.1 (20 ports tried)".into(),
    ))
}

/// The TCP ports listening at 127.0.0.1 (or every address): (process `pid`'s, or this
/// process's for None; every process's), from /proc; None without /proc. The tests use it to
/// tell that a server they started, and not another process, holds its port.
pub fn listening_ports(pid: Option<u32>) -> Option<(HashSet<u16>, HashSet<u16>)> {
    let proc = pid.map_or_else(|| "self".to_string(), |p| p.to_string());
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{proc}/fd"))
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let (mut ours, mut any) = (HashSet::new(), HashSet::new());
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{proc}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st ... inode (field 9); 0A: listening
            if f.len() < 10 || f[3] != "0A" {
                continue;
            }
            let Some((addr, p)) = f[1].rsplit_once(':') else {
                continue;
            };
            let loopback_or_any = addr == "0100007F" || addr.bytes().all(|b| b == b'0');
            let Ok(p) = u16::from_str_radix(p, 16) else {
                continue;
            };
            if loopback_or_any {
                any.insert(p);
                if inodes.contains(f[9]) {
                    ours.insert(p);
                }
            }
        }
    }
    Some((ours, any))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;

    /// The lines a subscriber that leaves out `is_connection_noise` writes for some events.
    #[test]
    fn connection_noise_is_left_out_and_broker_failures_are_not() {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || Writer(sink.clone()))
            .with_filter(tracing_subscriber::filter::DynFilterFn::new(|meta, cx| {
                !super::is_connection_noise(meta, cx)
            }));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let link = tracing::error_span!(target: "rumqttd::server::broker", "remote_link", tenant_id = ?None::<u8>);
            link.in_scope(|| {
                tracing::error!(target: "rumqttd::server::broker", "connect closed by peer");
                tracing::error!(target: "dcpue::app", "ours inside the span");
            });
            let incoming = tracing::error_span!(target: "rumqttd::router::routing", "[>] incoming", connection_id = 1);
            incoming.in_scope(|| {
                tracing::error!(target: "rumqttd::router::routing", "id 1 is already gone");
            });
            tracing::error!(target: "rumqttd::server::broker", "Server error - V4: address in use");
        });
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("closed by peer"), "{text}");
        assert!(!text.contains("already gone"), "{text}");
        assert!(text.contains("ours inside the span"), "{text}");
        assert!(text.contains("address in use"), "{text}");
    }

    struct Writer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
