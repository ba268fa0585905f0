//! Gateway payload formats (CONTRACT §12): what EMQX Neuron, the ThingsBoard IoT Gateway and
//! Telegraf publish, mapped by `[[source]]` blocks to configured meters. Pure, no I/O: each
//! format's decoder ([`neuron`], [`thingsboard`], [`telegraf`]) finds the values in a payload;
//! [`decode`] maps them, scales them and puts the values of one meter at one time together into
//! one reading, judged by the same rules as a reading of §3 ([`super::decode::judge_values`]).

pub mod neuron;
pub mod telegraf;
pub mod thingsboard;

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::decode::{judge_values, DecodeError, MAX_PAYLOAD};
use crate::config::{filter_matches, Config, MapField, SourceConfig, SourceFormat};
use crate::engine::{Reading, Reason};

/// One `[[source]]`, ready to map payloads.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub facility: String,
    /// The MQTT filter dcpue subscribes to for it.
    pub topic: String,
    pub format: SourceFormat,
    /// Map entries by key (several only for Telegraf entries that differ in their tags).
    map: HashMap<String, Vec<Entry>>,
}

#[derive(Debug, Clone)]
struct Entry {
    meter: String,
    field: MapField,
    scale: f64,
    tags: BTreeMap<String, String>,
}

impl Source {
    pub fn new(cfg: &SourceConfig) -> Source {
        let mut map: HashMap<String, Vec<Entry>> = HashMap::new();
        for m in &cfg.maps {
            map.entry(m.key.clone()).or_default().push(Entry {
                meter: m.meter.clone(),
                field: m.field,
                scale: m.scale,
                tags: m.tags.clone(),
            });
        }
        Source {
            name: cfg.name.clone(),
            facility: cfg.facility.clone(),
            topic: cfg.topic.clone(),
            format: cfg.format,
            map,
        }
    }

    /// The entry for `key`: the first whose tags the value's tags all match.
    fn entry(&self, key: &str, tags: Option<&Map<String, Value>>) -> Option<&Entry> {
        self.map.get(key)?.iter().find(|e| {
            e.tags
                .iter()
                .all(|(k, v)| tags.and_then(|t| t.get(k)).and_then(Value::as_str) == Some(v))
        })
    }
}

/// Where messages go: dcpue's own `<prefix>/<facility>/<meter>` topics, or a source's filter.
#[derive(Debug, Clone)]
pub struct Routes {
    pub prefix: String,
    pub sources: Vec<Source>,
}

impl Routes {
    pub fn new(cfg: &Config) -> Routes {
        Routes {
            prefix: cfg.mqtt.topic_prefix.clone(),
            sources: cfg.sources.iter().map(Source::new).collect(),
        }
    }

    /// The source whose filter `topic` matches (config validation keeps filters apart from each
    /// other and from the native topics, so there is at most one).
    pub fn source(&self, topic: &str) -> Option<&Source> {
        self.sources
            .iter()
            .find(|s| filter_matches(&s.topic, topic))
    }

    /// Every filter dcpue subscribes to: the native one first, then each source's.
    pub fn filters(&self) -> Vec<String> {
        std::iter::once(super::topic_filter(&self.prefix))
            .chain(self.sources.iter().map(|s| s.topic.clone()))
            .collect()
    }
}

/// A value as a gateway reported it.
#[derive(Debug, Clone, PartialEq)]
pub enum GwValue {
    Num(f64),
    /// Not a number: the kind of JSON value it is.
    Wrong(&'static str),
    /// The gateway reported an error instead of a value (Neuron's error code).
    Error(String),
}

impl GwValue {
    fn of(v: &Value) -> GwValue {
        match v {
            Value::Number(n) => n.as_f64().map_or(GwValue::Wrong("a number"), GwValue::Num),
            other => GwValue::Wrong(kind(other)),
        }
    }
}

/// Why a payload, or a part of it, is not of its format's shape: what a person needs to fix the
/// gateway's output.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShapeError {
    #[error("{what} must be {want}, got {got}")]
    Type {
        what: String,
        want: &'static str,
        got: &'static str,
    },
    #[error("no {0}")]
    Missing(String),
    #[error("{what} {value} is not an epoch time")]
    Time { what: String, value: String },
    #[error("neither \"values\" nor \"tags\"")]
    NoValues,
    #[error("both \"values\" and \"tags\"")]
    BothForms,
    /// The same, in one part of the payload (a device, a metric of a batch, a tag).
    #[error("{at}: {inner}")]
    At { at: String, inner: Box<ShapeError> },
}

