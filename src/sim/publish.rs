//! Publishing the model's readings to an MQTT broker (QoS 1), live or a past period as fast as
//! the broker takes it. Backpressure is honest: a publish waits while the in-flight window is
//! full, and the run ends only when the broker has acknowledged every message.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS, Transport};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::model::{SimModel, Totals};
use super::{SimError, SimulateArgs};
use crate::config::broker_url::{self, BrokerUrl};
use crate::config::Config;
use crate::duration::parse_span;

/// What a run published.
#[derive(Debug, Clone, Default)]
pub struct SimSummary {
    /// Messages published and acknowledged by the broker.
    pub messages: u64,
    pub acked: u64,
    /// Readings in those messages.
    pub readings: u64,
    /// Event time covered: readings with `from_ms <= ts < to_ms`.
    pub from_ms: i64,
    pub to_ms: i64,
    /// The model's own energy totals per facility over [from_ms, to_ms).
    pub totals: Vec<(String, Totals)>,
    pub elapsed: Duration,
}

/// Parses a time for --from/--to: RFC 3339, `YYYY-MM-DD` (midnight Beijing time), `now`, or a
/// span before now like `-7d`, `-2h`, `-30m`. Epoch milliseconds.
pub fn parse_time(s: &str) -> Result<i64, SimError> {
    parse_time_at(
        s,
        chrono::Utc::now().timestamp_millis(),
        chrono_tz::Asia::Shanghai,
    )
}

/// [`parse_time`] relative to `now_ms`, dates at midnight in `tz`.
pub fn parse_time_at(s: &str, now_ms: i64, tz: chrono_tz::Tz) -> Result<i64, SimError> {
    let s = s.trim();
    if s == "now" {
        return Ok(now_ms);
    }
    if let Some(rel) = s.strip_prefix('-') {
        return parse_span(rel)
            .map(|span| now_ms - span.ms())
            .map_err(|_| SimError::Time(s.into()));
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Ok(d.timestamp_millis());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let midnight = d
            .and_hms_opt(0, 0, 0)
            .ok_or_else(|| SimError::Time(s.into()))?;
        return tz
            .from_local_datetime(&midnight)
            .earliest()
            .map(|t| t.timestamp_millis())
            .ok_or_else(|| SimError::Time(s.into()));
    }
    Err(SimError::Time(s.into()))
}

fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// TLS for mqtts://: the collector's (`ingest::mqtt::options::tls_config`): the config's
/// `ca_file` (else the system CA bundle) and, when both are set, its client certificate and key.
fn tls_transport(cfg: &Config) -> Result<Transport, SimError> {
    Ok(Transport::tls_with_config(
        crate::ingest::mqtt::options::tls_config(&cfg.mqtt)?,
    ))
}

/// Publishes simulated readings for every facility of `cfg` to `broker_url` as `opts` asks; a
/// live run stops on Ctrl-C.
pub async fn run_simulate(
    cfg: &Config,
    broker_url: &str,
    opts: SimulateArgs,
) -> Result<SimSummary, SimError> {
    let stop = CancellationToken::new();
    let s2 = stop.clone();
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            s2.cancel();
        }
    });
    let r = run_simulate_until(cfg, broker_url, opts, stop).await;
    ctrl_c.abort();
    r
}

