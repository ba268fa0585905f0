//! `[policy]`: the compliance policy's numbers.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::error::Ctx;
use super::kpi;
use super::locate::Seg;
use super::{ConfigError, FacilityConfig};
use crate::model::Class;

/// Policy numbers: 赣发〔2022〕4号 and GB 40879-2021. Defaults are the published values.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Facilities commissioned on or after this date are "new".
    #[serde(default = "d_new_since")]
    pub new_since: NaiveDate,
    /// The ceiling of new large and ultra-large data centres.
    #[serde(default = "d_new_ceiling")]
    pub new_large_ceiling: f64,
    /// GB 40879-2021 grade bounds on the annual energy ratio: grade 1, 2, 3 (the legal limit).
    #[serde(default = "d_grades")]
    pub grade_bounds: [f64; 3],
    /// kg CO2 per kWh of grid electricity, for CUE (CONTRACT §14); no default: CUE is null
    /// without it.
    #[serde(default)]
    pub grid_emission_factor: Option<f64>,
}
fn d_new_since() -> NaiveDate {
    NaiveDate::from_ymd_opt(2022, 1, 30).expect("valid date")
}
fn d_new_ceiling() -> f64 {
    1.3
}
fn d_grades() -> [f64; 3] {
    [1.2, 1.3, 1.5]
}
impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            new_since: d_new_since(),
            new_large_ceiling: d_new_ceiling(),
            grade_bounds: d_grades(),
            grid_emission_factor: None,
        }
    }
}

impl PolicyConfig {
    /// The facility's PUE ceiling: its own, else by policy (new large and ultra-large data
    /// centres: `new_large_ceiling`; every other: the grade-3 bound, the legal limit).
    pub fn ceiling(&self, f: &FacilityConfig) -> f64 {
        if let Some(c) = f.pue_ceiling {
            return c;
        }
        let new = f.commissioned >= self.new_since;
        let large = matches!(f.class, Class::Large | Class::UltraLarge);
        if new && large {
            self.new_large_ceiling
        } else {
            self.grade_bounds[2]
        }
    }

    /// GB 40879 grade of a PUE: 1, 2, 3, or None above the grade-3 bound.
    pub fn grade(&self, pue: f64) -> Option<u8> {
        let b = self.grade_bounds;
        if pue <= b[0] {
            Some(1)
        } else if pue <= b[1] {
            Some(2)
        } else if pue <= b[2] {
            Some(3)
        } else {
            None
        }
    }

    pub(super) fn validate(&self, cx: &Ctx) -> Result<(), ConfigError> {
        use Seg::Key;
        let b = self.grade_bounds;
        if !(b.iter().all(|x| x.is_finite()) && b[0] < b[1] && b[1] < b[2] && b[0] >= 1.0) {
            return Err(cx.at(
                &[Key("policy"), Key("grade_bounds")],
                "policy.grade_bounds must rise: [grade1, grade2, grade3], each ≥ 1.0".into(),
            ));
        }
        if let Some(g) = self.grid_emission_factor {
            kpi::check_grid_factor(g)
                .map_err(|e| cx.at(&[Key("policy"), Key("grid_emission_factor")], e.to_string()))?;
        }
        let c = self.new_large_ceiling;
        if !(c.is_finite() && c >= 1.0) {
            return Err(cx.at(
                &[Key("policy"), Key("new_large_ceiling")],
                "policy.new_large_ceiling must be ≥ 1.0".into(),
            ));
        }
        Ok(())
    }
}