impl ShapeError {
    /// `field` (a JSON key) is missing.
    pub fn missing(field: &str) -> ShapeError {
        ShapeError::Missing(format!("{field:?}"))
    }
    /// `what` should be `want` but is `got`.
    pub fn ty(what: impl Into<String>, want: &'static str, got: &Value) -> ShapeError {
        ShapeError::Type {
            what: what.into(),
            want,
            got: kind(got),
        }
    }
    /// The error located in a part of the payload.
    pub fn at(self, at: impl Into<String>) -> ShapeError {
        ShapeError::At {
            at: at.into(),
            inner: Box::new(self),
        }
    }
}

/// One value found in a payload: its key in the format, its time (epoch ms), and for Telegraf
/// the metric's tags.
#[derive(Debug, Clone)]
pub struct Item<'p> {
    pub key: String,
    pub ts: i64,
    pub value: GwValue,
    pub tags: Option<&'p Map<String, Value>>,
}

/// What a format's decoder found: the values, and the parts it could not read (each counted
/// `malformed` once, as a reading of §3 would be).
#[derive(Debug, Default)]
pub struct Found<'p> {
    pub items: Vec<Item<'p>>,
    pub malformed: Vec<ShapeError>,
}

impl Found<'_> {
    /// The value of a part of the payload, or None when it cannot be read: its error is then
    /// counted malformed, located `at`, and the decoder skips that part.
    pub(crate) fn or_malformed<T>(
        &mut self,
        part: Result<T, ShapeError>,
        at: impl FnOnce() -> String,
    ) -> Option<T> {
        match part {
            Ok(v) => Some(v),
            Err(e) => {
                self.malformed.push(e.at(at()));
                None
            }
        }
    }
}

/// A payload mapped: the readings for configured meters, the values refused (with their
/// reason), and how many values no map entry names.
#[derive(Debug, Default, PartialEq)]
pub struct Decoded {
    /// (meter id, reading), oldest first.
    pub readings: Vec<(String, Reading)>,
    pub rejected: Vec<(Reason, String)>,
    pub unmapped: u64,
}

/// The kind of a JSON value, for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A timestamp in epoch milliseconds: a JSON integer ≥ 0.
pub(crate) fn ms(v: Option<&Value>, field: &str) -> Result<i64, ShapeError> {
    match v {
        None => Err(ShapeError::missing(field)),
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|&t| t >= 0)
            .ok_or_else(|| ShapeError::Time {
                what: format!("{field:?}"),
                value: n.to_string(),
            }),
        Some(other) => Err(ShapeError::ty(format!("{field:?}"), "an integer", other)),
    }
}

/// The value of `field` (`v`, as the payload holds it) as `pick` reads it: missing, or not
/// what `pick` accepts (`want`, e.g. "a string"), is the field's [`ShapeError`].
pub(crate) fn field<'v, T>(
    v: Option<&'v Value>,
    field: &str,
    want: &'static str,
    pick: impl FnOnce(&'v Value) -> Option<T>,
) -> Result<T, ShapeError> {
    let v = v.ok_or_else(|| ShapeError::missing(field))?;
    pick(v).ok_or_else(|| ShapeError::ty(format!("{field:?}"), want, v))
}

/// One message of `source` → readings, rejections and the unmapped count; `Err` is a
/// payload-level verdict (`too_large`, or `malformed` when it is not JSON or not the format's
/// shape), counted once per message.
pub fn decode(source: &Source, payload: &[u8]) -> Result<Decoded, (Reason, String)> {
    if payload.len() > MAX_PAYLOAD {
        let e = DecodeError::TooLarge {
            size: payload.len(),
        };
        return Err((e.reason(), e.to_string()));
    }
    let doc: Value = serde_json::from_slice(payload).map_err(|e| {
        let e = DecodeError::NotJson(e.to_string());
        (e.reason(), e.to_string())
    })?;
    let found = match source.format {
        SourceFormat::Neuron => neuron::find(&doc),
        SourceFormat::Thingsboard => thingsboard::find(&doc),
        SourceFormat::Telegraf => telegraf::find(&doc),
    }
    .map_err(|e| {
        (
            Reason::Malformed,
            format!("not a {} payload: {e}", source.format.as_str()),
        )
    })?;
    Ok(map(source, found))
}

#[derive(Default)]
struct Group {
    power: Option<f64>,
    energy: Option<f64>,
    /// Why the reading is malformed (a value of the wrong type, a field given twice).
    bad: Option<String>,
}

