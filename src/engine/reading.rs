//! What the engine takes in: one meter reading, and the verdicts of CONTRACT §3–4.

use serde::{Deserialize, Serialize};

/// One reading of one meter. `ts` is epoch milliseconds (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub ts: i64,
    pub power_kw: Option<f64>,
    pub energy_kwh: Option<f64>,
    pub quality: Quality,
}

/// A [`Reading`] as checkpoints before format 4 hold it (every reading was metered).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReadingV3 {
    pub ts: i64,
    pub power_kw: Option<f64>,
    pub energy_kwh: Option<f64>,
}

impl ReadingV3 {
    pub fn upgrade(self) -> Reading {
        Reading {
            ts: self.ts,
            power_kw: self.power_kw,
            energy_kwh: self.energy_kwh,
            quality: Quality::Metered,
        }
    }

    /// The reading as format 3 wrote it (tests of the upgrade).
    pub fn downgrade(r: Reading) -> ReadingV3 {
        ReadingV3 {
            ts: r.ts,
            power_kw: r.power_kw,
            energy_kwh: r.energy_kwh,
        }
    }
}

/// Where a reading's value came from (CONTRACT §13): anything but `metered` counts toward a
/// window's `estimated_share`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    #[default]
    Metered,
    Estimated,
    Manual,
}

/// Which payload field carries a meter's register (CONTRACT §3, §14). The engine keeps either in
/// [`Reading::energy_kwh`]: a water meter's register is m³, an electricity or heat meter's kWh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Register {
    /// `energy_kwh` (with `power_kw`): electricity and heat meters.
    EnergyKwh,
    /// `volume_m3`: water meters (no power).
    VolumeM3,
}

impl Register {
    /// The payload field name.
    pub fn field(self) -> &'static str {
        match self {
            Register::EnergyKwh => "energy_kwh",
            Register::VolumeM3 => "volume_m3",
        }
    }
}

/// Every reason a message or a reading is not taken (CONTRACT §3–4), as counted in
/// `dcpue_readings_rejected_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    TooLarge,
    Malformed,
    UnknownMeter,
    InvalidValue,
    FutureTimestamp,
    Duplicate,
    Conflict,
    TooLate,
    Implausible,
    Glitch,
    /// A gateway reported an error for a mapped value instead of the value (CONTRACT §12).
    GatewayError,
}

impl Reason {
    pub const ALL: [Reason; 11] = [
        Reason::TooLarge,
        Reason::Malformed,
        Reason::UnknownMeter,
        Reason::InvalidValue,
        Reason::FutureTimestamp,
        Reason::Duplicate,
        Reason::Conflict,
        Reason::TooLate,
        Reason::Implausible,
        Reason::Glitch,
        Reason::GatewayError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TooLarge => "too_large",
            Reason::Malformed => "malformed",
            Reason::UnknownMeter => "unknown_meter",
            Reason::InvalidValue => "invalid_value",
            Reason::FutureTimestamp => "future_timestamp",
            Reason::Duplicate => "duplicate",
            Reason::Conflict => "conflict",
            Reason::TooLate => "too_late",
            Reason::Implausible => "implausible",
            Reason::Glitch => "glitch",
            Reason::GatewayError => "gateway_error",
        }
    }

    pub fn index(self) -> usize {
        Reason::ALL.iter().position(|&r| r == self).unwrap_or(0)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The engine's answer to one reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Rejected(Reason),
}

/// Future timestamps: more than this ahead of the wall clock is `future_timestamp`.
pub const MAX_FUTURE_MS: i64 = 5 * 60_000;
/// Before 2000-01-01T00:00:00Z is `malformed` (epoch seconds sent by mistake).
pub const MIN_TS_MS: i64 = 946_684_800_000;