/// [`run_simulate`], stopping when `stop` is cancelled (messages already handed to the client are
/// still waited for, up to 10 s).
pub async fn run_simulate_until(
    cfg: &Config,
    broker_url: &str,
    opts: SimulateArgs,
    stop: CancellationToken,
) -> Result<SimSummary, SimError> {
    let started = Instant::now();
    let now = wall_ms();
    let tz = cfg.timezone();
    let step_ms = parse_span(&opts.step)?.ms();
    if step_ms < 1000 {
        return Err(SimError::Args("--step must be at least 1s".into()));
    }
    if let Some(r) = opts.rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(SimError::Args("--rate must be a positive number".into()));
        }
    }
    let from = opts
        .from
        .as_deref()
        .map(|s| parse_time_at(s, now, tz))
        .transpose()?;
    let to = opts
        .to
        .as_deref()
        .map(|s| parse_time_at(s, now, tz))
        .transpose()?;
    if to.is_some() && from.is_none() {
        return Err(SimError::Args("--to needs --from".into()));
    }
    if let (Some(f), Some(t)) = (from, to) {
        if t <= f {
            return Err(SimError::Args("--to must be after --from".into()));
        }
    }
    let sim_opts = opts.sim_options(now)?;
    let model = SimModel::new(cfg, opts.seed, sim_opts);

    let BrokerUrl { tls, host, port } = broker_url::parse(broker_url)?;
    let client_id = opts
        .client_id
        .clone()
        .unwrap_or_else(|| format!("dcpue-sim-{}", std::process::id()));
    let mut mo = MqttOptions::new(client_id, host, port);
    mo.set_keep_alive(Duration::from_secs(30))
        .set_clean_session(true)
        .set_max_packet_size(1024 * 1024, 1024 * 1024)
        .set_inflight(opts.inflight.max(1));
    if tls {
        mo.set_transport(tls_transport(cfg)?);
    }
    if let Some(user) = &cfg.mqtt.username {
        let pass = match &cfg.mqtt.password_file {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|source| SimError::Read {
                    path: p.display().to_string(),
                    source,
                })?
                .trim_end()
                .to_string(),
            None => String::new(),
        };
        mo.set_credentials(user.clone(), pass);
    }
    let (client, mut eventloop) = AsyncClient::new(mo, 256);

    // The event loop: counts acknowledgements, reconnects, fails early if never connected.
    let acked = Arc::new(AtomicU64::new(0));
    let connected = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(Notify::new());
    let loop_task = {
        let (acked, connected, progress) = (acked.clone(), connected.clone(), progress.clone());
        let url = broker_url.to_string();
        tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        connected.store(true, Ordering::SeqCst);
                        failures = 0;
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        acked.fetch_add(1, Ordering::SeqCst);
                        progress.notify_waiters();
                    }
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => {
                        failures += 1;
                        if !connected.load(Ordering::SeqCst) && failures >= 5 {
                            progress.notify_waiters();
                            return Err(SimError::Connect {
                                url,
                                reason: e.to_string(),
                            });
                        }
                        tracing::warn!(error = %e, "simulator: MQTT connection lost, reconnecting");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        })
    };

    // The producer: walks event time, publishing each message (waits while the client is full).
    let start = from.unwrap_or(now);
    let produce = produce(ProduceArgs {
        model,
        client: client.clone(),
        start,
        to,
        rate: opts.rate,
        step_ms,
        batch: opts.batch.max(1) as i64,
        stop: stop.clone(),
        show_progress: !opts.quiet && std::io::stderr().is_terminal(),
    });
    tokio::pin!(produce);
    let mut loop_task = loop_task;
    let (model, messages, readings, end) = tokio::select! {
        r = &mut produce => match r {
            Ok(v) => v,
            Err(e) => {
                // A publish fails when the event loop gave up: its error says why.
                if let Ok(Ok(Err(le))) = tokio::time::timeout(Duration::from_secs(2), &mut loop_task).await {
                    return Err(le);
                }
                return Err(e);
            }
        },
        r = &mut loop_task => {
            return Err(match r {
                Ok(Err(e)) => e,
                Ok(Ok(())) => SimError::Mqtt("the connection closed".into()),
                Err(e) => SimError::Mqtt(e.to_string()),
            });
        }
    };

    // Every message acknowledged before disconnecting.
    let deadline = if stop.is_cancelled() {
        Some(Instant::now() + Duration::from_secs(10))
    } else {
        None
    };
    loop {
        let notified = progress.notified();
        if acked.load(Ordering::SeqCst) >= messages {
            break;
        }
        if loop_task.is_finished() {
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
    }
    let _ = client.disconnect().await;
    match tokio::time::timeout(Duration::from_secs(5), &mut loop_task).await {
        Ok(Ok(Err(e))) => return Err(e),
        Ok(_) => {}
        Err(_) => loop_task.abort(),
    }
    let acked_n = acked.load(Ordering::SeqCst);
    if acked_n < messages && !stop.is_cancelled() {
        return Err(SimError::Mqtt(format!(
            "the broker acknowledged {acked_n} of {messages} messages"
        )));
    }
    let totals = model
        .facility_ids()
        .into_iter()
        .filter_map(|f| model.totals(&f, start, end).map(|t| (f, t)))
        .collect();
    Ok(SimSummary {
        messages,
        acked: acked_n,
        readings,
        from_ms: start,
        to_ms: end,
        totals,
        elapsed: started.elapsed(),
    })
}

