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
    let decoded = match body.decode_with(|payload| gateway::decode(source, payload)) {
        Ok(d) => d,
        Err((reason, msg)) => {
            let msg = format!("source {:?}: {msg}", source.name);
            return reject(engine, on, Some(fid), reason, 1, msg);
        }
    };
    if decoded.unmapped > 0 {
        on(Taken::Unmapped {
            source: &source.name,
            count: decoded.unmapped,
        });
    }
    for (reason, msg) in decoded.rejected {
        let msg = format!("source {:?}: {msg}", source.name);
        reject(engine, on, Some(fid), reason, 1, msg);
    }
    let mut last: Option<MeterRef> = None;
    for (mid, reading) in &decoded.readings {
        let Some(m) = engine.lookup(fid, mid) else {
            // config validation names only configured meters; kept for safety
            let msg = format!(
                "source {:?}: no meter {mid:?} in facility {fid:?}",
                source.name
            );
            reject(engine, on, Some(fid), Reason::UnknownMeter, 1, msg);
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

/// Counts `count` readings rejected for `reason` under `facility` (None: not known) and reports
/// the rejection with its human message: how a message refused before the engine judges its
/// readings is taken (the engine counts its own verdicts).
fn reject(
    engine: &mut Engine,
    on: &mut dyn FnMut(Taken<'_>),
    facility: Option<&str>,
    reason: Reason,
    count: u64,
    msg: String,
) {
    engine.count_rejected(facility, reason, count);
    on(Taken::Rejected(reason, msg));
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

    /// The payload decoded by `decode`; one too large to keep is refused as
    /// [`DecodeError::TooLarge`] without a decoder seeing it.
    fn decode_with<T>(
        self,
        decode: impl FnOnce(&'a [u8]) -> Result<T, (Reason, String)>,
    ) -> Result<T, (Reason, String)> {
        match self {
            Body::Payload(payload) => decode(payload),
            Body::TooLarge(size) => {
                let e = DecodeError::TooLarge { size };
                Err((e.reason(), e.to_string()))
            }
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
        let msg = "topic is not <prefix>/<facility>/<meter>".to_string();
        return reject(engine, on, None, Reason::UnknownMeter, 1, msg);
    };
    let known_facility = engine.facility_index(fid).map(|_| fid);
    let register = engine
        .lookup(fid, mid)
        .map_or(crate::engine::reading::Register::EnergyKwh, |m| {
            engine.register(m)
        });
    let readings = match body.decode_with(|payload| decode_payload_for(payload, register)) {
        Ok(r) => r,
        Err((reason, msg)) => return reject(engine, on, known_facility, reason, 1, msg),
    };
    let Some(m) = engine.lookup(fid, mid) else {
        let msg = format!("no meter {mid:?} in facility {fid:?} in the config");
        let n = readings.len() as u64;
        return reject(engine, on, known_facility, Reason::UnknownMeter, n, msg);
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
            Err((reason, msg)) => reject(engine, on, Some(fid), reason, 1, msg),
        }
    }
}
