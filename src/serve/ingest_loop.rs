//! The ingest loop: takes MQTT messages in batches (write-ahead log, then engine), hands them
//! to the group commit, and on its own schedule publishes snapshots, evaluates wall-clock
//! alerts and starts checkpoints.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::alerts::MeterSeen;
use crate::engine::MeterRef;
use crate::http::SeriesRequest;
use crate::ingest;
use crate::ingest::commit::{self, Commit, BATCH};
use crate::ingest::mqtt::{AckToken, Incoming, MqttStatus};
use crate::store;

use super::feeds::run_steps;
use super::now_ms;
use super::service::Service;

pub async fn ingest_loop(
    svc: &mut Service,
    mut rx: mpsc::Receiver<Incoming>,
    mut series: mpsc::Receiver<SeriesRequest>,
    status: Arc<MqttStatus>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut last_publish = Instant::now() - Duration::from_secs(10);
    let mut last_checkpoint = Instant::now();
    let mut last_wall_eval = Instant::now();
    let mut batch: Vec<Incoming> = Vec::with_capacity(BATCH);
    let (commit_tx, committer) = commit::spawn(shutdown.clone(), svc.metrics.fsyncs.clone());
    // Taken (in the engine and the log's buffer) but not yet handed to the committer: it is
    // handed on as soon as the committer has room, and gathers everything taken until then.
    let mut open = OpenCommit::default();
    // The log could not be written: nothing more is acknowledged.
    let mut broken = false;
    // Messages trickle in: wait a moment before the next read (see `ingest::LINGER`).
    let mut linger = false;
    loop {
        if std::mem::take(&mut linger) && !ingest::linger(&shutdown).await {
            break;
        }
        let waiting_since = Instant::now();
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            permit = commit_tx.reserve(), if !open.is_empty() => {
                let Ok(permit) = permit else { break };
                if let Err(e) = hand_on(svc, &mut open, permit) {
                    not_durable(&e, &shutdown);
                    broken = true;
                    break;
                }
            }
            // Before new messages: at most one request is waiting (one series at a time).
            Some(req) = series.recv() => svc.answer_series(req),
            n = rx.recv_many(&mut batch, BATCH - open.messages), if open.messages < BATCH => {
                if n == 0 {
                    break;
                }
                linger = n < BATCH / 16 && ingest::trickling(waiting_since.elapsed());
            }
            _ = tick.tick() => {}
        }
        svc.shared.set_ready(status.subscribed());
        if !batch.is_empty() {
            if let Err(e) = take_batch(svc, &batch, &mut series) {
                not_durable(&e, &shutdown);
                broken = true;
                break;
            }
            svc.sink.flush();
            svc.metrics.taken.inc_by(batch.len() as u64);
            svc.metrics.taken_at.set(now_ms() as f64 / 1000.0);
            open.messages += batch.len();
            open.acks.extend(batch.drain(..).filter_map(|m| m.ack));
            if let Ok(permit) = commit_tx.try_reserve() {
                if let Err(e) = hand_on(svc, &mut open, permit) {
                    not_durable(&e, &shutdown);
                    broken = true;
                    break;
                }
            }
        }
        if last_publish.elapsed() >= Duration::from_millis(500)
            || rx.is_empty() && last_publish.elapsed() >= Duration::from_millis(200)
        {
            publish(svc);
            last_publish = Instant::now();
        }
        if last_wall_eval.elapsed() >= Duration::from_secs(5) {
            wall_clock_alerts(svc);
            last_wall_eval = Instant::now();
        }
        // Checkpoints are written by another thread; here only the state is copied.
        if let Some(Err(err)) = svc.wal.poll_checkpoint() {
            tracing::error!("checkpoint failed: {err}");
        }
        if !svc.wal.checkpoint_pending()
            && (svc.wal.bytes() > 64 << 20
                || svc.wal.has_unsaved()
                    && last_checkpoint.elapsed() >= svc.cfg.storage.checkpoint_every.as_std())
        {
            let mark = svc.ingest_mark();
            let started =
                store::checkpoint_in_background(&svc.state_dir, &svc.engine, mark, &mut svc.wal);
            if let Err(err) = started {
                tracing::error!("checkpoint failed: {err}");
            }
            last_checkpoint = Instant::now();
        }
    }
    // Series still asking get a 503: the engine is about to stop.
    drop(series);
    publish(svc);
    // Every batch taken is acknowledged (once durable) before the collector lets go.
    if !open.is_empty() && !broken {
        if let Ok(permit) = commit_tx.reserve().await {
            if let Err(e) = hand_on(svc, &mut open, permit) {
                not_durable(&e, &shutdown);
            }
        }
    }
    drop(commit_tx);
    let _ = committer.await;
}