/// Maps and scales the values; the values of one meter at one time make one reading.
fn map(source: &Source, found: Found<'_>) -> Decoded {
    let mut out = Decoded::default();
    for e in found.malformed {
        out.rejected.push((Reason::Malformed, e.to_string()));
    }
    let mut index: HashMap<(&str, i64), usize> = HashMap::new();
    let mut groups: Vec<(&str, i64, Group)> = Vec::new();
    for item in &found.items {
        let Some(entry) = source.entry(&item.key, item.tags) else {
            out.unmapped += 1;
            continue;
        };
        let value = match &item.value {
            GwValue::Error(code) => {
                out.rejected.push((
                    Reason::GatewayError,
                    format!(
                        "{:?} (meter {:?}) at ts {}: the gateway reported error {code}",
                        item.key, entry.meter, item.ts
                    ),
                ));
                continue;
            }
            GwValue::Wrong(k) => Err(format!("{:?} must be a number, got {k}", item.key)),
            GwValue::Num(v) => Ok(v * entry.scale),
        };
        let i = *index
            .entry((entry.meter.as_str(), item.ts))
            .or_insert_with(|| {
                groups.push((entry.meter.as_str(), item.ts, Group::default()));
                groups.len() - 1
            });
        let g = &mut groups[i].2;
        let slot = match entry.field {
            MapField::PowerKw => &mut g.power,
            // A water meter's register (m³) rides in the register slot, as for a §3 reading
            // (config validation maps volume_m3 to water meters only, the others to the rest).
            MapField::EnergyKwh | MapField::VolumeM3 => &mut g.energy,
        };
        match value {
            Err(msg) => {
                g.bad.get_or_insert(msg);
            }
            Ok(_) if slot.is_some() => {
                g.bad.get_or_insert(format!(
                    "meter {:?} has {} twice at ts {}",
                    entry.meter,
                    entry.field.as_str(),
                    item.ts
                ));
            }
            Ok(v) => *slot = Some(v),
        }
    }
    groups.sort_by_key(|(_, ts, _)| *ts);
    for (meter, ts, g) in groups {
        if let Some(msg) = g.bad {
            out.rejected.push((Reason::Malformed, msg));
            continue;
        }
        match judge_values(ts, g.power, g.energy) {
            Ok(r) => out.readings.push((meter.to_string(), r)),
            Err(e) => out
                .rejected
                .push((e.reason(), format!("meter {meter:?}: {e}"))),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A config with one facility (`grid`, `ups-a`, `ups-b`) and the given sources.
    pub(crate) fn cfg(sources: &str) -> Config {
        let text = format!(
            "[[facility]]\nid = \"f1\"\nname = \"One\"\ncity = \"A\"\ntier = \"core\"\n\
             class = \"large\"\ncommissioned = \"2023-06-01\"\n  [[facility.meter]]\n  \
             id = \"grid\"\n  role = \"total\"\n  [[facility.meter]]\n  id = \"ups-a\"\n  \
             role = \"it\"\n  [[facility.meter]]\n  id = \"ups-b\"\n  role = \"it\"\n\n{sources}"
        );
        match Config::parse(&text, "t.toml") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    pub(crate) fn source(sources: &str) -> Source {
        Source::new(&cfg(sources).sources[0])
    }

    /// A decoded reading of `meter` at `ts`, metered, as [`Decoded::readings`] holds it.
    pub(crate) fn reading(
        meter: &str,
        ts: i64,
        power_kw: Option<f64>,
        energy_kwh: Option<f64>,
    ) -> (String, Reading) {
        let r = Reading {
            ts,
            power_kw,
            energy_kwh,
            quality: Default::default(),
        };
        (meter.to_string(), r)
    }

    #[test]
    fn values_of_one_meter_at_one_time_make_one_reading_scaled() {
        let s = source(
            "[[source]]\nname = \"n\"\nformat = \"neuron\"\ntopic = \"gw/#\"\nfacility = \"f1\"\n\
             [[source.map]]\nkey = \"k/w\"\nmeter = \"grid\"\nfield = \"power_kw\"\nscale = 0.001\n\
             [[source.map]]\nkey = \"k/wh\"\nmeter = \"grid\"\nfield = \"energy_kwh\"\nscale = 0.001\n",
        );
        let item = |key: &str, v: GwValue| Item {
            key: key.into(),
            ts: 1_764_460_800_000,
            value: v,
            tags: None,
        };
        let d = map(
            &s,
            Found {
                items: vec![
                    item("k/w", GwValue::Num(1500.0)),
                    item("k/wh", GwValue::Num(2_000_000.0)),
                    item("k/other", GwValue::Num(1.0)),
                ],
                malformed: vec![],
            },
        );
        assert_eq!(
            d.readings,
            vec![reading("grid", 1_764_460_800_000, Some(1.5), Some(2000.0))]
        );
        assert_eq!(d.unmapped, 1);
        assert!(d.rejected.is_empty());
        // a negative value is invalid_value for the whole reading, as in §3; a string is malformed
        let d = map(
            &s,
            Found {
                items: vec![
                    item("k/w", GwValue::Num(-1.0)),
                    item("k/wh", GwValue::Num(5.0)),
                ],
                malformed: vec![],
            },
        );
        assert_eq!(d.rejected[0].0, Reason::InvalidValue);
        assert!(d.readings.is_empty());
        let d = map(
            &s,
            Found {
                items: vec![item("k/w", GwValue::Wrong("a string"))],
                malformed: vec![],
            },
        );
        assert_eq!(d.rejected[0].0, Reason::Malformed);
        assert!(d.rejected[0].1.contains("k/w"), "{}", d.rejected[0].1);
    }

    /// CONTRACT §12/§14: a `volume_m3` entry carries a water meter's register, which the engine
    /// takes as that meter's reading (m³ in the register slot, as a §3 `volume_m3` reading).
    #[test]
    fn volume_m3_is_a_water_meters_register() {
        let text = "[[facility]]\nid = \"f1\"\nname = \"One\"\ncity = \"A\"\ntier = \"core\"\n\
             class = \"large\"\ncommissioned = \"2023-06-01\"\n  [[facility.meter]]\n  \
             id = \"grid\"\n  role = \"total\"\n  [[facility.meter]]\n  id = \"it\"\n  \
             role = \"it\"\n  [[facility.meter]]\n  id = \"water\"\n  role = \"water\"\n\n\
             [[source]]\nname = \"n\"\nformat = \"neuron\"\ntopic = \"gw/#\"\nfacility = \"f1\"\n\
             [[source.map]]\nkey = \"node/g/cw\"\nmeter = \"water\"\nfield = \"volume_m3\"\nscale = 0.001\n";
        let cfg = match Config::parse(text, "t.toml") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let s = Source::new(&cfg.sources[0]);
        let ts = 1_764_460_800_000i64;
        let mut engine = crate::engine::Engine::new(&cfg);
        let m = engine.lookup("f1", "water").unwrap();
        for (k, litres) in [(0, 48_213_700.0), (1, 48_214_900.0)] {
            let payload = format!(
                r#"{{"timestamp":{},"node":"node","group":"g","values":{{"cw":{litres}}}}}"#,
                ts + k * 60_000
            );
            let d = decode(&s, payload.as_bytes()).unwrap();
            assert!(d.rejected.is_empty(), "{:?}", d.rejected);
            assert_eq!(d.readings.len(), 1);
            let (meter, r) = &d.readings[0];
            assert_eq!(meter, "water");
            assert_eq!((r.power_kw, r.energy_kwh), (None, Some(litres * 0.001)));
            assert_eq!(
                engine.ingest(m, *r, ts + 3_600_000),
                crate::engine::Verdict::Accepted
            );
        }
        let snap = engine.snapshot(ts + 3_600_000);
        let water = &snap.facilities[0].meters[2];
        assert_eq!(water.last_volume_m3, Some(48_214.9));
    }

    #[test]
    fn payload_level_verdicts() {
        let s = source(
            "[[source]]\nname = \"n\"\nformat = \"neuron\"\ntopic = \"gw/#\"\nfacility = \"f1\"\n\
             [[source.map]]\nkey = \"k\"\nmeter = \"grid\"\nfield = \"power_kw\"\n",
        );
        assert_eq!(
            decode(&s, &vec![b' '; MAX_PAYLOAD + 1]).unwrap_err().0,
            Reason::TooLarge
        );
        assert_eq!(decode(&s, b"{nope").unwrap_err().0, Reason::Malformed);
        let (reason, msg) = decode(&s, b"[1,2]").unwrap_err();
        assert_eq!(reason, Reason::Malformed);
        assert!(msg.contains("neuron"), "{msg}");
    }

    #[test]
    fn routes_and_filters() {
        let c = cfg(
            "[[source]]\nname = \"n\"\nformat = \"neuron\"\ntopic = \"/neuron/dcpue/+/+\"\n\
             facility = \"f1\"\n[[source.map]]\nkey = \"k\"\nmeter = \"grid\"\nfield = \"power_kw\"\n",
        );
        let r = Routes::new(&c);
        assert_eq!(r.filters(), vec!["dc/+/+", "/neuron/dcpue/+/+"]);
        assert_eq!(
            r.source("/neuron/dcpue/a/b").map(|s| s.name.as_str()),
            Some("n")
        );
        assert!(r.source("dc/f1/grid").is_none());
        assert!(r.source("/neuron/dcpue/a").is_none());
    }
}
