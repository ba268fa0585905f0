//! Recognising a broker's redelivery of a message already taken (moved here from the serve
//! wiring: the group commit bounds it, see `commit::QUEUE`).

use std::collections::{HashSet, VecDeque};

use super::take::Body;

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
