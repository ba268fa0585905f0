//! The service's state the ingest loop drives: taking one message (dedup, write-ahead log,
//! engine, feeds) and writing checkpoints.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Config;
use crate::engine::{Engine, MeterRef, Reason};
use crate::http::{SeriesCopy, SeriesRequest, Shared};
use crate::ingest::dedup::RecentMessages;
use crate::ingest::gateway::Routes;
use crate::ingest::mqtt::Incoming;
use crate::ingest::parse_topic;
use crate::ingest::take::{take_routed, Body, Taken};
use crate::store::wal::Wal;
use crate::store::{self, IngestMark};

use super::feeds::{Alerting, SinkFeed};
use super::metrics::IngestMetrics;
use super::now_ms;

pub use crate::logging::RateLimitedLog;

/// The service's parts that the ingest loop drives.
pub struct Service {
    pub cfg: Config,
    /// The engine, owned here alone: HTTP reads the snapshots published from it and asks for
    /// the copies a series needs ([`Service::answer_series`]).
    pub engine: Engine,
    pub shared: Arc<Shared>,
    pub state_dir: PathBuf,
    /// Wall-clock time each meter was last heard from (MeterStale).
    pub last_heard: HashMap<MeterRef, i64>,
    pub alerting: Alerting,
    pub wal: Wal,
    pub recent: RecentMessages,
    /// The InfluxDB sink, when `[influxdb]` is configured, and the points waiting for it.
    pub sink: SinkFeed,
    pub log: RateLimitedLog,
    pub prefix: String,
    /// Native topics and `[[source]]` topics (CONTRACT §12).
    pub routes: Routes,
    pub metrics: IngestMetrics,
}

impl Service {
    /// Takes one MQTT message: every reading judged and counted; rejections logged, accepted
    /// readings queued for the sink. Returns readings accepted.
    pub fn take_message(&mut self, topic: &str, body: Body<'_>, now: i64) -> u64 {
        let mut accepted = 0;
        let (log, last_heard, sink) = (&mut self.log, &mut self.last_heard, &mut self.sink);
        let cfg = &self.cfg;
        let unmapped = &self.metrics.unmapped;
        take_routed(
            &mut self.engine,
            &self.routes,
            topic,
            body,
            now,
            &mut |t| match t {
                Taken::Meter(m) => {
                    last_heard.insert(m, now);
                }
                Taken::Accepted(m, reading) => {
                    accepted += 1;
                    sink.reading(cfg, m, reading);
                }
                Taken::Rejected(Reason::Duplicate, _) => {}
                Taken::Rejected(reason, msg) => log.warn(reason.as_str(), topic, &msg),
                Taken::Unmapped { source, count } => {
                    unmapped.with_label_values(&[source]).inc_by(count);
                }
            },
        );
        accepted
    }

    /// One message as it arrives: a redelivery of a message already taken counts as a
    /// duplicate; anything else goes to the write-ahead log and the engine. A payload over the
    /// 64 KiB limit is counted `too_large`: only its topic and size are logged.
    pub fn arrive(&mut self, msg: &Incoming) -> Result<(), store::StoreError> {
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
            .filter(|f| self.engine.facility_index(f).is_some());
            self.engine.count_rejected(facility, Reason::Duplicate, 1);
            return Ok(());
        }
        let now = now_ms();
        match body {
            Body::Payload(p) => self.wal.append(now, topic, p)?,
            Body::TooLarge(n) => self.wal.append_too_large(now, topic, n)?,
        };
        self.recent.insert(h);
        self.take_message(topic, body, now);
        Ok(())
    }

    /// What a checkpoint records besides the engine: the log position, the recent messages and
    /// when each meter was last heard.
    pub fn ingest_mark(&self) -> IngestMark {
        IngestMark {
            wal_seq: self.wal.last_seq(),
            recent_messages: self.recent.list(),
            last_heard: heard_list(&self.cfg, &self.last_heard),
        }
    }

    /// Writes a checkpoint of everything taken so far and starts a new write-ahead log segment
    /// (after the one being written in the background, if any).
    pub fn checkpoint(&mut self) -> Result<(), store::StoreError> {
        if let Err(err) = self.wal.finish_checkpoint() {
            tracing::error!("checkpoint failed: {err}");
        }
        self.wal.sync()?;
        let mark = self.ingest_mark();
        // The log segment up to the mark is closed and kept with `engine.state.prev`.
        self.wal.rotate()?;
        store::checkpoint(&self.state_dir, &self.engine, &mark)?;
        self.wal.checkpointed_at(mark.wal_seq)
    }
}

impl Service {
    /// Answers a history series' request: a copy of the facility's buckets (a memory copy of
    /// one facility, no arithmetic; the series is computed from it elsewhere).
    pub fn answer_series(&self, req: SeriesRequest) {
        let copy = self
            .engine
            .facility_index(&req.facility)
            .map(|fi| SeriesCopy {
                input: self.engine.series_input(fi),
                tz: self.cfg.timezone(),
                min_coverage: self.cfg.engine.min_coverage,
            });
        // The requester may have gone: the copy is dropped.
        let _ = req.reply.send(copy);
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
pub fn heard_map(cfg: &Config, list: &[store::MeterHeard]) -> HashMap<MeterRef, i64> {
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