/// The simulator side of `dcpue demo`: a fast backfill of the compliance window and a bit more
/// (366 days of 15-minute readings in day-long gateway batches, up to a day ago), then the last
/// day in 1-minute readings as fast as the broker takes them, then live at real time until
/// `stop`. `on_phase` is told "backfill", then "catch-up" (which continues live) as each starts.
pub async fn demo_feed(
    cfg: &Config,
    broker_url: &str,
    seed: u64,
    stop: CancellationToken,
    on_phase: impl Fn(&str) + Send,
) -> Result<(), SimError> {
    let now = wall_ms();
    let day = 86_400_000;
    let backfill_from = now - 366 * day - now.rem_euclid(day);
    let backfill_to = now - day - now.rem_euclid(15 * 60_000);
    let quiet = !std::io::stderr().is_terminal();
    let ms = |t: i64| {
        chrono::DateTime::from_timestamp_millis(t)
            .map(|d| d.to_rfc3339())
            .unwrap_or_default()
    };
    on_phase("backfill");
    let backfill = SimulateArgs {
        from: Some(ms(backfill_from)),
        to: Some(ms(backfill_to)),
        seed,
        step: "15m".into(),
        batch: 96,
        quiet,
        inflight: 500,
        ..Default::default()
    };
    run_simulate_until(cfg, broker_url, backfill, stop.clone()).await?;
    if stop.is_cancelled() {
        return Ok(());
    }
    on_phase("catch-up");
    let recent = SimulateArgs {
        from: Some(ms(backfill_to)),
        seed,
        step: "1m".into(),
        quiet,
        ..Default::default()
    };
    // Fast up to now, then live at real time.
    run_simulate_until(cfg, broker_url, recent, stop).await?;
    Ok(())
}

struct ProduceArgs {
    model: SimModel,
    client: AsyncClient,
    start: i64,
    to: Option<i64>,
    rate: Option<f64>,
    step_ms: i64,
    batch: i64,
    stop: CancellationToken,
    show_progress: bool,
}

fn align_down(t: i64, step: i64) -> i64 {
    t - t.rem_euclid(step)
}

