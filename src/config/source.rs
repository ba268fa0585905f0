//! `[[source]]` (CONTRACT §12): a gateway's MQTT topic and payload format, and the map from the
//! values it publishes to configured meters.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::checks::{check_text, truncated};
use super::error::Ctx;
use super::locate::Seg;
use super::{limits, valid_id, Config};

/// The payload formats of common meter gateways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    /// EMQX Neuron (values or tags form).
    Neuron,
    /// ThingsBoard IoT Gateway telemetry.
    Thingsboard,
    /// Telegraf's JSON serializer (one metric or a `{"metrics":[…]}` batch).
    Telegraf,
}

impl SourceFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceFormat::Neuron => "neuron",
            SourceFormat::Thingsboard => "thingsboard",
            SourceFormat::Telegraf => "telegraf",
        }
    }
}

/// What a mapped value becomes in a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MapField {
    EnergyKwh,
    PowerKw,
    /// A water register (CONTRACT §14): only for a meter with role `water`.
    VolumeM3,
}

impl MapField {
    pub fn as_str(self) -> &'static str {
        match self {
            MapField::EnergyKwh => "energy_kwh",
            MapField::PowerKw => "power_kw",
            MapField::VolumeM3 => "volume_m3",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    pub format: SourceFormat,
    pub topic: String,
    pub facility: String,
    #[serde(default, rename = "map")]
    pub maps: Vec<MapEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapEntry {
    pub key: String,
    pub meter: String,
    pub field: MapField,
    #[serde(default = "d_scale")]
    pub scale: f64,
    /// Telegraf only: tags the metric must carry, all of them, with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

fn d_scale() -> f64 {
    1.0
}

/// Why a topic is not a valid subscription filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error(
        "must be an MQTT topic filter of 1 to {} bytes",
        limits::TOPIC_PREFIX_LEN
    )]
    Length,
    #[error("must not contain control characters")]
    ControlCharacter,
    #[error("must not be a $ system topic")]
    SystemTopic,
    #[error("# must be a whole level and the last one (like a/b/#)")]
    HashPlacement,
    #[error("+ must be a whole level (like a/+/c)")]
    PlusPlacement,
}

/// Checks `topic` is a valid MQTT subscription filter (MQTT 3.1.1 §4.7): `+` and `#` only as a
/// whole level, `#` only last, no empty filter, no control characters, not a `$` system topic.
pub fn check_filter(topic: &str) -> Result<(), FilterError> {
    if topic.is_empty() || topic.len() > limits::TOPIC_PREFIX_LEN {
        return Err(FilterError::Length);
    }
    if topic.chars().any(|c| c.is_control()) {
        return Err(FilterError::ControlCharacter);
    }
    if topic.starts_with('$') {
        return Err(FilterError::SystemTopic);
    }
    let levels: Vec<&str> = topic.split('/').collect();
    for (i, l) in levels.iter().enumerate() {
        if l.contains('#') && (*l != "#" || i + 1 != levels.len()) {
            return Err(FilterError::HashPlacement);
        }
        if l.contains('+') && *l != "+" {
            return Err(FilterError::PlusPlacement);
        }
    }
    Ok(())
}

/// Whether some topic matches both filters.
pub fn filters_overlap(a: &str, b: &str) -> bool {
    let (mut a, mut b) = (a.split('/'), b.split('/'));
    loop {
        match (a.next(), b.next()) {
            (Some("#"), _) | (_, Some("#")) => return true,
            (None, None) => return true,
            // `x/#` also matches `x`
            (None, Some(l)) | (Some(l), None) => {
                return l == "#";
            }
            (Some(x), Some(y)) => {
                if x != y && x != "+" && y != "+" {
                    return false;
                }
            }
        }
    }
}

/// Whether `topic` (a topic name, no wildcards) matches `filter`.
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    // Wildcards at the first level do not match `$` topics (MQTT 3.1.1 §4.7.2).
    if topic.starts_with('$') {
        return false;
    }
    let (mut f, mut t) = (filter.split('/'), topic.split('/'));
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (None, None) => return true,
            (Some("+"), Some(_)) => {}
            (Some(x), Some(y)) if x == y => {}
            _ => return false,
        }
    }
}

