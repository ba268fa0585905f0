//! The data a facility's results are computed from and with: its meters as it sees them
//! ([`MeterSlot`]) and the sums of a window over their buckets ([`Agg`]). [`super::facility`]
//! computes the sums, [`super::kpi`] and [`super::series`] read them; this file depends on
//! neither.

use serde::{Deserialize, Serialize};

use super::meter::{MeterState, MeterStateV3};
use super::reading::Reading;

/// A meter as the facility sees it: roles and weight (applied on read).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MeterSlot {
    pub id: String,
    pub total: bool,
    pub it: bool,
    pub renewable: bool,
    /// A water register (m³ in place of kWh), CONTRACT §14. Not saved (the saved state's
    /// binary layout stays as it was): roles come from the config at restore.
    #[serde(skip)]
    pub water: bool,
    /// Heat energy delivered for reuse, CONTRACT §14. Not saved, as `water`.
    #[serde(skip)]
    pub reused_heat: bool,
    pub weight: f64,
    pub state: MeterState,
    /// The meter's first stored reading (by `ts`): where an import's readings end. Saved apart
    /// ([`super::SavedState::first_readings`]): the slot's saved layout stays as it was.
    #[serde(skip)]
    pub first: Option<Reading>,
}

/// [`MeterSlot`] as checkpoints before format 4 hold it (see [`MeterStateV3`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MeterSlotV3 {
    pub id: String,
    pub total: bool,
    pub it: bool,
    pub renewable: bool,
    pub weight: f64,
    pub state: MeterStateV3,
}

impl MeterSlotV3 {
    pub fn upgrade(self) -> MeterSlot {
        MeterSlot {
            id: self.id,
            total: self.total,
            it: self.it,
            renewable: self.renewable,
            water: false,
            reused_heat: false,
            weight: self.weight,
            state: self.state.upgrade(),
            first: None,
        }
    }

    /// The slot as format 3 wrote it (tests of the upgrade).
    pub fn downgrade(m: MeterSlot) -> MeterSlotV3 {
        MeterSlotV3 {
            id: m.id,
            total: m.total,
            it: m.it,
            renewable: m.renewable,
            weight: m.weight,
            state: MeterStateV3::downgrade(m.state),
        }
    }
}

impl MeterSlot {
    /// Total and IT meters hold the watermark and define the common covered time.
    pub fn core(&self) -> bool {
        self.total || self.it
    }

    /// Notes a reading the meter took: its first stored reading if older than any before.
    pub fn note_first(&mut self, r: &Reading) {
        if self.first.is_none_or(|f| r.ts < f.ts) {
            self.first = Some(*r);
        }
    }
}

/// Running sums of one window over its buckets.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Agg {
    pub total: f64,
    pub it: f64,
    pub renewable: f64,
    /// Water m³ and reused heat kWh (CONTRACT §14), weights applied. Not saved (the saved
    /// state's binary layout stays as it was): restored windows are summed again.
    #[serde(skip)]
    pub water: f64,
    #[serde(skip)]
    pub reused_heat: f64,
    pub total_c: f64,
    pub it_c: f64,
    /// Renewable energy over the common covered time (the buckets every total and IT meter
    /// covers), as `total_c` and `it_c`.
    #[serde(default)]
    pub renewable_c: f64,
    pub common_ms: i64,
    /// Covered ms per meter (in the facility's meter order).
    pub meter_ms: Vec<i64>,
    /// `estimated_share`'s numerator and denominator (see [`WindowValues::estimated_share`]).
    /// Not saved, as `water`.
    #[serde(skip)]
    pub estimated: f64,
    #[serde(skip)]
    pub core_abs: f64,
}

impl Agg {
    #[inline]
    pub fn new(meters: usize) -> Agg {
        Agg {
            meter_ms: vec![0; meters],
            ..Default::default()
        }
    }

    #[inline]
    pub fn add(&mut self, o: &Agg, sign: f64) {
        self.total += sign * o.total;
        self.it += sign * o.it;
        self.renewable += sign * o.renewable;
        self.water += sign * o.water;
        self.reused_heat += sign * o.reused_heat;
        self.total_c += sign * o.total_c;
        self.it_c += sign * o.it_c;
        self.renewable_c += sign * o.renewable_c;
        self.common_ms += sign as i64 * o.common_ms;
        self.estimated += sign * o.estimated;
        self.core_abs += sign * o.core_abs;
        for (a, b) in self.meter_ms.iter_mut().zip(&o.meter_ms) {
            *a += sign as i64 * b;
        }
    }
}
