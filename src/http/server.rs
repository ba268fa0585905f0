//! The HTTP accept loop (CONTRACT §10): at most `[http] max_connections` connections served
//! at once (beyond it the loop stops accepting, so new ones wait in the listen backlog), a
//! client that has not sent its request headers within `[http] header_timeout` is dropped,
//! and shutdown ends every connection within a grace period.
//!
//! Each connection goes accept → TLS handshake when the web config sets TLS (inside the header
//! deadline, so a client that stalls its handshake is dropped like one that stalls its
//! headers) → [`serve_io`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::HttpConfig;

/// File descriptors kept for everything but HTTP connections (log segments, checkpoints,
/// alert history, sink spool, the broker connection).
pub const RESERVED_FDS: u64 = 128;
/// How long in-flight requests may run on after shutdown is asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Pause after a failed accept (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How the accept loop serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerOptions {
    pub header_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

impl ServerOptions {
    /// From the config; `nofile`, the process's open-file limit when known, caps the
    /// connections so that [`RESERVED_FDS`] stay for storage.
    pub fn new(http: &HttpConfig, nofile: Option<u64>) -> ServerOptions {
        let mut max = http.max_connections.max(1);
        if let Some(limit) = nofile {
            let room = usize::try_from(limit.saturating_sub(RESERVED_FDS))
                .unwrap_or(usize::MAX)
                .max(1);
            if room < max {
                tracing::warn!(
                    max_connections = max,
                    nofile = limit,
                    serving = room,
                    "the open-file limit leaves room for fewer HTTP connections than [http] \
                     max_connections: serving at most {room} at once (raise the limit, e.g. \
                     LimitNOFILE= in the systemd unit)"
                );
                max = room;
            }
        }
        ServerOptions {
            header_timeout: http.header_timeout.as_std(),
            max_connections: max,
            shutdown_grace: SHUTDOWN_GRACE,
        }
    }
}

/// Raises the soft open-file limit to the hard limit (as Go programs and Prometheus do), so
/// that HTTP connections cannot take the descriptors storage needs. Returns the soft limit
/// now in force, None where it cannot be read.
pub fn raise_nofile_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let before = rlimit::Resource::NOFILE.get().ok();
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(now) => {
                let (soft, hard) = before.unwrap_or((now, now));
                if now > soft {
                    tracing::info!(
                        from = soft,
                        to = now,
                        hard,
                        "raised the open-file limit to the hard limit"
                    );
                } else {
                    tracing::info!(nofile = now, hard, "open-file limit");
                }
                Some(now)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot raise the open-file limit");
                before.map(|(soft, _)| soft)
            }
        }
    }
    #[cfg(not(unix))]
    None
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then gives open connections
/// `shutdown_grace` to finish their requests and closes the rest.
pub async fn run(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    opts: ServerOptions,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(opts.max_connections.max(1)));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_timeout);
    let builder = Arc::new(builder);
    let mut conns = JoinSet::new();
    loop {
        // At the limit, stop accepting: new connections wait in the kernel's backlog.
        let permit = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, remote) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    }
                }
            },
        };
        while conns.try_join_next().is_some() {}
        conns.spawn(connection(
            stream,
            remote,
            app.clone(),
            tls.clone(),
            builder.clone(),
            Instant::now() + opts.header_timeout,
            shutdown.clone(),
            permit,
        ));
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(opts.shutdown_grace, drain)
        .await
        .is_err()
    {
        tracing::warn!(
            connections = conns.len(),
            "HTTP connections still busy after the shutdown grace period: closed"
        );
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
}

/// One accepted connection; holds its slot until it ends.
#[allow(clippy::too_many_arguments)]
async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: Router,
    tls: Option<TlsAcceptor>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    header_deadline: Instant,
    shutdown: CancellationToken,
    _slot: OwnedSemaphorePermit,
) {
    let Some(acceptor) = tls else {
        let io = TokioIo::new(stream);
        return serve_io(io, remote, app, &builder, header_deadline, shutdown).await;
    };
    let handshake = tokio::time::timeout_at(header_deadline, acceptor.accept(stream));
    let stream = tokio::select! {
        _ = shutdown.cancelled() => return,
        r = handshake => match r {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(%remote, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%remote, "TLS handshake not done within header_timeout: dropped");
                return;
            }
        },
    };
    let io = TokioIo::new(stream);
    serve_io(io, remote, app, &builder, header_deadline, shutdown).await;
}

/// Serves HTTP on one connection's stream: dropped when no request headers have arrived by
/// `header_deadline` (after the first request, hyper's header read timeout bounds the wait
/// for each next one); asked to finish gracefully when `shutdown` is cancelled.
pub async fn serve_io<I>(
    io: I,
    remote: SocketAddr,
    app: Router,
    builder: &auto::Builder<TokioExecutor>,
    header_deadline: Instant,
    shutdown: CancellationToken,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let seen = Arc::new(AtomicBool::new(false));
    let svc = {
        let seen = seen.clone();
        let app = TowerToHyperService::new(app);
        hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            seen.store(true, Ordering::Relaxed);
            req.extensions_mut().insert(ConnectInfo(remote));
            app.call(req)
        })
    };
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    let deadline = tokio::time::sleep_until(header_deadline);
    tokio::pin!(deadline);
    let (mut armed, mut closing) = (true, false);
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%remote, error = %e, "HTTP connection ended");
                }
                return;
            }
            _ = &mut deadline, if armed => {
                if !seen.load(Ordering::Relaxed) {
                    tracing::debug!(%remote, "HTTP client sent no request headers within header_timeout: dropped");
                    return;
                }
                armed = false;
            }
            _ = shutdown.cancelled(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}

#[cfg(test)]
mod tests;