/// Validates every `[[source]]`: `at` turns a key path and a message into the error at its line.
pub(super) fn validate(cfg: &Config, cx: &Ctx) -> Result<(), super::ConfigError> {
    use Seg::{Idx, Key};
    if cfg.sources.len() > limits::SOURCES {
        return Err(cx.at(
            &[Key("source"), Idx(limits::SOURCES)],
            format!("more than {} [[source]] entries", limits::SOURCES),
        ));
    }
    let native = format!("{}/+/+", cfg.mqtt.topic_prefix);
    let mut names = HashSet::new();
    for (si, s) in cfg.sources.iter().enumerate() {
        let skey = |key: &'static str| [Key("source"), Idx(si), Key(key)];
        if !valid_id(&s.name) {
            return Err(cx.at(
                &skey("name"),
                format!(
                    "source name {:?} must match [a-z0-9_-]+, at most {} characters",
                    truncated(&s.name),
                    limits::ID_LEN
                ),
            ));
        }
        let name = &s.name;
        if !names.insert(name.as_str()) {
            return Err(cx.at(&skey("name"), format!("source name {name:?} is used twice")));
        }
        check_filter(&s.topic).map_err(|m| {
            cx.at(
                &skey("topic"),
                format!("source {name:?}: topic {:?} {m}", truncated(&s.topic)),
            )
        })?;
        if filters_overlap(&s.topic, &native) {
            return Err(cx.at(
                &skey("topic"),
                format!(
                    "source {name:?}: topic {:?} overlaps dcpue's own topics {native:?}: a message \
                     there would be both a reading and a gateway payload (use a topic outside \
                     mqtt.topic_prefix, or one with a different number of levels)",
                    s.topic
                ),
            ));
        }
        if let Some(other) = cfg.sources[..si]
            .iter()
            .find(|o| filters_overlap(&o.topic, &s.topic))
        {
            return Err(cx.at(
                &skey("topic"),
                format!(
                    "source {name:?}: topic {:?} overlaps source {:?}'s {:?}: each message must \
                     belong to one source",
                    s.topic, other.name, other.topic
                ),
            ));
        }
        let Some(facility) = cfg.facility(&s.facility) else {
            return Err(cx.at(
                &skey("facility"),
                format!(
                    "source {name:?}: no facility {:?} in the config",
                    truncated(&s.facility)
                ),
            ));
        };
        if s.maps.is_empty() {
            return Err(cx.at(
                &skey("name"),
                format!("source {name:?} has no [[source.map]] entry: it would take nothing"),
            ));
        }
        if s.maps.len() > limits::SOURCE_MAPS {
            return Err(cx.at(
                &[Key("source"), Idx(si), Key("map"), Idx(limits::SOURCE_MAPS)],
                format!(
                    "source {name:?}: more than {} [[source.map]] entries",
                    limits::SOURCE_MAPS
                ),
            ));
        }
        let mut keys = HashSet::new();
        let mut targets = HashSet::new();
        for (mi, m) in s.maps.iter().enumerate() {
            let mkey = |key: &'static str| [Key("source"), Idx(si), Key("map"), Idx(mi), Key(key)];
            check_text(
                &format!("source {name:?}: map key"),
                &m.key,
                limits::SOURCE_KEY_LEN,
            )
            .map_err(|e| cx.value(&mkey("key"), e))?;
            if m.key.is_empty() {
                return Err(cx.at(
                    &mkey("key"),
                    format!("source {name:?}: map key must not be empty"),
                ));
            }
            if !keys.insert((m.key.as_str(), &m.tags)) {
                return Err(cx.at(
                    &mkey("key"),
                    format!("source {name:?}: key {:?} is mapped twice", m.key),
                ));
            }
            let Some(target) = facility.meters.iter().find(|mc| mc.id() == m.meter) else {
                return Err(cx.at(
                    &mkey("meter"),
                    format!(
                        "source {name:?}: no meter {:?} in facility {:?}",
                        truncated(&m.meter),
                        facility.id()
                    ),
                ));
            };
            // A water meter's register is volume_m3, and it has nothing else (CONTRACT §14).
            let water = target.has_role(super::Role::Water);
            if water != (m.field == MapField::VolumeM3) {
                return Err(cx.at(
                    &mkey("field"),
                    if water {
                        format!(
                            "source {name:?}: meter {:?} is a water meter: map its register with field = \"volume_m3\", not {}",
                            m.meter,
                            m.field.as_str()
                        )
                    } else {
                        format!(
                            "source {name:?}: field \"volume_m3\" applies only to a water meter, and meter {:?} is not one (map energy_kwh or power_kw)",
                            m.meter
                        )
                    },
                ));
            }
            if !targets.insert((m.meter.as_str(), m.field, &m.tags)) {
                return Err(cx.at(
                    &mkey("field"),
                    format!(
                        "source {name:?}: meter {:?} field {} is already mapped by another key \
                         (two values for one reading would conflict)",
                        m.meter,
                        m.field.as_str()
                    ),
                ));
            }
            if !(m.scale.is_finite() && m.scale > 0.0) {
                return Err(cx.at(
                    &mkey("scale"),
                    format!("source {name:?}: scale must be a finite number > 0"),
                ));
            }
            if !m.tags.is_empty() && s.format != SourceFormat::Telegraf {
                return Err(cx.at(
                    &mkey("tags"),
                    format!(
                        "source {name:?}: tags match Telegraf metrics only, not format {:?}",
                        s.format.as_str()
                    ),
                ));
            }
            if m.tags.len() > limits::SOURCE_TAGS {
                return Err(cx.at(
                    &mkey("tags"),
                    format!("source {name:?}: at most {} tags", limits::SOURCE_TAGS),
                ));
            }
            for (k, v) in &m.tags {
                check_text(&format!("source {name:?}: tag"), k, limits::TEXT_LEN)
                    .and_then(|()| {
                        check_text(&format!("source {name:?}: tag"), v, limits::TEXT_LEN)
                    })
                    .map_err(|e| cx.value(&mkey("tags"), e))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sources: &str) -> Result<Config, String> {
        let text = format!(
            "[[facility]]\nid = \"f1\"\nname = \"One\"\ncity = \"A\"\ntier = \"core\"\n\
             class = \"large\"\ncommissioned = \"2023-06-01\"\n  [[facility.meter]]\n  \
             id = \"grid\"\n  role = \"total\"\n  [[facility.meter]]\n  id = \"it\"\n  \
             role = \"it\"\n\n{sources}"
        );
        Config::parse(&text, "s.toml").map_err(|e| e.to_string())
    }

    /// A source (from line 15 of the file) whose first map entry is `entry`.
    fn one(topic: &str, facility: &str, entry: &str) -> String {
        format!(
            "[[source]]\nname = \"gw\"\nformat = \"neuron\"\ntopic = \"{topic}\"\n\
             facility = \"{facility}\"\n[[source.map]]\n{entry}\n"
        )
    }

    /// `volume_m3` maps a water meter's register, and only that; the error names the field's line.
    #[test]
    fn volume_m3_maps_water_meters_only() {
        let water = |meter: &str, field: &str| {
            let text = format!(
                "[[facility]]\nid = \"f1\"\nname = \"One\"\ncity = \"A\"\ntier = \"core\"\n\
                 class = \"large\"\ncommissioned = \"2023-06-01\"\n  [[facility.meter]]\n  \
                 id = \"grid\"\n  role = \"total\"\n  [[facility.meter]]\n  id = \"it\"\n  \
                 role = \"it\"\n  [[facility.meter]]\n  id = \"water\"\n  role = \"water\"\n\n{}",
                one(
                    "gw/+",
                    "f1",
                    &format!("key = \"n/g/t\"\nmeter = \"{meter}\"\nfield = \"{field}\"\n")
                )
            );
            Config::parse(&text, "s.toml").map_err(|e| e.to_string())
        };
        let c = water("water", "volume_m3").unwrap();
        assert_eq!(c.sources[0].maps[0].field, MapField::VolumeM3);
        // [[source]] at line 18: the map entry's field at line 26
        for (meter, field, needle) in [
            ("water", "energy_kwh", "is a water meter"),
            ("water", "power_kw", "is a water meter"),
            ("grid", "volume_m3", "applies only to a water meter"),
        ] {
            let e = water(meter, field).unwrap_err();
            assert!(
                e.starts_with("s.toml:26:") && e.contains(needle) && e.contains(meter),
                "{meter} {field}: {e}"
            );
        }
    }

    #[test]
    fn a_good_source_parses() {
        let c = parse(&one(
            "/neuron/dcpue/+/+",
            "f1",
            "key = \"n/g/t\"\nmeter = \"grid\"\nfield = \"energy_kwh\"",
        ))
        .unwrap();
        assert_eq!(c.sources[0].maps[0].scale, 1.0);
        assert_eq!(c.sources[0].format, SourceFormat::Neuron);
    }

    #[test]
    fn errors_name_the_line_and_the_key() {
        let entry = |meter: &str, field: &str, extra: &str| {
            format!("key = \"n/g/t\"\nmeter = \"{meter}\"\nfield = \"{field}\"\n{extra}")
        };
        // [[source]] at line 15: topic 18, facility 19; the map entry's meter 22, field 23, then 24
        let power =
            |topic: &str, facility: &str| one(topic, facility, &entry("grid", "power_kw", ""));
        let bad_entry =
            |meter: &str, field: &str, extra: &str| one("gw/+", "f1", &entry(meter, field, extra));
        for (text, line, needle) in [
            (
                bad_entry("nope", "energy_kwh", ""),
                22,
                "no meter \"nope\" in facility \"f1\"",
            ),
            (
                bad_entry("grid", "volume_m3", ""),
                23,
                "applies only to a water meter",
            ),
            (bad_entry("grid", "power_kw", "scale = 0.0"), 24, "scale"),
            (
                bad_entry("grid", "power_kw", "tags = { a = \"b\" }"),
                24,
                "Telegraf",
            ),
            (power("gw/+", "f9"), 19, "no facility \"f9\""),
            (power("dc/+/+", "f1"), 18, "overlaps dcpue's own topics"),
            (power("#", "f1"), 18, "overlaps"),
            (power("gw/#/x", "f1"), 18, "# must be"),
        ] {
            let e = parse(&text).unwrap_err();
            assert!(
                e.starts_with(&format!("s.toml:{line}:")) && e.contains(needle),
                "{e}\n--- expected line {line} and {needle:?} in\n{text}"
            );
        }
        let two = format!(
            "{}{}",
            power("gw/a/+", "f1"),
            power("gw/+/b", "f1").replace("\"gw\"", "\"gw2\"")
        );
        let e = parse(&two).unwrap_err();
        assert!(e.contains("overlaps source \"gw\""), "{e}");
        let field = one("gw/+", "f1", &entry("grid", "watts", ""));
        assert!(parse(&field).unwrap_err().contains("watts"));
    }

    #[test]
    fn filters() {
        for good in [
            "/neuron/dcpue/+/+",
            "a/#",
            "#",
            "+",
            "tb/telemetry",
            "a/+/b",
        ] {
            assert!(check_filter(good).is_ok(), "{good}");
        }
        for bad in ["", "a/#/b", "a#", "a/b+", "$SYS/#", "a\u{0}b"] {
            assert!(check_filter(bad).is_err(), "{bad:?}");
        }
        assert!(filters_overlap("dc/+/+", "dc/a/b"));
        assert!(filters_overlap("dc/+/+", "#"));
        assert!(filters_overlap("dc/#", "dc"));
        assert!(filters_overlap("+/x/+", "dc/+/+"));
        assert!(!filters_overlap("dc/+/+", "dc/+"));
        assert!(!filters_overlap("dc/+/+", "dc/a/b/c"));
        assert!(!filters_overlap("dc/+/+", "/neuron/dcpue/+/+"));
        assert!(!filters_overlap("dc/+/+", "gw/+/+"));
        assert!(filter_matches("/neuron/dcpue/+/+", "/neuron/dcpue/n/g"));
        assert!(!filter_matches("/neuron/dcpue/+/+", "/neuron/dcpue/n"));
        assert!(filter_matches("tb/#", "tb"));
        assert!(filter_matches("tb/#", "tb/a/b"));
        assert!(!filter_matches("#", "$SYS/x"));
        assert!(!filter_matches("a/b", "a/c"));
    }
}
