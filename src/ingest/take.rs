//! One MQTT message into the engine: topic resolved, payload decoded, every reading judged and
//! counted (CONTRACT §3). No I/O: what happened is reported to a callback (logs, sinks).

use crate::engine::{Engine, MeterRef, Reading, Reason, Verdict};

use super::decode::{decode_payload, parse_topic};

/// What became of a message or one of its readings.
#[derive(Debug)]
pub enum Taken<'a> {
    /// The meter the message is for (once per message with a known meter).
    Meter(MeterRef),
    Accepted(MeterRef, &'a Reading),
    /// Not taken, with a human reason (duplicates included).
    Rejected(Reason, String),
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
    let Some((fid, mid)) = parse_topic(prefix, topic) else {
        engine.count_rejected(None, Reason::UnknownMeter, 1);
        on(Taken::Rejected(
            Reason::UnknownMeter,
            "topic is not <prefix>/<facility>/<meter>".into(),
        ));
        return;
    };
    let known_facility = engine.facility_index(fid).map(|_| fid);
    let readings = match decode_payload(payload) {
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
