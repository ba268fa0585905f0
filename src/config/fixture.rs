//! Config text for unit tests: a `[[facility]]` table built from the few facts a test cares
//! about, so the tests of every module share one fixture instead of each copying its own TOML.

use std::fmt;

use super::Config;

/// The smallest whole config: facility `a-1` named A with the usual `grid` and `it` meters.
/// Kept as text so that tests can edit it (`MINIMAL.replace(..)`); a test below holds it to
/// `facility("a-1").name("A").grid_and_it()`.
pub(crate) const MINIMAL: &str = r#"
[[facility]]
id = "a-1"
name = "A"
city = "Nanchang"
tier = "core"
class = "large"
commissioned = "2023-06-01"
  [[facility.meter]]
  id = "grid"
  role = "total"
  [[facility.meter]]
  id = "it"
  role = "it"
"#;

/// The `[engine]` keys of the engine's unit tests: the five usual windows, judged on the year.
const FIVE_WINDOWS_KEYS: &str =
    "windows = [\"15m\", \"1h\", \"24h\", \"30d\", \"365d\"]\ncompliance_window = \"365d\"\n";

/// A parsed config of the `[engine]` keys `engine` and the facility `f`. Panics on a config the
/// test wrote wrong.
pub(crate) fn engine_config(engine: &str, f: &FacilityToml) -> Config {
    let text = format!("[engine]\n{engine}\n{f}");
    Config::parse(&text, "test.toml").unwrap()
}

/// [`engine_config`] with the five usual windows judged on the year, then `extra`: more
/// `[engine]` keys, or whole tables.
pub(crate) fn five_windows_config(extra: &str, f: &FacilityToml) -> Config {
    engine_config(&format!("{FIVE_WINDOWS_KEYS}{extra}"), f)
}

/// A `[[facility]]` table. Unless changed: a core, large facility commissioned on 2023-06-01
/// (so held to the 1.3 ceiling), named after its id, in Nanchang, with no meters.
#[derive(Debug, Clone)]
pub(crate) struct FacilityToml {
    id: String,
    name: String,
    city: String,
    tier: String,
    class: String,
    commissioned: String,
    /// Lines of the facility table itself (`renewable_target = 0.3`) and its meter tables.
    body: String,
}

/// A facility table with id `id` (see [`FacilityToml`] for the defaults).
pub(crate) fn facility(id: &str) -> FacilityToml {
    FacilityToml {
        id: id.to_string(),
        name: id.to_uppercase(),
        city: "Nanchang".into(),
        tier: "core".into(),
        class: "large".into(),
        commissioned: "2023-06-01".into(),
        body: String::new(),
    }
}

impl FacilityToml {
    pub(crate) fn name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    pub(crate) fn city(mut self, city: &str) -> Self {
        self.city = city.into();
        self
    }

    pub(crate) fn tier(mut self, tier: &str) -> Self {
        self.tier = tier.into();
        self
    }

    pub(crate) fn class(mut self, class: &str) -> Self {
        self.class = class.into();
        self
    }

    pub(crate) fn commissioned(mut self, date: &str) -> Self {
        self.commissioned = date.into();
        self
    }

    /// A line of the facility table (`renewable_target = 0.3`); before any meter.
    pub(crate) fn key(mut self, line: &str) -> Self {
        self.body.push_str(line);
        self.body.push('\n');
        self
    }

    /// A meter with one role (`"total"`, `"it"`, `"renewable"`).
    pub(crate) fn meter(self, id: &str, role: &str) -> Self {
        self.meter_with(id, role, "")
    }

    /// A meter with one role and more lines of its table (`max_gap = "20m"`).
    pub(crate) fn meter_with(mut self, id: &str, role: &str, lines: &str) -> Self {
        self.body.push_str(&format!(
            "  [[facility.meter]]\n  id = \"{id}\"\n  role = \"{role}\"\n"
        ));
        for l in lines.lines().filter(|l| !l.trim().is_empty()) {
            self.body.push_str(&format!("  {}\n", l.trim()));
        }
        self
    }

    /// The usual pair: `grid` (total) and `it` (IT).
    pub(crate) fn grid_and_it(self) -> Self {
        self.meter("grid", "total").meter("it", "it")
    }

    /// Meter tables (or anything else) as raw TOML text, after what is there.
    pub(crate) fn raw(mut self, text: &str) -> Self {
        self.body.push_str(text);
        if !text.ends_with('\n') {
            self.body.push('\n');
        }
        self
    }
}

impl fmt::Display for FacilityToml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\n[[facility]]\nid = \"{}\"\nname = \"{}\"\ncity = \"{}\"\ntier = \"{}\"\nclass = \"{}\"\ncommissioned = \"{}\"\n{}",
            self.id, self.name, self.city, self.tier, self.class, self.commissioned, self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_facility_is_the_minimal_config() {
        let text = facility("a-1").name("A").grid_and_it().to_string();
        assert_eq!(text, MINIMAL);
        let c = Config::parse(&text, "t.toml").unwrap();
        assert_eq!(c.ceiling(&c.facilities[0]), 1.3);
    }

    #[test]
    fn meters_keys_and_raw_text_land_in_the_facility() {
        let text = facility("f2")
            .tier("backup")
            .class("medium")
            .commissioned("2019-06-01")
            .key("renewable_target = 0.3")
            .meter_with("grid", "total", "max_gap = \"20m\"")
            .raw("  [[facility.meter]]\n  id = \"it\"\n  role = \"it\"")
            .to_string();
        let c = Config::parse(&text, "t.toml").unwrap();
        let f = &c.facilities[0];
        assert_eq!(f.meters.len(), 2);
        assert_eq!(f.renewable_target, Some(0.3));
        assert!(f.meters[0].max_gap.is_some());
    }
}
