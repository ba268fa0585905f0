//! CPU-heavy, read-only request work (history series) on its own thread, one job at a time, at
//! a lower CPU priority than ingest: however many such requests come in, they queue here and
//! only get the CPU ingest leaves.

use tokio::sync::{mpsc, oneshot};

/// Jobs waiting for the thread; beyond it callers wait to enqueue.
const QUEUE: usize = 64;
/// Nice value of the thread (Linux): under CPU contention it gets about a tenth of what a
/// normal thread gets; on an idle machine all it needs.
const NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug, thiserror::Error)]
pub enum BackgroundError {
    #[error("the background worker has stopped")]
    Stopped,
    #[error("the background job failed (panicked)")]
    Failed,
}

/// A handle to the worker thread; the thread ends when every handle is dropped.
#[derive(Debug, Clone)]
pub struct Background {
    tx: mpsc::Sender<Job>,
}

impl Background {
    /// Starts the thread (named `name`).
    pub fn start(name: &str) -> Background {
        let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
        let spawned = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                lower_priority();
                while let Some(job) = rx.blocking_recv() {
                    // A panicking job loses its own answer only; the thread goes on.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            });
        if let Err(e) = spawned {
            // The receiver is gone with the closure: every run() says Stopped.
            tracing::error!(error = %e, "cannot start the {name} thread");
        }
        Background { tx }
    }

    /// Runs `f` on the thread after the jobs queued before it; waits while the queue is full.
    /// If the caller goes away, a job already queued still runs (it is bounded work).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, BackgroundError> {
        let (done_tx, done_rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done_tx.send(f());
        });
        self.tx
            .send(job)
            .await
            .map_err(|_| BackgroundError::Stopped)?;
        done_rx.await.map_err(|_| BackgroundError::Failed)
    }
}

/// Lowers the calling thread's CPU priority (on Linux, nice is per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority only reads its integer arguments; `who = 0` with PRIO_PROCESS is
        // the calling thread on Linux. Failure leaves the priority as it was.
        let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, NICE) };
        if r != 0 {
            tracing::debug!(
                error = %std::io::Error::last_os_error(),
                "cannot lower the background thread's priority"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_in_order_and_return_their_results() {
        let bg = Background::start("test-bg");
        let (a, b) = tokio::join!(bg.run(|| 1 + 1), bg.run(|| "two"));
        assert_eq!((a.ok(), b.ok()), (Some(2), Some("two")));
    }

    #[tokio::test]
    async fn a_job_that_panics_is_an_error_not_a_hang() {
        let bg = Background::start("test-bg-panic");
        let r = bg.run(|| -> u8 { panic!("boom") }).await;
        assert!(matches!(r, Err(BackgroundError::Failed)));
        assert_eq!(bg.run(|| 3).await.ok(), Some(3), "the thread goes on");
    }
}
