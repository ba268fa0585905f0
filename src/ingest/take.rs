//! One MQTT message into the engine: topic resolved (dcpue's own or a gateway `[[source]]`'s),
//! payload decoded, every reading judged and counted (CONTRACT §3, §12). No I/O: what happened
//! is reported to a callback (logs, sinks).

use crate::engine::{Engine, MeterRef, Reading, Reason, Verdict};

use super::decode::{decode_payload_for, parse_topic, DecodeError, MAX_PAYLOAD};
use super::gateway::{self, Routes, Source};
use crate::store::wal::WalRecord;

/// What became of a message or one of its readings.
#[derive(Debug)]
pub enum Taken<'a> {
    /// The meter the message is for (once per message with a known meter).
    Meter(MeterRef),
    Accepted(MeterRef, &'a Reading),
    /// Not taken, with a human reason (duplicates included).
    Rejected(Reason, String),
    /// Values of a gateway source that no map entry names (CONTRACT §12), ignored.
    Unmapped {
        source: &'a str,
        count: u64,
    },
}

/// Feeds one message to the engine, by its topic: a `[[source]]`'s (CONTRACT §12) or dcpue's own.
pub fn take_routed(
    engine: &mut Engine,
    routes: &Routes,
    topic: &str,
    body: Body<'_>,
    now: i64,
    on: &mut dyn FnMut(Taken<'_>),
) {
    match routes.source(topic) {
        Some(source) => take_gateway(engine, source, body, now, on),
        None => take_body(engine, &routes.prefix, topic, body, now, on),
    }
}

/// Feeds one gateway message of `source` to the engine: each mapped reading judged as a
/// reading of §3, rejections counted under the source's facility.
pub fn take_gateway(
    engine: &mut Engine,
    source: &Source,
    body: Body<'_>,
    now: i64,
    on: &mut dyn FnMut(Taken<'_>),
) {
    let fid = source.facility.as_str();
    let decoded = match body {
        Body::Payload(payload) => gateway::decode(source, payload),
        Body::TooLarge(size) => {
            let e = DecodeError::TooLarge { size };
            Err((e.reason(), e.to_string()))
        }
    };
    let decoded = match decoded {
        Ok(d) => d,
        Err((reason, msg)) => {
            engine.count_rejected(Some(fid), reason, 1);
            on(Taken::Rejected(
                reason,
                format!("source {:?}: {msg}", source.name),
            ));
            return;
        }
    };
    if decoded.unmapped > 0 {
        on(Taken::Unmapped {
            source: &source.name,
            count: decoded.unmapped,
        });
    }
    for (reason, msg) in decoded.rejected {
        engine.count_rejected(Some(fid), reason, 1);
        on(Taken::Rejected(
            reason,
            format!("source {:?}: {msg}", source.name),
        ));
    }
    let mut last: Option<MeterRef> = None;
    for (mid, reading) in &decoded.readings {
        let Some(m) = engine.lookup(fid, mid) else {
            // config validation names only configured meters; kept for safety
            engine.count_rejected(Some(fid), Reason::UnknownMeter, 1);
            on(Taken::Rejected(
                Reason::UnknownMeter,
                format!(
                    "source {:?}: no meter {mid:?} in facility {fid:?}",
                    source.name
                ),
            ));
            continue;
        };
        if last != Some(m) {
            on(Taken::Meter(m));
            last = Some(m);
        }
        match engine.ingest(m, *reading, now) {
            Verdict::Accepted => on(Taken::Accepted(m, reading)),
            Verdict::Rejected(reason) => on(Taken::Rejected(
                reason,
                format!(
                    "source {:?}: meter {mid:?} reading at ts {} ms: {reason}",
                    source.name, reading.ts
                ),
            )),
        }
    }
}

/// A message's payload as the engine gets it.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    Payload(&'a [u8]),
    /// A payload over [`MAX_PAYLOAD`] bytes, of this size: counted `too_large`, its bytes
    /// already dropped.
    TooLarge(usize),
}

impl<'a> Body<'a> {
    /// A payload as received: over the limit, only its size is kept.
    pub fn of(payload: &'a [u8]) -> Body<'a> {
        if payload.len() > MAX_PAYLOAD {
            Body::TooLarge(payload.len())
        } else {
            Body::Payload(payload)
        }
    }

    /// A logged message.
    pub fn of_record(r: &'a WalRecord) -> Body<'a> {
        match r.too_large {
            Some(n) => Body::TooLarge(usize::try_from(n).unwrap_or(usize::MAX)),
            None => Body::of(&r.payload),
        }
    }
}

/// Feeds one message to the engine; `now` is the wall clock (`future_timestamp`).
pub fn take_message(
    engine: &mut Engine,
    prefix: &str,
    topic: &str,
    payload: &[u8],
    now: i64,
    on: &mut dyn FnMut(Taken<'_>),
) {
    take_body(engine, prefix, topic, Body::of(payload), now, on)
}

/// Feeds one logged message to the engine, as when it was first taken (routed by its topic).
pub fn take_record(
    engine: &mut Engine,
    routes: &Routes,
    r: &WalRecord,
    on: &mut dyn FnMut(Taken<'_>),
) {
    take_routed(engine, routes, &r.topic, Body::of_record(r), r.wall_ms, on)
}

/// [`take_message`] for a payload, or the size of one too large to keep.
pub fn take_body(
    engine: &mut Engine,
    prefix: &str,
    topic: &str,
    body: Body<'_>,
    now: i64,
    on: &mut dyn FnMut(Taken<'_>),
) {
    let Some((fid, mid)) = parse_topic(prefix, topic) else {
        engine.count_rejected(None, Reason::UnknownMeter, 1);
        on(Taken::Rejected(
            Reason::UnknownMeter,
            "topic is not <prefix>/<facility>/<meter>".into(),
        ));
        return;
    };
    let known_facility = engine.facility_index(fid).map(|_| fid);
    let register = engine
        .lookup(fid, mid)
        .map_or(crate::engine::reading::Register::EnergyKwh, |m| {
            engine.register(m)
        });
    let decoded = match body {
        Body::Payload(payload) => decode_payload_for(payload, register),
        Body::TooLarge(size) => {
            let e = DecodeError::TooLarge { size };
            Err((e.reason(), e.to_string()))
        }
    };
    let readings = match decoded {
        Ok(r) => r,
        Err((reason, msg)) => {
            engine.count_rejected(known_facility, reason, 1);
            on(Taken::Rejected(reason, msg));
            return;
        }
    };
    let Some(m) = engine.lookup(fid, mid) else {
        engine.count_rejected(known_facility, Reason::UnknownMeter, readings.len() as u64);
        on(Taken::Rejected(
            Reason::UnknownMeter,
            format!("no meter {mid:?} in facility {fid:?} in the config"),
        ));
        return;
    };
    on(Taken::Meter(m));
    for r in readings {
        match r {
            Ok(reading) => match engine.ingest(m, reading, now) {
                Verdict::Accepted => on(Taken::Accepted(m, &reading)),
                Verdict::Rejected(reason) => on(Taken::Rejected(
                    reason,
                    format!("reading at ts {} ms: {reason}", reading.ts),
                )),
            },
            Err((reason, msg)) => {
                engine.count_rejected(Some(fid), reason, 1);
                on(Taken::Rejected(reason, msg));
            }
        }
    }
}
