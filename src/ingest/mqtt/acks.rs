//! Manual acknowledgements: the app acknowledges a QoS 1/2 message once the engine took it; the
//! driver writes every ack given meanwhile together, one flush.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rumqttc::QoS;

use super::MqttStatus;

/// The right to acknowledge one message to the broker. Acks go out in the order they are
/// given; give them in the order the messages arrived. Dropping it unacked leaves the
/// message with the broker, which redelivers it after the next reconnect.
#[derive(Debug)]
pub struct AckToken {
    pub(super) queue: Arc<AckQueue>,
    pub(super) qos: QoS,
    pub(super) pkid: u16,
    pub(super) epoch: u64,
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
pub(super) struct AckQueue {
    pub(super) status: Arc<MqttStatus>,
    /// (connection epoch, qos, packet id), in the order given.
    pub(super) waiting: Mutex<Vec<(u64, QoS, u16)>>,
    /// Wakes the collector when acks are waiting.
    pub(super) ready: tokio::sync::Notify,
    pub(super) stopped: AtomicBool,
}

impl AckQueue {
    /// Queues the tokens of the current connection; returns how many.
    pub(super) fn push(&self, tokens: impl Iterator<Item = AckToken>) -> usize {
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
    pub(super) fn take(&self, out: &mut Vec<(u64, QoS, u16)>) {
        out.clear();
        let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::swap(&mut *w, out);
    }
}
