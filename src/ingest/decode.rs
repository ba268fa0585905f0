//! Payload decoding (CONTRACT §3): pure, no I/O. A payload is one JSON reading object or an
//! array of them; each element is judged on its own. Only what can be told from the payload
//! alone is judged here (`too_large`, `malformed`, `invalid_value`); the engine judges the rest
//! (unknown meter, future timestamps, duplicates, lateness, plausibility).

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::engine::reading::{Quality, Register, MIN_TS_MS};
use crate::engine::{Reading, Reason};

/// The largest payload taken (64 KiB); a larger one is `too_large`.
pub const MAX_PAYLOAD: usize = 64 * 1024;

/// Stand-in for a JSON number too large for an f64 (`1e999`), see [`decode_payload`]: a string
/// no meter sends, written as JSON with escapes.
const OUT_OF_RANGE: &str = "\u{0}\u{1}dcpue-number-out-of-range";
const OUT_OF_RANGE_JSON: &[u8] = br#""\u0000\u0001dcpue-number-out-of-range""#;

/// Why a payload or one of its readings is refused, with what a person needs to fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("payload of {size} bytes is larger than the {max} byte limit", max = MAX_PAYLOAD)]
    TooLarge { size: usize },
    #[error("payload is not JSON: {0}")]
    NotJson(String),
    #[error("payload must be a JSON reading object or an array of them, got {0}")]
    NotObjectOrArray(&'static str),
    #[error("reading must be a JSON object, got {0}")]
    NotObject(&'static str),
    #[error("reading has field {0:?} twice")]
    DuplicateField(&'static str),
    #[error("reading has no \"ts\"")]
    MissingTs,
    #[error(
        "\"ts\" must be an RFC 3339 string with offset or integer epoch milliseconds, got {0}"
    )]
    TsType(&'static str),
    #[error("\"ts\" {text:?} is not RFC 3339 with an offset (like \"2026-11-28T03:00:00+08:00\"): {why}")]
    TsFormat { text: String, why: String },
    #[error("\"ts\" {0} is outside the supported range of epoch milliseconds")]
    TsOutOfRange(String),
    #[error("\"ts\" {ms} is before 2000-01-01T00:00:00Z (epoch seconds sent by mistake? ts is in milliseconds)")]
    TsTooOld { ms: i64 },
    #[error("\"{field}\" must be a number, got {kind}")]
    ValueType {
        field: &'static str,
        kind: &'static str,
    },
    #[error("reading has neither \"power_kw\" nor \"energy_kwh\"")]
    NoValue,
    #[error("a water meter's reading needs \"volume_m3\"")]
    NoVolume,
    #[error("\"{field}\" is not a finite number")]
    NotFinite { field: &'static str },
    #[error("\"{field}\" is negative ({value})")]
    Negative { field: &'static str, value: f64 },
    #[error("\"quality\" must be \"metered\", \"estimated\" or \"manual\", got {0}")]
    Quality(String),
}

impl DecodeError {
    /// The reason it is counted under in `dcpue_readings_rejected_total{reason}`.
    pub fn reason(&self) -> Reason {
        match self {
            DecodeError::TooLarge { .. } => Reason::TooLarge,
            DecodeError::NotFinite { .. } | DecodeError::Negative { .. } => Reason::InvalidValue,
            _ => Reason::Malformed,
        }
    }

    fn verdict(self) -> (Reason, String) {
        (self.reason(), self.to_string())
    }
}

/// `<prefix>/<facility>/<meter>` → (facility_id, meter_id): exactly three levels, ids non-empty.
pub fn parse_topic<'a>(prefix: &str, topic: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    let (facility, meter) = rest.split_once('/')?;
    if facility.is_empty() || meter.is_empty() || meter.contains('/') {
        return None;
    }
    Some((facility, meter))
}

/// One message's payload → each reading, or the reason the whole message is refused.
///
/// `Err` is a payload-level verdict (`too_large`, or `malformed` when it is not JSON or neither
/// an object nor an array), counted once per message. `Ok` holds one element per reading (one for
/// an object, one per array element, in order), each a [`Reading`] or its own verdict.
#[allow(clippy::type_complexity)]
pub fn decode_payload(
    payload: &[u8],
) -> Result<Vec<Result<Reading, (Reason, String)>>, (Reason, String)> {
    decode_payload_for(payload, Register::EnergyKwh)
}

/// [`decode_payload`] for a meter whose register is `register`: a water meter's readings carry
/// `volume_m3` (m³), returned in the reading's register slot (`energy_kwh`); its `power_kw` and
/// `energy_kwh` fields are ignored, as other meters ignore `volume_m3`.
#[allow(clippy::type_complexity)]
pub fn decode_payload_for(
    payload: &[u8],
    register: Register,
) -> Result<Vec<Result<Reading, (Reason, String)>>, (Reason, String)> {
    if payload.len() > MAX_PAYLOAD {
        return Err(DecodeError::TooLarge {
            size: payload.len(),
        }
        .verdict());
    }
    let top = match parse(payload) {
        Ok(top) => top,
        Err(e) => {
            // serde_json refuses numbers beyond f64 (`1e999`). That is still JSON: a value out of
            // range, judged per reading. Rewrite such numbers to a stand-in and parse again (only
            // on this rare path, so the common one stays a single pass).
            let rewritten = if e.to_string().starts_with("number out of range") {
                replace_huge_numbers(payload)
            } else {
                None
            };
            match rewritten.map(|p| parse(&p)) {
                Some(Ok(top)) => top,
                _ => return Err(DecodeError::NotJson(e.to_string()).verdict()),
            }
        }
    };
    match top {
        Top::One(raw) => Ok(vec![raw.judge(register).map_err(DecodeError::verdict)]),
        Top::Many(elems) => Ok(elems
            .into_iter()
            .map(|e| match e {
                Elem::Obj(raw) => raw.judge(register).map_err(DecodeError::verdict),
                Elem::Other(kind) => Err(DecodeError::NotObject(kind).verdict()),
            })
            .collect()),
        Top::Other(kind) => Err(DecodeError::NotObjectOrArray(kind).verdict()),
    }
}

/// Parses a payload. One UTF-8 check of the whole payload, rather than one of every string
/// serde_json reads (field names, `ts`, `quality`): a payload that is UTF-8 (any a meter sends)
/// is parsed as a `str`, whose strings serde_json does not check again; any other is parsed as
/// bytes, which judges it exactly as before (serde_json refuses invalid UTF-8 only in the strings
/// it reads, not in the values it skips).
fn parse(payload: &[u8]) -> serde_json::Result<Top> {
    match std::str::from_utf8(payload) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(payload),
    }
}

/// Copies `payload` with every number literal that overflows an f64 replaced by
/// [`OUT_OF_RANGE`]; None when there is none (the error was something else).
fn replace_huge_numbers(payload: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(payload.len() + 32);
    let mut replaced = false;
    let mut i = 0;
    while i < payload.len() {
        let b = payload[i];
        if b == b'"' {
            // copy a whole string literal, escapes included
            let start = i;
            i += 1;
            while i < payload.len() && payload[i] != b'"' {
                i += if payload[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(payload.len());
            out.extend_from_slice(&payload[start..i]);
        } else if b == b'-' || b.is_ascii_digit() {
            let start = i;
            while i < payload.len()
                && matches!(payload[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
            {
                i += 1;
            }
            let token = &payload[start..i];
            let huge = std::str::from_utf8(token)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(|v| v.is_infinite());
            if huge {
                out.extend_from_slice(OUT_OF_RANGE_JSON);
                replaced = true;
            } else {
                out.extend_from_slice(token);
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    replaced.then_some(out)
}

/// The kind of a JSON value, for messages.
fn kind_of_unexpected(u: de::Unexpected<'_>) -> &'static str {
    match u {
        de::Unexpected::Bool(_) => "a boolean",
        de::Unexpected::Str(_) => "a string",
        de::Unexpected::Unit => "null",
        de::Unexpected::Seq => "an array",
        de::Unexpected::Map => "an object",
        _ => "a number",
    }
}

enum Top {
    One(Raw),
    /// Each element, judged once the meter's register is known.
    Many(Vec<Elem>),
    Other(&'static str),
}

enum Elem {
    Obj(Raw),
    Other(&'static str),
}

/// The kind of a value of the wrong type, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Boolean,
    String,
    Null,
    Array,
    Object,
    /// A number with a fraction or an exponent (where an integer is expected).
    Fraction,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Boolean => "a boolean",
            Kind::String => "a string",
            Kind::Null => "null",
            Kind::Array => "an array",
            Kind::Object => "an object",
            Kind::Fraction => "a number with a fraction or exponent",
        }
    }
}

#[derive(Default)]
enum Ts {
    #[default]
    Absent,
    Ms(i64),
    Wrong(Kind),
    /// Not RFC 3339: the text (first 64 characters) and why.
    BadText {
        text: String,
        why: chrono::ParseError,
    },
    OutOfRange(String),
}

#[derive(Default, Clone, Copy)]
enum Val {
    #[default]
    Absent,
    Num(f64),
    Wrong(Kind),
}

/// One reading object as read, judged by [`Raw::judge`] once the meter's register is known.
///
/// Kept small (rare cases' details in one byte or behind a pointer): it is moved several times
/// per reading, and a move of more than 128 bytes is a call to `memcpy`.
struct Raw {
    ts: Ts,
    power_kw: Val,
    energy_kwh: Val,
    volume_m3: Val,
    /// `quality` (CONTRACT §13), `metered` when absent; Err holds what was sent instead.
    quality: Result<Quality, Box<str>>,
    /// The first field given twice.
    duplicate: Option<Key>,
}

impl Default for Raw {
    fn default() -> Raw {
        Raw {
            ts: Ts::Absent,
            power_kw: Val::Absent,
            energy_kwh: Val::Absent,
            volume_m3: Val::Absent,
            quality: Ok(Quality::Metered),
            duplicate: None,
        }
    }
}

impl Raw {
    /// Malformed first (CONTRACT §3 order), then invalid values.
    fn judge(self, register: Register) -> Result<Reading, DecodeError> {
        if let Some(field) = self.duplicate {
            return Err(DecodeError::DuplicateField(field.name()));
        }
        let ts = match self.ts {
            Ts::Absent => return Err(DecodeError::MissingTs),
            Ts::Wrong(kind) => return Err(DecodeError::TsType(kind.as_str())),
            Ts::BadText { text, why } => {
                return Err(DecodeError::TsFormat {
                    text,
                    why: why.to_string(),
                })
            }
            Ts::OutOfRange(text) => return Err(DecodeError::TsOutOfRange(text)),
            Ts::Ms(ms) if ms < MIN_TS_MS => return Err(DecodeError::TsTooOld { ms }),
            Ts::Ms(ms) => ms,
        };
        let quality = match self.quality {
            Ok(q) => q,
            Err(got) => return Err(DecodeError::Quality(got.into())),
        };
        if register == Register::VolumeM3 {
            let volume = value("volume_m3", self.volume_m3)?.ok_or(DecodeError::NoVolume)?;
            return Ok(Reading {
                ts,
                power_kw: None,
                energy_kwh: Some(checked("volume_m3", volume)?),
                quality,
            });
        }
        let power = value("power_kw", self.power_kw)?;
        let energy = value("energy_kwh", self.energy_kwh)?;
        if power.is_none() && energy.is_none() {
            return Err(DecodeError::NoValue);
        }
        let power_kw = power.map(|v| checked("power_kw", v)).transpose()?;
        let energy_kwh = energy.map(|v| checked("energy_kwh", v)).transpose()?;
        Ok(Reading {
            ts,
            power_kw,
            energy_kwh,
            quality,
        })
    }
}

/// A reading put together from values found elsewhere (a gateway payload), judged by the same
/// rules as a reading object: `ts` not before 2000, at least one value, values finite and ≥ 0.
pub fn judge_values(
    ts: i64,
    power_kw: Option<f64>,
    energy_kwh: Option<f64>,
) -> Result<Reading, DecodeError> {
    if ts > MAX_TS_MS {
        return Err(DecodeError::TsOutOfRange(ts.to_string()));
    }
    if ts < MIN_TS_MS {
        return Err(DecodeError::TsTooOld { ms: ts });
    }
    if power_kw.is_none() && energy_kwh.is_none() {
        return Err(DecodeError::NoValue);
    }
    Ok(Reading {
        ts,
        power_kw: power_kw.map(|v| checked("power_kw", v)).transpose()?,
        energy_kwh: energy_kwh.map(|v| checked("energy_kwh", v)).transpose()?,
        quality: Default::default(),
    })
}

fn value(field: &'static str, v: Val) -> Result<Option<f64>, DecodeError> {
    match v {
        Val::Absent => Ok(None),
        Val::Num(x) => Ok(Some(x)),
        Val::Wrong(kind) => Err(DecodeError::ValueType {
            field,
            kind: kind.as_str(),
        }),
    }
}

fn checked(field: &'static str, v: f64) -> Result<f64, DecodeError> {
    if !v.is_finite() {
        Err(DecodeError::NotFinite { field })
    } else if v < 0.0 {
        Err(DecodeError::Negative { field, value: v })
    } else {
        Ok(v + 0.0) // -0.0 → 0.0
    }
}

impl<'de> Deserialize<'de> for Top {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Top;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a reading object or an array of them")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Top, A::Error> {
                visit_reading(map).map(Top::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Top, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(8).min(4096));
                while let Some(e) = seq.next_element::<Elem>()? {
                    v.push(e);
                }
                Ok(Top::Many(v))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Top, E> {
                Ok(Top::Other("a boolean"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Top, E> {
                Ok(Top::Other("a number"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Top, E> {
                Ok(Top::Other("a number"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Top, E> {
                Ok(Top::Other("a number"))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Top, E> {
                Ok(Top::Other(if s == OUT_OF_RANGE {
                    "a number"
                } else {
                    "a string"
                }))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Top, E> {
                Ok(Top::Other("null"))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Elem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Elem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a reading object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Elem, A::Error> {
                visit_reading(map).map(Elem::Obj)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Elem, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Elem::Other("an array"))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Elem, E> {
                Ok(Elem::Other(kind_of_unexpected(de::Unexpected::Bool(v))))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Elem, E> {
                Ok(Elem::Other("a number"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Elem, E> {
                Ok(Elem::Other("a number"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Elem, E> {
                Ok(Elem::Other("a number"))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Elem, E> {
                Ok(Elem::Other(if s == OUT_OF_RANGE {
                    "a number"
                } else {
                    "a string"
                }))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Elem, E> {
                Ok(Elem::Other("null"))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Clone, Copy)]
enum Key {
    Ts,
    Power,
    Energy,
    Volume,
    Quality,
    Other,
}

impl Key {
    /// The field's name (for [`DecodeError::DuplicateField`]; other fields are not checked).
    fn name(self) -> &'static str {
        match self {
            Key::Ts => "ts",
            Key::Power => "power_kw",
            Key::Energy => "energy_kwh",
            Key::Volume => "volume_m3",
            Key::Quality => "quality",
            Key::Other => "",
        }
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key, E> {
                Ok(match s {
                    "ts" => Key::Ts,
                    "power_kw" => Key::Power,
                    "energy_kwh" => Key::Energy,
                    "volume_m3" => Key::Volume,
                    "quality" => Key::Quality,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

fn visit_reading<'de, A: MapAccess<'de>>(mut map: A) -> Result<Raw, A::Error> {
    let mut raw = Raw::default();
    let (mut seen_ts, mut seen_p, mut seen_e, mut seen_v) = (false, false, false, false);
    let mut seen_q = false;
    while let Some(key) = map.next_key::<Key>()? {
        let seen = match key {
            Key::Ts => &mut seen_ts,
            Key::Power => &mut seen_p,
            Key::Energy => &mut seen_e,
            Key::Volume => &mut seen_v,
            Key::Quality => &mut seen_q,
            Key::Other => {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
        };
        if std::mem::replace(seen, true) {
            raw.duplicate.get_or_insert(key);
        }
        match key {
            Key::Ts => raw.ts = map.next_value::<TsField>()?.0,
            Key::Power => raw.power_kw = map.next_value::<ValField>()?.0,
            Key::Energy => raw.energy_kwh = map.next_value::<ValField>()?.0,
            Key::Volume => raw.volume_m3 = map.next_value::<ValField>()?.0,
            Key::Quality => raw.quality = map.next_value::<QualityField>()?.0,
            Key::Other => {}
        }
    }
    Ok(raw)
}

struct TsField(Ts);

impl<'de> Deserialize<'de> for TsField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TsField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a timestamp")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TsField, E> {
                Ok(TsField(Ts::Ms(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TsField, E> {
                Ok(TsField(match i64::try_from(v) {
                    Ok(ms) if ms <= MAX_TS_MS => Ts::Ms(ms),
                    _ => Ts::OutOfRange(v.to_string()),
                }))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<TsField, E> {
                // JSON integers beyond u64 arrive as floats too: still "not an integer in range".
                if v.fract() == 0.0 && v.abs() > 9.0e18 {
                    return Ok(TsField(Ts::OutOfRange(format!("{v:e}"))));
                }
                Ok(TsField(Ts::Wrong(Kind::Fraction)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<TsField, E> {
                if s == OUT_OF_RANGE {
                    return Ok(TsField(Ts::OutOfRange("a number beyond f64".into())));
                }
                Ok(TsField(match chrono::DateTime::parse_from_rfc3339(s) {
                    Ok(t) => Ts::Ms(t.timestamp_millis()),
                    Err(why) => Ts::BadText {
                        text: s.chars().take(64).collect(),
                        why,
                    },
                }))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<TsField, E> {
                Ok(TsField(Ts::Wrong(Kind::Boolean)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<TsField, E> {
                Ok(TsField(Ts::Wrong(Kind::Null)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TsField, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(TsField(Ts::Wrong(Kind::Array)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TsField, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(TsField(Ts::Wrong(Kind::Object)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A reading's `quality`: one of the three names, else what was sent (for the message).
struct QualityField(Result<Quality, Box<str>>);

impl<'de> Deserialize<'de> for QualityField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = QualityField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a quality name")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<QualityField, E> {
                Ok(QualityField(match s {
                    "metered" => Ok(Quality::Metered),
                    "estimated" => Ok(Quality::Estimated),
                    "manual" => Ok(Quality::Manual),
                    _ if s == OUT_OF_RANGE => Err("a number".into()),
                    _ => Err(format!("{:?}", s.chars().take(32).collect::<String>()).into()),
                }))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<QualityField, E> {
                Ok(QualityField(Err("a number".into())))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<QualityField, E> {
                Ok(QualityField(Err("a number".into())))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<QualityField, E> {
                Ok(QualityField(Err("a number".into())))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<QualityField, E> {
                Ok(QualityField(Err("a boolean".into())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<QualityField, E> {
                Ok(QualityField(Err("null".into())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<QualityField, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(QualityField(Err("an array".into())))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<QualityField, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(QualityField(Err("an object".into())))
            }
        }
        d.deserialize_any(V)
    }
}

/// The latest epoch-ms `ts` taken as such: 9999-12-31T23:59:59.999Z, as far as RFC 3339 goes.
const MAX_TS_MS: i64 = 253_402_300_799_999;

struct ValField(Val);

impl<'de> Deserialize<'de> for ValField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ValField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ValField, E> {
                Ok(ValField(Val::Num(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ValField, E> {
                Ok(ValField(Val::Num(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ValField, E> {
                Ok(ValField(Val::Num(v)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ValField, E> {
                // a number beyond f64 (`1e999`) is a value out of range, not a wrong type
                Ok(ValField(if s == OUT_OF_RANGE {
                    Val::Num(f64::INFINITY)
                } else {
                    Val::Wrong(Kind::String)
                }))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<ValField, E> {
                Ok(ValField(Val::Wrong(Kind::Boolean)))
            }
            /// `null` counts as absent: a gateway's way of saying "no value from this meter".
            fn visit_unit<E: de::Error>(self) -> Result<ValField, E> {
                Ok(ValField(Val::Absent))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ValField, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ValField(Val::Wrong(Kind::Array)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ValField, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(ValField(Val::Wrong(Kind::Object)))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests;
