//! The embedded MQTT broker of `dcpue demo`: rumqttd, in-process, on 127.0.0.1 only.
//!
//! Settings for no loss (CONTRACT §9): payloads up to 1 MiB (≥ 64 KiB), a large in-flight window
//! per connection and a commit log large enough to hold a year of simulated history while the
//! collector catches up; sessions are persistent when the client asks (clean_session = false).

use std::collections::HashMap;
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
/// A port already taken is a clear error (checked by binding it first).
pub fn start_embedded_broker(port: u16) -> Result<EmbeddedBroker, BrokerError> {
    let probe = TcpListener::bind(("127.0.0.1", port))
        .map_err(|source| BrokerError::PortInUse { port, source })?;
    drop(probe);
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
