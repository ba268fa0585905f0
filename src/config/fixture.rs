//! Config text for unit tests: a `[[facility]]` table built from the few facts a test cares
//! about, so the tests of every module share one fixture instead of each copying its own TOML.

use super::Config;

mod facility_toml;
pub(crate) use facility_toml::{facility, FacilityToml};

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
