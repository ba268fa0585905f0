//! The event loop: reads the broker's packets through rumqttc, subscribes on every ConnAck,
//! hands messages on with backpressure, writes the app's acks in bulk, reconnects with backoff.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, Outgoing, Packet, PubAck, PubRec, Publish, QoS,
    Subscribe, SubscribeFilter, SubscribeReasonCode,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::acks::{AckQueue, AckToken};
use super::{
    eventloop, Incoming, MqttStatus, ACK_FLUSH_TIMEOUT, BACKOFF_MAX, BACKOFF_MIN, MAX_PACKET,
    MQTT_MAX_REMAINING,
};
use crate::ingest::{trickling, MAX_PAYLOAD};
use crate::logging::RateLimit;

/// The size of an incoming packet rumqttc refused as over the limit (before reading it).
fn oversized(e: &ConnectionError) -> Option<usize> {
    match e {
        ConnectionError::MqttState(rumqttc::StateError::Deserialization(
            rumqttc::Error::PayloadSizeLimitExceeded(n),
        )) => Some(*n),
        _ => None,
    }
}

pub(super) struct Driver {
    pub(super) client: AsyncClient,
    pub(super) eventloop: EventLoop,
    /// The filters, for logs.
    pub(super) filter: String,
    pub(super) filters: Vec<String>,
    pub(super) qos: QoS,
    pub(super) status: Arc<MqttStatus>,
    pub(super) acks: Arc<AckQueue>,
    /// The acks being written (swapped with the queue's, so neither allocates again).
    pub(super) ack_buf: Vec<(u64, QoS, u16)>,
    /// Writing acks failed while a message waited for room in the channel.
    pub(super) ack_error: Option<ConnectionError>,
    pub(super) tx: mpsc::Sender<Incoming>,
    pub(super) shutdown: CancellationToken,
}

