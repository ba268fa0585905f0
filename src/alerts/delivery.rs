//! Delivery (CONTRACT §2 `[alerting]`, §5): firing and resolved alerts to each Alertmanager
//! through its v2 API (`POST {url}/api/v2/alerts`, the JSON Prometheus sends, wall-clock
//! `startsAt`/`endsAt`), and to generic JSON webhooks.
//!
//! - Firing alerts go out as soon as they fire, then again every `resend_every` (default 1m) for
//!   as long as they fire — on the wall clock, so also while the watermark stalls — with
//!   `endsAt` = now + 4 × resend_every, as Prometheus does: if dcpue dies, Alertmanager resolves
//!   them by itself after that.
//! - A resolved alert goes out with `endsAt` = the wall-clock time it resolved; until a receiver
//!   has taken it, it is retried with every later send.
//! - Webhooks get transitions only: `{"version":"4","status":"firing"|"resolved","receiver":"dcpue","alerts":[…]}`
//!   with each alert as in Alertmanager's own webhook.
//! - Each request is retried with backoff (0.5 s, 1 s, 2 s); outcomes are counted in
//!   `dcpue_alert_notifications_total{receiver,result}` and failed attempts in
//!   `dcpue_alert_notification_errors_total{receiver}`.
//! - [`AlertDelivery::send`] never blocks: it replaces the pending firing snapshot and queues
//!   resolved alerts in a bounded queue whose oldest entries are dropped (and counted in
//!   `dcpue_alert_notifications_dropped_total`) if the receivers cannot keep up.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus::{IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};
use serde::Serialize;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::state::{ActiveAlert, AlertChange, AlertEngine, AlertState, ResolvedAlert};
use super::{fmt_utc, AlertError};
use crate::config::AlertingConfig;

/// Resolved alerts waiting in the inbox, and per receiver for a retry, at most.
pub const QUEUE_MAX: usize = 10_000;
const BACKOFF: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// One alert in Alertmanager's v2 `postableAlert` form (also the webhook's alert form).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AmAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: String,
    #[serde(rename = "endsAt")]
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    #[serde(skip)]
    key: String,
    #[serde(skip)]
    resolved: bool,
}

#[derive(Serialize)]
struct WebhookAlert<'a> {
    status: &'static str,
    #[serde(flatten)]
    alert: &'a AmAlert,
    fingerprint: &'a str,
}

#[derive(Serialize)]
struct WebhookBody<'a> {
    version: &'static str,
    status: &'static str,
    receiver: &'static str,
    alerts: Vec<WebhookAlert<'a>>,
}

#[derive(Default)]
struct Inbox {
    firing: Option<Vec<ActiveAlert>>,
    resolved: VecDeque<ResolvedAlert>,
}

struct Shared {
    inbox: Mutex<Inbox>,
    notify: Notify,
}

#[derive(Clone)]
struct Metrics {
    sent: IntCounterVec,
    errors: IntCounterVec,
    dropped: IntCounter,
}

