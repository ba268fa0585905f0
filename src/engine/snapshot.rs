//! The immutable results the engine hands to readers (HTTP API, metrics, page, sinks, alerts).
//! A reader holds an `Arc<Snapshot>`; ingest never waits for it.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use crate::config::{Class, Role, Tier};

use super::reading::Reason;

/// Energies of one window by role, kWh, weights applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Energies {
    pub total: f64,
    pub it: f64,
    pub renewable: f64,
}

/// The sustainability KPIs of one window (CONTRACT §14) and the inputs they come from. Each
/// KPI is None when an input's meters cover less than `min_coverage` of the window, or the
/// facility has no such meter; never NaN or infinite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Kpis {
    /// 1000 × water m³(W) / E_it(W), L/kWh.
    pub wue: Option<f64>,
    /// E_reused_heat(W) / E_total(W).
    pub erf: Option<f64>,
    /// (E_renewable(W) + certificate energy in W) / E_total(W), within [0, 1].
    #[serde(rename = "ref")]
    pub ref_: Option<f64>,
    /// max(E_total − E_renewable − certificates, 0) × grid_emission_factor / E_it, kg CO2/kWh.
    pub cue: Option<f64>,
    /// Water drawn in W, m³ (weights applied).
    pub water_m3: f64,
    /// Heat delivered for reuse in W, kWh.
    pub reused_heat_kwh: f64,
    /// Green-certificate energy attributed to W, kWh.
    pub certificate_kwh: f64,
}

/// The results of one window ending at `end_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowValues {
    /// E_total(C) / E_it(C) over the common covered time; None without IT energy.
    pub pue: Option<f64>,
    /// |C(W)| / |W|.
    pub coverage: f64,
    /// E_renewable(W) / E_total(W); None when renewable meters cover less than min_coverage.
    pub renewable_share: Option<f64>,
    /// All energy measured inside W, by role.
    pub energy_kwh: Energies,
    /// Energies over the common covered time C(W) only (the PUE's numerator and denominator).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub covered_energy_kwh: Option<Energies>,
    /// The part of the window's total and IT energy that is not wholly metered (CONTRACT §13):
    /// Σ |weight| × non-metered energy over the total and IT meters (a meter with both roles
    /// counted once per role) divided by Σ |weight| × energy over the same, so it stays within
    /// [0, 1] whatever the weights. An interval is non-metered when a reading at either end of
    /// it is not `metered` (see `engine::meter`). None when the window has no such energy.
    #[serde(default)]
    pub estimated_share: Option<f64>,
    /// WUE, ERF, REF, CUE and their inputs (CONTRACT §14), flattened into the window's JSON.
    #[serde(flatten, default)]
    pub kpi: Kpis,
    /// Start and end of the window (epoch ms), aligned to its bucket resolution.
    #[serde(skip)]
    pub start_ms: i64,
    #[serde(skip)]
    pub end_ms: i64,
}

/// Window results in the order of the config, serialised as a JSON object keyed by window name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Windows(pub Vec<(String, WindowValues)>);

impl Windows {
    pub fn get(&self, name: &str) -> Option<&WindowValues> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

impl Serialize for Windows {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Compliant,
    Breach,
    InsufficientData,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Compliant, Status::Breach, Status::InsufficientData];
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Compliant => "compliant",
            Status::Breach => "breach",
            Status::InsufficientData => "insufficient_data",
        }
    }
}

/// One meter's newest reading and coverage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeterSnapshot {
    pub id: String,
    pub roles: Vec<Role>,
    pub weight: f64,
    /// Newest accepted reading: RFC 3339 or null.
    pub last_ts: Option<String>,
    #[serde(skip)]
    pub last_ts_ms: Option<i64>,
    pub last_power_kw: Option<f64>,
    pub last_energy_kwh: Option<f64>,
    /// A water meter's newest register value, m³ (its `last_energy_kwh` is null).
    pub last_volume_m3: Option<f64>,
    /// A renewable meter's kind (`onsite` or `ppa`); null for other meters.
    pub renewable_kind: Option<crate::config::RenewableKind>,
    /// Covered fraction of each window, keyed by window name.
    pub coverage: Vec<(String, f64)>,
    /// Whether the meter currently holds the facility's watermark (false when lagging > max_lag).
    pub holds_watermark: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FacilitySnapshot {
    pub id: String,
    pub name: String,
    pub name_en: Option<String>,
    pub city: String,
    pub tier: Tier,
    pub class: Class,
    pub pue_ceiling: f64,
    pub renewable_target: Option<f64>,
    /// CONTRACT §14 targets: WUE (L/kWh) and REF (0..=1).
    pub wue_target: Option<f64>,
    pub ref_target: Option<f64>,
    /// RFC 3339 (facility timezone offset) or null.
    pub watermark: Option<String>,
    #[serde(skip)]
    pub watermark_ms: Option<i64>,
    pub stale: bool,
    pub windows: Windows,
    pub compliance_window: String,
    /// Coverage below which a window's PUE is indicative only (`insufficient_data`).
    pub min_coverage: f64,
    pub status: Status,
    pub grade: Option<u8>,
    #[serde(skip)]
    pub meters: Vec<MeterSnapshot>,
    pub accepted_total: u64,
}

/// Counters of CONTRACT §6: durable engine state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Per facility id: readings accepted.
    pub accepted: Vec<(String, u64)>,
    /// (facility id or "" where unknown, reason) → count.
    pub rejected: Vec<(String, Reason, u64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// Wall-clock time the snapshot was taken, epoch ms.
    pub taken_at_ms: i64,
    pub facilities: Vec<FacilitySnapshot>,
    pub counters: Counters,
}

impl Snapshot {
    pub fn facility(&self, id: &str) -> Option<&FacilitySnapshot> {
        self.facilities.iter().find(|f| f.id == id)
    }
}
