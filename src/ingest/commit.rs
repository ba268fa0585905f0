//! Group commit off the ingest thread: a batch the engine took is acknowledged to the broker only
//! once it is durable (its write-ahead-log records fsync'd, and the InfluxDB points it produced
//! in the sink's spool). The fsync of one batch runs here while the ingest loop already takes the
//! next; every batch waiting when a fsync starts shares it. Acks go out in arrival order (MQTT
//! 3.1.1 §4.6: PUBACKs in the order the PUBLISHes came).

use std::future::Future;
use std::pin::Pin;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::mqtt::AckToken;
use crate::store::wal::WalSyncer;

/// What makes a batch's InfluxDB points durable (already asked for, in order).
pub type SinkSync = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// One batch the engine took, waiting to be made durable and acknowledged.
pub struct Commit {
    pub wal: WalSyncer,
    pub sink: Option<SinkSync>,
    pub acks: Vec<AckToken>,
}

/// Batches queued to the committer at most; the ingest loop waits when the disk falls behind.
/// Messages taken but not yet acknowledged are at most (QUEUE + GROUP + 1) batches of
/// `app::BATCH`; they must fit in `app::RecentMessages` (which recognises their redelivery after a
/// crash): 9 × 4,096 < 65,536.
pub const QUEUE: usize = 4;
/// Batches one fsync may cover.
pub const GROUP: usize = 4;

/// Starts the committer. It runs until the sender is dropped and every batch queued before is
/// handled; on a failed fsync it acknowledges nothing more and cancels `shutdown` (the broker
/// keeps what was not acknowledged and redelivers it after the restart).
pub fn spawn(shutdown: CancellationToken) -> (mpsc::Sender<Commit>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (tx, tokio::spawn(run(rx, shutdown)))
}

async fn run(mut rx: mpsc::Receiver<Commit>, shutdown: CancellationToken) {
    let mut jobs = Vec::with_capacity(GROUP);
    while rx.recv_many(&mut jobs, GROUP).await > 0 {
        if let Err(e) = make_durable(&mut jobs).await {
            tracing::error!("cannot make ingest durable, stopping without acknowledging: {e}");
            shutdown.cancel();
            // Dropping the queue drops its acks: those messages stay with the broker.
            return;
        }
        for job in jobs.drain(..) {
            for ack in job.acks {
                ack.try_ack();
            }
        }
    }
}

/// One fsync per log file among `jobs` (all batches of a group share it), then the sink's.
async fn make_durable(jobs: &mut [Commit]) -> Result<(), String> {
    let mut files: Vec<WalSyncer> = Vec::new();
    for j in jobs.iter() {
        if !files.iter().any(|f| f.same_file(&j.wal)) {
            files.push(j.wal.clone());
        }
    }
    tokio::task::spawn_blocking(move || files.iter().try_for_each(|f| f.sync()))
        .await
        .map_err(|e| format!("write-ahead log fsync task: {e}"))?
        .map_err(|e| format!("write-ahead log: {e}"))?;
    for j in jobs.iter_mut() {
        if let Some(s) = j.sink.take() {
            s.await.map_err(|e| format!("influxdb spool: {e}"))?;
        }
    }
    Ok(())
}

// Redeliveries of every message taken but not acknowledged are recognised after a crash.
const _: () = assert!((QUEUE + GROUP + 1) * crate::app::BATCH <= crate::app::RecentMessages::CAP);
