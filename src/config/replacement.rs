//! `[[facility.meter.replacement]]` (CONTRACT §13): a meter swapped for a new one, declared so
//! that its register drop is neither a reset nor a glitch. The energy rule is the engine's
//! (`engine::meter`); here the declaration and its checks.

use serde::{Deserialize, Serialize};

/// Replacements per meter: a bound on what the config may declare.
pub const MAX_PER_METER: usize = 64;

/// One declared replacement of a meter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplacementConfig {
    /// When the new register starts counting: RFC 3339 with an offset. Readings before it are
    /// the old register's, at or after it the new one's.
    pub at: String,
    /// The old register's last value (kWh; m³ for a water meter).
    pub old_final_kwh: f64,
    /// The new register's first value.
    pub new_initial_kwh: f64,
}

/// What is wrong with a meter's replacements: the key it is about and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplacementError {
    #[error("more than {MAX_PER_METER} replacements")]
    TooMany,
    #[error("replacement at {at:?}: at must be RFC 3339 with an offset (like \"2026-05-01T10:00:00+08:00\"): {why}")]
    At { at: String, why: String },
    #[error("replacement at {at:?}: {key} must be a finite number >= 0")]
    Value { at: String, key: &'static str },
    #[error("replacement at {at:?} is not after the one before it: list a meter's replacements in increasing order of at")]
    Order { at: String },
}

impl ReplacementError {
    /// The key of the replacement the error is about.
    pub fn key(&self) -> &'static str {
        match self {
            ReplacementError::TooMany | ReplacementError::At { .. } => "at",
            ReplacementError::Order { .. } => "at",
            ReplacementError::Value { key, .. } => key,
        }
    }
}

impl ReplacementConfig {
    /// `at` as epoch milliseconds.
    pub fn at_ms(&self) -> Result<i64, ReplacementError> {
        chrono::DateTime::parse_from_rfc3339(&self.at)
            .map(|t| t.timestamp_millis())
            .map_err(|e| ReplacementError::At {
                at: short(&self.at),
                why: e.to_string(),
            })
    }
}

fn short(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Checks one meter's replacements; on error, the index of the replacement it is about.
pub fn check(list: &[ReplacementConfig]) -> Result<(), (usize, ReplacementError)> {
    if list.len() > MAX_PER_METER {
        return Err((MAX_PER_METER, ReplacementError::TooMany));
    }
    let mut prev: Option<i64> = None;
    for (i, r) in list.iter().enumerate() {
        let at = r.at_ms().map_err(|e| (i, e))?;
        for (key, v) in [
            ("old_final_kwh", r.old_final_kwh),
            ("new_initial_kwh", r.new_initial_kwh),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err((
                    i,
                    ReplacementError::Value {
                        at: short(&r.at),
                        key,
                    },
                ));
            }
        }
        if prev.is_some_and(|p| at <= p) {
            return Err((i, ReplacementError::Order { at: short(&r.at) }));
        }
        prev = Some(at);
    }
    Ok(())
}

/// One line per replacement, for `check-config`.
pub fn summary(list: &[ReplacementConfig]) -> Vec<String> {
    list.iter()
        .map(|r| {
            format!(
                "replaced at {}: old register's final value {}, new register's first value {}",
                r.at, r.old_final_kwh, r.new_initial_kwh
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(at: &str, old: f64, new: f64) -> ReplacementConfig {
        ReplacementConfig {
            at: at.into(),
            old_final_kwh: old,
            new_initial_kwh: new,
        }
    }

    /// A config error names the file, the line of the replacement's key, and the meter.
    #[test]
    fn config_errors_name_the_line_of_the_key() {
        let text = |old: &str, at2: &str| {
            format!(
                "[[facility]]\nid = \"f\"\nname = \"F\"\ncity = \"A\"\ntier = \"core\"\n\
                 class = \"large\"\ncommissioned = \"2023-06-01\"\n  [[facility.meter]]\n  \
                 id = \"grid\"\n  role = \"total\"\n    [[facility.meter.replacement]]\n    \
                 at = \"2026-05-01T10:00:00+08:00\"\n    old_final_kwh = {old}\n    \
                 new_initial_kwh = 0.0\n    [[facility.meter.replacement]]\n    at = \"{at2}\"\n    \
                 old_final_kwh = 5.0\n    new_initial_kwh = 0.0\n  [[facility.meter]]\n  \
                 id = \"it\"\n  role = \"it\"\n"
            )
        };
        let ok = crate::config::Config::parse(&text("1234567.8", "2026-06-01T00:00:00Z"), "t.toml")
            .unwrap();
        assert_eq!(ok.facilities[0].meters[0].replacements.len(), 2);
        for (old, at2, line, needle) in [
            (
                "-1.0",
                "2026-06-01T00:00:00Z",
                13,
                "old_final_kwh must be a finite number >= 0",
            ),
            ("nan", "2026-06-01T00:00:00Z", 13, "old_final_kwh"),
            (
                "1.0",
                "2026-04-01T00:00:00Z",
                16,
                "not after the one before it",
            ),
            ("1.0", "yesterday", 16, "RFC 3339"),
        ] {
            let e = crate::config::Config::parse(&text(old, at2), "t.toml")
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("t.toml:{line}:"))
                    && e.contains(needle)
                    && e.contains("grid"),
                "{old} {at2}: {e}"
            );
        }
    }

    #[test]
    fn good_list_passes_and_converts() {
        let l = [
            r("2026-05-01T10:00:00+08:00", 1234567.8, 0.0),
            r("2026-06-01T00:00:00Z", 500.0, 3.5),
        ];
        assert_eq!(check(&l), Ok(()));
        assert_eq!(l[0].at_ms(), Ok(1_777_600_800_000));
    }

    #[test]
    fn each_problem_names_its_entry_and_key() {
        let ok = r("2026-05-01T10:00:00+08:00", 1.0, 0.0);
        let cases: Vec<(Vec<ReplacementConfig>, usize, &str)> = vec![
            (vec![r("2026-05-01 10:00", 1.0, 0.0)], 0, "at"),
            (vec![r("2026-05-01T10:00:00", 1.0, 0.0)], 0, "at"),
            (
                vec![ok.clone(), r("2026-05-02T00:00:00Z", -1.0, 0.0)],
                1,
                "old_final_kwh",
            ),
            (
                vec![r("2026-05-02T00:00:00Z", 1.0, f64::NAN)],
                0,
                "new_initial_kwh",
            ),
            (
                vec![r("2026-05-02T00:00:00Z", f64::INFINITY, 0.0)],
                0,
                "old_final_kwh",
            ),
            (vec![ok.clone(), ok.clone()], 1, "at"),
            (
                vec![ok.clone(), r("2026-04-01T00:00:00Z", 1.0, 0.0)],
                1,
                "at",
            ),
            (vec![ok.clone(); MAX_PER_METER + 1], MAX_PER_METER, "at"),
        ];
        for (list, idx, key) in cases {
            let (i, e) = check(&list).unwrap_err();
            assert_eq!((i, e.key()), (idx, key), "{e}");
        }
    }
}
