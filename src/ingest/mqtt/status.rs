//! The collector's state as `/metrics` and `/readyz` see it.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// The collector's state as /metrics and /readyz see it. Shared, lock-free.
#[derive(Debug, Default)]
pub struct MqttStatus {
    pub(super) connected: AtomicBool,
    pub(super) subscribed: AtomicBool,
    /// Wall clock (epoch ms) of the newest message; 0 = none yet.
    pub(super) last_message_wall_ms: AtomicI64,
    pub(super) messages: AtomicU64,
    pub(super) connects: AtomicU64,
    pub(super) disconnects: AtomicU64,
    /// Connection generation: bumped when a connection is lost, so an [`AckToken`] from an
    /// earlier connection is not sent on a later one (the broker redelivers that message).
    pub(super) epoch: AtomicU64,
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
    pub(super) fn set_down(&self) {
        self.connected.store(false, Ordering::Relaxed);
        self.subscribed.store(false, Ordering::Relaxed);
    }
}