impl Metrics {
    fn register(registry: &Registry) -> Result<Metrics, AlertError> {
        let sent = IntCounterVec::new(
            Opts::new(
                "dcpue_alert_notifications_total",
                "Alert notifications by receiver and final result (success, failure).",
            ),
            &["receiver", "result"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "dcpue_alert_notification_errors_total",
                "Failed alert notification attempts (each retry counted).",
            ),
            &["receiver"],
        )?;
        let dropped = IntCounter::new(
            "dcpue_alert_notifications_dropped_total",
            "Resolved alert notifications dropped because a bounded delivery queue overflowed.",
        )?;
        registry.register(Box::new(sent.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(dropped.clone()))?;
        Ok(Metrics {
            sent,
            errors,
            dropped,
        })
    }
}

/// A receiver: its URL to POST to and its label (the URL without credentials or query).
#[derive(Clone)]
struct Receiver {
    url: String,
    label: String,
}

impl Receiver {
    fn new(base: &str, path: &str) -> Receiver {
        let url = format!("{}{}", base.trim_end_matches('/'), path);
        let label = match reqwest::Url::parse(base) {
            Ok(mut u) => {
                let _ = u.set_username("");
                let _ = u.set_password(None);
                u.set_query(None);
                u.to_string().trim_end_matches('/').to_string()
            }
            Err(_) => base.to_string(),
        };
        Receiver { url, label }
    }
}

/// The delivery task's handle. Dropping it stops the task.
pub struct AlertDelivery {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
    metrics: Metrics,
}

impl AlertDelivery {
    /// Starts the delivery task (on the current tokio runtime) and registers its metrics.
    /// `generator_url` is each alert's `generatorURL` (e.g. `http://host:9184/api/v1/alerts`).
    pub fn start(
        cfg: &AlertingConfig,
        generator_url: &str,
        registry: &Registry,
    ) -> Result<AlertDelivery, AlertError> {
        let metrics = Metrics::register(registry)?;
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Inbox::default()),
            notify: Notify::new(),
        });
        let cancel = CancellationToken::new();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| AlertError::Delivery(e.to_string()))?;
        let resend = cfg
            .resend_every
            .map(|s| s.as_std())
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(60));
        let task = Task {
            shared: shared.clone(),
            client,
            alertmanagers: cfg
                .alertmanagers
                .iter()
                .map(|u| Receiver::new(u, "/api/v2/alerts"))
                .collect(),
            webhooks: cfg.webhooks.iter().map(|u| Receiver::new(u, "")).collect(),
            resend,
            generator_url: generator_url.to_string(),
            metrics: metrics.clone(),
        };
        let task = tokio::spawn(task.run(cancel.clone()));
        Ok(AlertDelivery {
            shared,
            cancel,
            task: Some(task),
            metrics,
        })
    }

    /// Hands over the currently firing alerts (the full set: it replaces the previous one) and
    /// newly resolved ones. Never blocks.
    pub fn send(&self, firing: Vec<ActiveAlert>, resolved: Vec<ResolvedAlert>) {
        {
            let mut inbox = match self.shared.inbox.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            inbox.firing = Some(
                firing
                    .into_iter()
                    .filter(|a| a.state == AlertState::Firing)
                    .collect(),
            );
            for r in resolved {
                if inbox.resolved.len() >= QUEUE_MAX {
                    inbox.resolved.pop_front();
                    self.metrics.dropped.inc();
                }
                inbox.resolved.push_back(r);
            }
        }
        self.shared.notify.notify_one();
    }

    /// [`send`](Self::send) with the engine's firing alerts and the resolved ones among `changes`.
    pub fn publish(&self, engine: &AlertEngine, changes: &[AlertChange]) {
        let resolved = changes
            .iter()
            .filter_map(|c| match c {
                AlertChange::Resolved(r) => Some(r.clone()),
                _ => None,
            })
            .collect();
        self.send(engine.firing(), resolved);
    }

    /// Sends what is queued (best effort, up to `timeout`) and stops the task.
    pub async fn shutdown(mut self, timeout: Duration) {
        self.cancel.cancel();
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(timeout, t).await;
        }
    }
}

