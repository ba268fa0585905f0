//! Every access the driver makes to rumqttc's `EventLoop` beyond `poll()` and `clean()`, in one
//! place. Written against rumqttc 0.25.1 (`Cargo.toml` pins `0.25`).
//!
//! Why: rumqttc has no API for what the collector needs, so it uses the event loop's public
//! fields directly:
//! - `network` (`Option<Network>`): acks are written into the connection and flushed once for
//!   all of them (rumqttc's request queue writes and flushes each ack on its own: one system
//!   call per message), and whether a connection is up;
//! - `state.events`: the packets a read took but `poll()` has not handed out yet, so a message
//!   read just before a connection error is still handed to the app, and the driver knows when
//!   the next `poll()` will read the network;
//! - `pending`: the SUBSCRIBE goes ahead of anything queued;
//! - `mqtt_options`: room for one oversized packet on the next connection only (the options
//!   are read again at every connect), and the broker address for the log.
//!
//! What breaks if rumqttc changes: these fields are `pub` but not a stable interface. If a
//! rumqttc release renames them, makes them private, or stops reading `mqtt_options` at each
//! reconnect, this module stops compiling (or an oversized packet breaks every connection,
//! which `tests/mqtt_collector.rs` catches): check this module against its source before moving
//! the version. If `Network::write` stopped only buffering (flushing on its own), acks would
//! cost a system call each again: `scripts/bench_mqtt.sh` shows it.

use rumqttc::{Event, EventLoop, Packet, Publish, Request, StateError, Subscribe};

/// `host:port` of the broker, and the client id (for the log).
pub(super) fn broker(ev: &EventLoop) -> (String, String) {
    let (host, port) = ev.mqtt_options.broker_address();
    (format!("{host}:{port}"), ev.mqtt_options.client_id())
}

/// Whether packets already read wait to be handed out by `poll()` (else it reads the network).
pub(super) fn has_buffered_events(ev: &EventLoop) -> bool {
    !ev.state.events.is_empty()
}

/// Whether a connection is up (a `poll()` is not connecting).
pub(super) fn connected(ev: &EventLoop) -> bool {
    ev.network.is_some()
}

/// The largest incoming packet from the next connection on (outgoing stays at
/// [`super::MAX_PACKET`]).
pub(super) fn set_max_incoming(ev: &mut EventLoop, incoming: usize) {
    ev.mqtt_options
        .set_max_packet_size(incoming, super::MAX_PACKET);
}

/// Queues `sub` ahead of every request waiting.
pub(super) fn subscribe_first(ev: &mut EventLoop, sub: Subscribe) {
    ev.pending.push_front(Request::Subscribe(sub));
}

/// Takes the PUBLISH packets read but not handed out yet (after a connection error), dropping
/// the other events.
pub(super) fn take_buffered_publishes(ev: &mut EventLoop) -> Vec<Publish> {
    ev.state
        .events
        .drain(..)
        .filter_map(|e| match e {
            Event::Incoming(Packet::Publish(p)) => Some(p),
            _ => None,
        })
        .collect()
}

/// Writes `packets` into the connection and flushes once (one system call for all of them);
/// nothing without a connection or without packets.
pub(super) async fn write_and_flush(
    ev: &mut EventLoop,
    packets: impl Iterator<Item = Packet>,
) -> Result<(), StateError> {
    let Some(network) = ev.network.as_mut() else {
        return Ok(());
    };
    let mut wrote = false;
    for packet in packets {
        network.write(packet).await?;
        wrote = true;
    }
    if wrote {
        network.flush().await?;
    }
    Ok(())
}
