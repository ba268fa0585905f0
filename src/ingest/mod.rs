//! MQTT ingest (CONTRACT §3, §12): the collector ([`mqtt`]) that subscribes to
//! `<topic_prefix>/+/+` and each `[[source]]` topic and hands each message to the app, the pure
//! payload decoders ([`decode`] for dcpue's own format, [`gateway`] for gateways' formats) that turn
//! a message into readings or verdicts, [`take`] that feeds one message to the engine, and the
//! group [`commit`] that acknowledges batches once they are durable.

pub mod acl;
pub mod commit;
pub mod decode;
pub mod dedup;
pub mod gateway;
pub mod mqtt;
pub mod take;

pub use decode::{decode_payload, decode_payload_for, parse_topic, DecodeError, MAX_PAYLOAD};
pub use mqtt::{spawn, topic_filter, AckToken, Incoming, MqttError, MqttStatus};

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Batching under a steady stream. When a read (of the broker's socket, or of the collector's
/// channel by the ingest loop) waited for messages longer than `TRICKLE` but less than `LINGER`,
/// messages are arriving a few at a time in a steady stream: the reader waits `LINGER` before the
/// next read, so it takes them in bulk (far fewer wake-ups and system calls per message, at most
/// `LINGER` more latency each). A longer wait means traffic is light, and nothing is delayed.
pub const TRICKLE: Duration = Duration::from_micros(20);
pub const LINGER: Duration = Duration::from_millis(1);

/// Whether a read that waited `waited` for its messages met a steady trickle (see [`LINGER`]).
pub fn trickling(waited: Duration) -> bool {
    (TRICKLE..LINGER).contains(&waited)
}

/// Waits [`LINGER`]; false when `shutdown` came first.
pub async fn linger(shutdown: &CancellationToken) -> bool {
    tokio::select! {
        biased;
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(LINGER) => true,
    }
}