impl Drop for AlertDelivery {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

struct Task {
    shared: Arc<Shared>,
    client: reqwest::Client,
    alertmanagers: Vec<Receiver>,
    webhooks: Vec<Receiver>,
    resend: Duration,
    generator_url: String,
    metrics: Metrics,
}

fn wall_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Task {
    async fn run(self, cancel: CancellationToken) {
        let mut firing: BTreeMap<String, ActiveAlert> = BTreeMap::new();
        let mut am_retry: Vec<VecDeque<AmAlert>> = vec![VecDeque::new(); self.alertmanagers.len()];
        let mut hook_retry: Vec<VecDeque<AmAlert>> = vec![VecDeque::new(); self.webhooks.len()];
        let mut next_resend = tokio::time::Instant::now() + self.resend;
        loop {
            let stopping = tokio::select! {
                _ = cancel.cancelled() => true,
                _ = self.shared.notify.notified() => false,
                _ = tokio::time::sleep_until(next_resend) => false,
            };
            let (snapshot, resolved) = {
                let mut inbox = match self.shared.inbox.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                (inbox.firing.take(), std::mem::take(&mut inbox.resolved))
            };
            let now = wall_now_ms();
            let mut newly: Vec<AmAlert> = Vec::new();
            let mut ended: Vec<AmAlert> = Vec::new();
            // Resolutions first: an alert resolved and firing again since the last pass is
            // then sent as resolved, and as newly firing.
            for r in &resolved {
                firing.remove(&r.key);
                ended.push(self.resolved_alert(r));
            }
            if let Some(snap) = snapshot {
                let next: BTreeMap<String, ActiveAlert> =
                    snap.into_iter().map(|a| (a.key.clone(), a)).collect();
                for (k, a) in &next {
                    if !firing.contains_key(k) {
                        newly.push(self.firing_alert(a, now));
                    }
                }
                // Gone without a resolution (its rule was removed): end it now.
                for (k, a) in &firing {
                    if !next.contains_key(k) {
                        let mut x = self.firing_alert(a, now);
                        x.ends_at = fmt_utc(now.max(a.started_wall_ms));
                        x.resolved = true;
                        ended.push(x);
                    }
                }
                firing = next;
            }
            let resend_all = tokio::time::Instant::now() >= next_resend;
            if resend_all {
                next_resend = tokio::time::Instant::now() + self.resend;
            }
            let am_batch: Vec<AmAlert> = if resend_all {
                firing.values().map(|a| self.firing_alert(a, now)).collect()
            } else {
                newly.clone()
            };

            let this = &self;
            let ams = self
                .alertmanagers
                .iter()
                .zip(am_retry.iter_mut())
                .map(|(rx, retry)| {
                    let ended = &ended;
                    let am_batch = &am_batch;
                    async move {
                        // Resolved ones (also those a receiver has not taken yet) before firing.
                        enqueue(retry, ended.iter().cloned(), &this.metrics);
                        let mut batch: Vec<AmAlert> = retry.iter().cloned().collect();
                        batch.extend(am_batch.iter().cloned());
                        if batch.is_empty() {
                            return;
                        }
                        let body = match serde_json::to_vec(&batch) {
                            Ok(b) => b,
                            Err(e) => {
                                tracing::error!(error = %e, "cannot encode alerts");
                                return;
                            }
                        };
                        if this.post(rx, body).await {
                            retry.clear();
                        }
                    }
                });
            let hooks = self
                .webhooks
                .iter()
                .zip(hook_retry.iter_mut())
                .map(|(rx, retry)| {
                    let newly = &newly;
                    let ended = &ended;
                    async move {
                        // Resolved ones wait here until the receiver has them; firing transitions are
                        // sent once (the next transition or resend supersedes them).
                        enqueue(retry, ended.iter().cloned(), &this.metrics);
                        if !newly.is_empty() {
                            this.post_webhook(rx, "firing", newly).await;
                        }
                        if !retry.is_empty() {
                            let batch: Vec<AmAlert> = retry.iter().cloned().collect();
                            if this.post_webhook(rx, "resolved", &batch).await {
                                retry.clear();
                            }
                        }
                    }
                });
            futures::future::join(
                futures::future::join_all(ams),
                futures::future::join_all(hooks),
            )
            .await;
            if stopping {
                return;
            }
        }
    }

    fn firing_alert(&self, a: &ActiveAlert, now: i64) -> AmAlert {
        let ends = now + 4 * self.resend.as_millis() as i64;
        AmAlert {
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at: fmt_utc(a.started_wall_ms),
            ends_at: fmt_utc(ends),
            generator_url: self.generator_url.clone(),
            key: a.key.clone(),
            resolved: false,
        }
    }

    fn resolved_alert(&self, r: &ResolvedAlert) -> AmAlert {
        AmAlert {
            labels: r.labels.clone(),
            annotations: r.annotations.clone(),
            starts_at: fmt_utc(r.started_wall_ms),
            ends_at: fmt_utc(r.resolved_wall_ms.max(r.started_wall_ms)),
            generator_url: self.generator_url.clone(),
            key: r.key.clone(),
            resolved: true,
        }
    }

    async fn post_webhook(&self, rx: &Receiver, status: &'static str, alerts: &[AmAlert]) -> bool {
        let body = WebhookBody {
            version: "4",
            status,
            receiver: "dcpue",
            alerts: alerts
                .iter()
                .map(|a| WebhookAlert {
                    status: if a.resolved { "resolved" } else { "firing" },
                    alert: a,
                    fingerprint: &a.key,
                })
                .collect(),
        };
        match serde_json::to_vec(&body) {
            Ok(b) => self.post(rx, b).await,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode webhook body");
                false
            }
        }
    }