/// Messages taken since the last commit was handed to the committer.
#[derive(Default)]
struct OpenCommit {
    messages: usize,
    acks: Vec<AckToken>,
}

impl OpenCommit {
    fn is_empty(&self) -> bool {
        self.messages == 0
    }
}

/// The log cannot be written: what was taken stays unacknowledged (the broker redelivers it)
/// and the service stops rather than lose it.
fn not_durable(e: &store::StoreError, shutdown: &CancellationToken) {
    tracing::error!("cannot make ingest durable, stopping without acknowledging: {e}");
    shutdown.cancel();
}

/// Hands the open commit to the committer: the log's buffer written to the file (the committer
/// fsyncs it), the sink's spool asked for.
fn hand_on(
    svc: &mut Service,
    open: &mut OpenCommit,
    permit: mpsc::Permit<'_, Commit>,
) -> Result<(), store::StoreError> {
    let wal = svc.wal.flushed()?;
    let sink = svc.sink.influx.as_ref().map(|i| {
        let s = i.sync_later();
        Box::pin(async move { s.await.map_err(commit::SinkSyncError::from) }) as commit::SinkSync
    });
    permit.send(Commit {
        wal,
        sink,
        acks: std::mem::take(&mut open.acks),
    });
    open.messages = 0;
    Ok(())
}

/// Messages taken between two looks for a series request waiting (see [`take_batch`]).
const SERIES_LOOK_EVERY: usize = 256;

/// Feeds a batch of messages to the engine and appends it to the log. Every
/// [`SERIES_LOOK_EVERY`] messages it answers a series request waiting (a copy of one facility's
/// buckets), so a series waits for a part of a batch, not a whole one.
fn take_batch(
    svc: &mut Service,
    batch: &[Incoming],
    series: &mut mpsc::Receiver<SeriesRequest>,
) -> Result<(), store::StoreError> {
    for (i, msg) in batch.iter().enumerate() {
        if i % SERIES_LOOK_EVERY == SERIES_LOOK_EVERY - 1 {
            if let Ok(req) = series.try_recv() {
                svc.answer_series(req);
            }
        }
        svc.arrive(msg)?;
    }
    Ok(())
}

/// Advances event time and publishes a snapshot; the steps passed go to the feeds (alert rules,
/// window points) after the engine is let go.
pub fn publish(svc: &mut Service) {
    let now = now_ms();
    let steps = svc.engine.advance_steps();
    let snap = svc.engine.snapshot(now);
    run_steps(&mut svc.alerting, &mut svc.sink, &svc.cfg, &steps, now);
    svc.shared.publish(snap);
    svc.alerting.flush();
    svc.sink.flush();
}

/// MeterStale: wall-clock silence of each meter.
fn wall_clock_alerts(svc: &mut Service) {
    let cfg = &svc.cfg;
    let last = &svc.last_heard;
    let seen = cfg.facilities.iter().enumerate().flat_map(|(fi, f)| {
        f.meters.iter().enumerate().map(move |(mi, m)| MeterSeen {
            facility: f.id(),
            meter: m.id(),
            last_seen_wall_ms: last
                .get(&MeterRef {
                    facility: fi,
                    meter: mi,
                })
                .copied(),
        })
    });
    svc.alerting.engine.on_wall_clock(now_ms(), seen);
    svc.alerting.flush();
}