/// Returns (model, messages, readings, end of the published event time).
async fn produce(a: ProduceArgs) -> Result<(SimModel, u64, u64, i64), SimError> {
    let ProduceArgs {
        mut model,
        client,
        start,
        to,
        rate,
        step_ms,
        batch,
        stop,
        show_progress,
    } = a;
    let wall0 = wall_ms();
    let (mut messages, mut readings) = (0u64, 0u64);
    let mut cursor = start;
    // Fast phase: no --rate; up to --to or now, whichever is first (never the future).
    let fast_end = if rate.is_none() {
        Some(to.unwrap_or(wall0).min(wall0).max(start))
    } else {
        None
    };
    let bar = if show_progress && fast_end.is_some_and(|e| e > start) {
        let len = ((fast_end.unwrap_or(start) - start) / 60_000).max(1) as u64;
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {percent}% simulated minutes {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let chunk = (step_ms * batch).max(step_ms);
    // Publishes [cursor, end).
    macro_rules! publish_until {
        ($end:expr, $live:expr) => {{
            let end: i64 = $end;
            if end > cursor || $live == 2 {
                let mut it: Box<dyn Iterator<Item = super::SimMessage> + Send + '_> = match $live {
                    0 => Box::new(model.readings_between(cursor, end, step_ms)),
                    1 => Box::new(model.readings_between_live(cursor, end, step_ms)),
                    _ => Box::new(model.drain_late().into_iter()),
                };
                while let Some(m) = it.next() {
                    if stop.is_cancelled() {
                        break;
                    }
                    // Waits while the client is full (backpressure), but not past a stop.
                    tokio::select! {
                        r = client.publish(m.topic, QoS::AtLeastOnce, false, m.payload.into_bytes()) => {
                            r.map_err(|e| SimError::Mqtt(e.to_string()))?
                        }
                        _ = stop.cancelled() => break,
                    }
                    messages += 1;
                    readings += m.readings as u64;
                    if let Some(b) = &bar {
                        b.set_position(((m.ts_ms - start).max(0) / 60_000) as u64);
                        b.set_message(format!("{messages} messages"));
                    }
                }
                drop(it);
                cursor = cursor.max(end);
            }
        }};
    }
    if let Some(fe) = fast_end {
        // A day at a time (aligned to whole batches), so late messages stay near their time.
        let day = (86_400_000 / chunk).max(1) * chunk;
        while cursor < fe && !stop.is_cancelled() {
            let next = (align_down(cursor, chunk) + day).min(fe);
            publish_until!(next, 0);
        }
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        if to.is_some_and(|t| cursor >= t) || stop.is_cancelled() {
            return Ok((model, messages, readings, cursor));
        }
    }
    // Live phase: event time = live_start + (wall − wall_start) × rate, never ahead of the wall
    // clock, published a whole batch of steps at a time (readings with ts ≤ the chunk's end).
    let rate = rate.unwrap_or(1.0);
    let (live_start, wall_start) = (cursor, wall_ms());
    loop {
        let w = wall_ms();
        let event_now = ((live_start as f64 + (w - wall_start) as f64 * rate) as i64).min(w);
        let mut target = align_down(event_now, chunk) + 1;
        if let Some(t) = to {
            target = target.min(t);
        }
        if target > cursor {
            publish_until!(target, 1);
        }
        if to.is_some_and(|t| cursor >= t) || stop.is_cancelled() {
            // Late messages still held are sent before leaving.
            publish_until!(cursor, 2);
            break;
        }
        // Sleep until the next chunk is due in wall time (or stop).
        let next_event = align_down(cursor, chunk) + chunk;
        let wait_event = (next_event - event_now).max(0) as f64 / rate;
        let wait_wall = (next_event - w).max(0) as f64;
        let wait = wait_event.max(wait_wall).clamp(50.0, 60_000.0);
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
        }
    }
    Ok((model, messages, readings, cursor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_every_form() {
        let tz = chrono_tz::Asia::Shanghai;
        let now = 1_764_300_000_000;
        assert_eq!(parse_time_at("now", now, tz).ok(), Some(now));
        assert_eq!(
            parse_time_at("-7d", now, tz).ok(),
            Some(now - 7 * 86_400_000)
        );
        assert_eq!(parse_time_at("-90m", now, tz).ok(), Some(now - 90 * 60_000));
        assert_eq!(
            parse_time_at("2026-11-28T03:00:00+08:00", now, tz).ok(),
            Some(1_795_806_000_000)
        );
        assert_eq!(
            parse_time_at("2026-11-28", now, tz).ok(),
            Some(1_795_795_200_000)
        );
        assert!(parse_time_at("yesterday", now, tz).is_err());
        assert!(parse_time_at("-7x", now, tz).is_err());
    }
}