    /// POSTs `body` with retries; true when the receiver took it (2xx).
    async fn post(&self, rx: &Receiver, body: Vec<u8>) -> bool {
        for (attempt, pause) in std::iter::once(Duration::ZERO).chain(BACKOFF).enumerate() {
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
            let res = self
                .client
                .post(&rx.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => {
                    self.metrics
                        .sent
                        .with_label_values(&[rx.label.as_str(), "success"])
                        .inc();
                    return true;
                }
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    tracing::warn!(receiver = %rx.label, %status, body = %text.chars().take(300).collect::<String>(), attempt, "alert notification refused");
                    self.metrics
                        .errors
                        .with_label_values(&[rx.label.as_str()])
                        .inc();
                    if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS
                    {
                        break; // retrying the same payload will not help
                    }
                }
                Err(e) => {
                    tracing::warn!(receiver = %rx.label, error = %e, attempt, "alert notification failed");
                    self.metrics
                        .errors
                        .with_label_values(&[rx.label.as_str()])
                        .inc();
                }
            }
        }
        self.metrics
            .sent
            .with_label_values(&[rx.label.as_str(), "failure"])
            .inc();
        false
    }
}

fn enqueue(q: &mut VecDeque<AmAlert>, items: impl Iterator<Item = AmAlert>, m: &Metrics) {
    for a in items {
        if q.len() >= QUEUE_MAX {
            q.pop_front();
            m.dropped.inc();
        }
        q.push_back(a);
    }
}

/// `dcpue_alert_active{alertname,facility,window,meter,tier,severity}`: 1 while firing; the
/// series is removed when the alert resolves. Label values not applying to a rule are "".
pub struct ActiveAlertMetric {
    gauge: IntGaugeVec,
    current: Mutex<HashSet<Vec<String>>>,
}

const ACTIVE_LABELS: [&str; 6] = [
    "alertname",
    "facility",
    "window",
    "meter",
    "tier",
    "severity",
];

impl ActiveAlertMetric {
    pub fn register(registry: &Registry) -> Result<ActiveAlertMetric, AlertError> {
        let gauge = IntGaugeVec::new(
            Opts::new("dcpue_alert_active", "1 while the alert is firing."),
            &ACTIVE_LABELS,
        )?;
        registry.register(Box::new(gauge.clone()))?;
        Ok(ActiveAlertMetric {
            gauge,
            current: Mutex::new(HashSet::new()),
        })
    }

    /// Sets the gauge from the active alerts (pending ones are left out).
    pub fn update(&self, active: &[ActiveAlert]) {
        let now: HashSet<Vec<String>> = active
            .iter()
            .filter(|a| a.state == AlertState::Firing)
            .map(|a| {
                ACTIVE_LABELS
                    .iter()
                    .map(|l| a.labels.get(*l).cloned().unwrap_or_default())
                    .collect()
            })
            .collect();
        let mut cur = match self.current.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for v in now.iter() {
            let refs: Vec<&str> = v.iter().map(String::as_str).collect();
            self.gauge.with_label_values(&refs).set(1);
        }
        for v in cur.difference(&now) {
            let refs: Vec<&str> = v.iter().map(String::as_str).collect();
            let _ = self.gauge.remove_label_values(&refs);
        }
        *cur = now;
    }
}