impl Driver {
    pub(super) async fn run(mut self) {
        let mut backoff = BACKOFF_MIN;
        let mut error_log = RateLimit::new(Duration::from_secs(10));
        let (broker, client_id) = eventloop::broker(&self.eventloop);
        tracing::info!(%broker, %client_id, filter = %self.filter, "mqtt collector starting");
        // Messages are trickling in (the last read waited briefly for them): wait a moment
        // before the next read so it takes many at once.
        let mut linger = false;
        loop {
            let network_bound = !eventloop::has_buffered_events(&self.eventloop);
            if network_bound
                && std::mem::take(&mut linger)
                && !crate::ingest::linger(&self.shutdown).await
            {
                break;
            }
            let waited_since = network_bound.then(Instant::now);
            let acked = match self.ack_error.take() {
                Some(e) => Err(e),
                None => self.write_acks().await,
            };
            let event = match acked {
                Err(e) => {
                    // The connection broke under the acks: as if the read had failed.
                    self.eventloop.clean();
                    Err(e)
                }
                Ok(()) => {
                    let connected = eventloop::connected(&self.eventloop);
                    tokio::select! {
                        biased;
                        _ = self.shutdown.cancelled() => break,
                        // Acks are written between polls; a poll waiting on the network is
                        // interrupted for them (rumqttc's poll leaves nothing half-done when
                        // dropped while its write buffer is empty, which `write_acks` ensures).
                        // Not while connecting: there is nothing to ack on a new connection yet.
                        _ = self.acks.ready.notified(), if connected => continue,
                        ev = self.eventloop.poll() => ev,
                    }
                }
            };
            if let (Some(t), Ok(Event::Incoming(Packet::Publish(_)))) = (waited_since, &event) {
                linger = trickling(t.elapsed());
            }
            match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    // A connection given room for one oversized packet keeps it; the next one
                    // is bounded again.
                    eventloop::set_max_incoming(&mut self.eventloop, MAX_PACKET);
                    self.status.connected.store(true, Ordering::Relaxed);
                    self.status.connects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(session_present = ack.session_present, "mqtt connected");
                    // Subscribe on every ConnAck: a broker that lost the session (restarted
                    // without persistence) would otherwise send nothing.
                    // Ahead of anything queued (the request queue may be full of acks).
                    eventloop::subscribe_first(
                        &mut self.eventloop,
                        Subscribe::new_many(
                            self.filters
                                .iter()
                                .map(|f| SubscribeFilter::new(f.clone(), self.qos)),
                        ),
                    );
                }
                Ok(Event::Incoming(Packet::SubAck(suback))) => {
                    if suback
                        .return_codes
                        .iter()
                        .any(|c| matches!(c, SubscribeReasonCode::Failure))
                    {
                        tracing::error!(filter = %self.filter, "mqtt broker refused the subscription (check its ACLs); retrying");
                        self.eventloop.clean();
                        self.lost();
                        Self::pause(&self.shutdown, &mut backoff).await;
                    } else {
                        self.status.subscribed.store(true, Ordering::Relaxed);
                        backoff = BACKOFF_MIN;
                        tracing::info!(filter = %self.filter, granted = ?suback.return_codes, "mqtt subscribed");
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let epoch = self.status.epoch.load(Ordering::Acquire);
                    if !self.forward(p, epoch).await {
                        break;
                    }
                }
                Ok(Event::Incoming(Packet::Disconnect)) => {
                    tracing::warn!("mqtt broker sent DISCONNECT");
                }
                Ok(_) => {}
                Err(e) => {
                    // Messages read just before the error are still handed on (nothing read is
                    // dropped), tagged with the lost connection so their acks are not sent on
                    // the next one: the broker redelivers them.
                    let epoch = self.status.epoch.load(Ordering::Acquire);
                    let buffered = eventloop::take_buffered_publishes(&mut self.eventloop);
                    self.lost();
                    let mut stop = false;
                    for p in buffered {
                        if !self.forward(p, epoch).await {
                            stop = true;
                            break;
                        }
                    }
                    if stop {
                        break;
                    }
                    if let Some(held) = error_log.check() {
                        let held = if held > 0 {
                            format!(" ({held} similar errors not logged)")
                        } else {
                            String::new()
                        };
                        tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "mqtt connection lost or refused{held}");
                    } else {
                        tracing::debug!(error = %e, "mqtt connection error");
                    }
                    if matches!(e, ConnectionError::RequestsDone) {
                        break; // cannot happen while we hold the client; never spin on it
                    }
                    if let Some(size) = oversized(&e) {
                        // Read it on the next connection (once: a packet is larger than the
                        // last room only when it is a different one), so it is counted and
                        // acknowledged instead of breaking every connection.
                        tracing::warn!(
                            bytes = size,
                            limit = MAX_PACKET,
                            "mqtt: a packet over the limit; reconnecting with room for it once, to count it too_large and acknowledge it"
                        );
                        eventloop::set_max_incoming(
                            &mut self.eventloop,
                            size.min(MQTT_MAX_REMAINING),
                        );
                        continue;
                    }
                    if !Self::pause(&self.shutdown, &mut backoff).await {
                        break;
                    }
                }
            }
        }
        self.stop().await;
    }

    /// Hands one message to the app. Backpressure: waits for room rather than drop; while
    /// waiting nothing is read from the broker (it holds the rest of the session's queue), but
    /// the acks the app gives meanwhile are written.
    /// False when the collector must stop (shutdown, or the app closed its channel).
    async fn forward(&mut self, p: Publish, epoch: u64) -> bool {
        self.status.messages.fetch_add(1, Ordering::Relaxed);
        self.status.last_message_wall_ms.store(
            chrono::Utc::now().timestamp_millis().max(1),
            Ordering::Relaxed,
        );
        let ack = (p.qos != QoS::AtMostOnce).then(|| AckToken {
            queue: self.acks.clone(),
            qos: p.qos,
            pkid: p.pkid,
            epoch,
        });
        let too_large = (p.payload.len() > MAX_PAYLOAD).then_some(p.payload.len());
        let msg = Incoming {
            redelivered: p.dup,
            topic: p.topic,
            payload: if too_large.is_some() {
                Bytes::new()
            } else {
                p.payload
            },
            ack,
            too_large,
        };
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return false,
                r = self.tx.reserve() => match r {
                    Ok(permit) => {
                        permit.send(msg);
                        return true;
                    }
                    Err(_) => {
                        tracing::info!("mqtt collector: the app closed its channel; stopping");
                        return false;
                    }
                },
                _ = self.acks.ready.notified() => {}
            }
            if self.ack_error.is_none() {
                // The connection broke under the acks: handled as a lost connection once this
                // message is handed on.
                self.ack_error = self.write_acks().await.err();
            }
        }
    }

    /// Writes the acks the app gave since the last call, in order, and flushes them with one
    /// system call. Acks of a lost connection are dropped (the broker redelivers their messages).
    async fn write_acks(&mut self) -> Result<(), ConnectionError> {
        self.acks.take(&mut self.ack_buf);
        if self.ack_buf.is_empty() {
            return Ok(());
        }
        let epoch = self.status.epoch.load(Ordering::Acquire);
        if !eventloop::connected(&self.eventloop) {
            return Ok(());
        }
        let packets = self.ack_buf.iter().filter_map(|&(e, qos, pkid)| match qos {
            _ if e != epoch => None,
            QoS::AtMostOnce => None,
            QoS::AtLeastOnce => Some(Packet::PubAck(PubAck::new(pkid))),
            QoS::ExactlyOnce => Some(Packet::PubRec(PubRec::new(pkid))),
        });
        // Bounded as a whole: writing blocks (and flushes) whenever the buffer is full, and a
        // broker that stops reading must not hold the collector forever.
        let written = tokio::time::timeout(
            ACK_FLUSH_TIMEOUT,
            eventloop::write_and_flush(&mut self.eventloop, packets),
        )
        .await;
        self.ack_buf.clear();
        match written {
            Ok(r) => Ok(r?),
            Err(_) => Err(ConnectionError::FlushTimeout),
        }
    }

    /// The connection is gone: un-acked messages are redelivered on the next one.
    fn lost(&self) {
        self.status.epoch.fetch_add(1, Ordering::AcqRel);
        if self.status.connected() {
            self.status.disconnects.fetch_add(1, Ordering::Relaxed);
        }
        self.status.set_down();
    }

    /// Sleeps the current backoff and doubles it (capped). False if shutdown came first.
    async fn pause(shutdown: &CancellationToken, backoff: &mut Duration) -> bool {
        let d = *backoff;
        *backoff = (*backoff * 2).min(BACKOFF_MAX);
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }

    /// Clean DISCONNECT (the broker keeps the persistent session), bounded in time.
    /// The acks the app already gave go out first; messages arriving meanwhile are left
    /// un-acked (the broker redelivers them to the next run).
    async fn stop(mut self) {
        if self.status.connected() {
            let done = tokio::time::timeout(Duration::from_secs(2), async {
                if self.write_acks().await.is_err() {
                    return;
                }
                if self.client.try_disconnect().is_err() {
                    return;
                }
                loop {
                    match self.eventloop.poll().await {
                        Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            })
            .await;
            if done.is_err() {
                tracing::warn!("mqtt disconnect timed out");
            }
        }
        self.acks.stopped.store(true, Ordering::Release);
        self.status.epoch.fetch_add(1, Ordering::AcqRel);
        self.status.set_down();
        tracing::info!("mqtt collector stopped");
    }
}
