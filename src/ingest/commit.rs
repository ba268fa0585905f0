//! Group commit off the ingest thread: messages the engine took are acknowledged to the broker
//! only once they are durable (their write-ahead-log records fsync'd, and the InfluxDB points they
//! produced in the sink's spool). The fsync runs here while the ingest loop already takes more;
//! every commit waiting when an fsync starts shares it, and fsyncs start at most every
//! [`FSYNC_EVERY`]. Acks go out in arrival order (MQTT 3.1.1 §4.6: PUBACKs in the order the
//! PUBLISHes came), written to the broker together.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::dedup::RecentMessages;
use super::mqtt::AckToken;
use crate::store::wal::WalSyncer;

/// What makes a batch's InfluxDB points durable (already asked for, in order).
pub type SinkSync = Pin<Box<dyn Future<Output = Result<(), SinkSyncError>> + Send>>;

/// Why a sink could not make its points durable (the sink's own error, kept whole).
pub type SinkSyncError = Box<dyn std::error::Error + Send + Sync>;

/// Why a group commit could not be made durable: nothing more is acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("write-ahead log fsync task: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("write-ahead log: {0}")]
    Wal(#[from] crate::store::StoreError),
    #[error("influxdb spool: {0}")]
    Sink(SinkSyncError),
}

/// Messages the engine took (one or more batches), waiting to be made durable and acknowledged.
pub struct Commit {
    pub wal: WalSyncer,
    pub sink: Option<SinkSync>,
    pub acks: Vec<AckToken>,
}

/// Messages the ingest loop takes at once at most (one write to the log, one commit).
pub const BATCH: usize = 4096;

/// Commits queued to the committer at most. While the queue is full the ingest loop gathers
/// what it takes into one open commit (up to [`BATCH`] messages), so a busy disk means fewer,
/// larger commits rather than a queue of small ones. Messages taken but not yet acknowledged are
/// at most (QUEUE + GROUP + 1) commits of [`BATCH`]; they must fit in [`RecentMessages`]
/// (which recognises their redelivery after a crash): 6 × 4,096 < 65,536.
pub const QUEUE: usize = 1;
/// Commits one fsync may cover.
pub const GROUP: usize = 4;
/// The shortest time between the starts of two fsyncs. Under a steady stream an fsync per few
/// messages costs more CPU than the messages themselves; waiting this long lets one fsync cover
/// everything that arrived meanwhile. It adds at most this much to an ack's latency; an fsync
/// after a quiet spell starts at once.
pub const FSYNC_EVERY: Duration = Duration::from_millis(2);

/// Starts the committer. It runs until the sender is dropped and every batch queued before is
/// handled; on a failed fsync it acknowledges nothing more and cancels `shutdown` (the broker
/// keeps what was not acknowledged and redelivers it after the restart).
/// `fsyncs` counts the write-ahead log's fsyncs (`dcpue_wal_fsyncs_total`).
pub fn spawn(
    shutdown: CancellationToken,
    fsyncs: prometheus::IntCounter,
) -> (mpsc::Sender<Commit>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (tx, tokio::spawn(run(rx, shutdown, fsyncs)))
}

async fn run(
    mut rx: mpsc::Receiver<Commit>,
    shutdown: CancellationToken,
    fsyncs: prometheus::IntCounter,
) {
    let mut jobs = Vec::with_capacity(GROUP);
    let mut last_fsync: Option<Instant> = None;
    while rx.recv_many(&mut jobs, GROUP).await > 0 {
        if let Some(due) = last_fsync
            .map(|t| t + FSYNC_EVERY)
            .filter(|&d| d > Instant::now())
        {
            tokio::time::sleep_until(due).await;
            while jobs.len() < GROUP {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
        }
        last_fsync = Some(Instant::now());
        if let Err(e) = make_durable(&mut jobs, &fsyncs).await {
            tracing::error!("cannot make ingest durable, stopping without acknowledging: {e}");
            shutdown.cancel();
            // Dropping the queue drops its acks: those messages stay with the broker.
            return;
        }
        let acks: Vec<AckToken> = jobs.drain(..).flat_map(|j| j.acks).collect();
        AckToken::ack_all(acks);
    }
}

/// One fsync per log file among `jobs` (all batches of a group share it), then the sink's.
async fn make_durable(
    jobs: &mut [Commit],
    fsyncs: &prometheus::IntCounter,
) -> Result<(), CommitError> {
    let mut files: Vec<WalSyncer> = Vec::new();
    for j in jobs.iter() {
        if !files.iter().any(|f| f.same_file(&j.wal)) {
            files.push(j.wal.clone());
        }
    }
    fsyncs.inc_by(files.len() as u64);
    tokio::task::spawn_blocking(move || files.iter().try_for_each(|f| f.sync())).await??;
    for j in jobs.iter_mut() {
        if let Some(s) = j.sink.take() {
            s.await.map_err(CommitError::Sink)?;
        }
    }
    Ok(())
}

// Redeliveries of every message taken but not acknowledged are recognised after a crash.
const _: () = assert!((QUEUE + GROUP + 1) * BATCH <= RecentMessages::CAP);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::wal::Wal;

    fn commit(wal: &mut Wal) -> Commit {
        wal.append(0, "dc/f/m", b"{}").unwrap();
        Commit {
            wal: wal.flushed().unwrap(),
            sink: None,
            acks: Vec::new(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn fsyncs_are_paced_under_a_stream_and_immediate_after_a_quiet_spell() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path()).unwrap();
        let fsyncs = prometheus::IntCounter::new("f", "f").unwrap();
        let (tx, committer) = spawn(CancellationToken::new(), fsyncs.clone());

        // A commit after a quiet spell is made durable at once.
        tx.send(commit(&mut wal)).await.unwrap();
        let t0 = Instant::now();
        while fsyncs.get() < 1 {
            tokio::task::yield_now().await;
        }
        assert!(
            t0.elapsed() < FSYNC_EVERY,
            "first fsync waited {:?}",
            t0.elapsed()
        );

        // A stream of commits, five every millisecond (the timer's resolution) for 40 ms: at
        // most one fsync per FSYNC_EVERY, not one per commit or per millisecond.
        let start = Instant::now();
        for _ in 0..40 {
            for _ in 0..5 {
                tx.send(commit(&mut wal)).await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(tx);
        committer.await.unwrap();
        let span = start.elapsed();
        let per_interval = span.as_micros() / FSYNC_EVERY.as_micros() + 2;
        let n = fsyncs.get() - 1;
        assert!(n >= 2, "{n} fsyncs for 200 commits");
        assert!(span >= Duration::from_millis(40), "{span:?}");
        assert!(n as u128 <= per_interval, "{n} fsyncs in {span:?}");
    }
}
