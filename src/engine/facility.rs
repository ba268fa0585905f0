//! One facility: its meters, watermark, common covered time and window results (CONTRACT §4).

use serde::{Deserialize, Serialize};

use super::buckets::{HOUR_MS, MINUTE_MS};
use super::kpi::{kpis, KpiContext};
use super::meter::{MeterState, MeterStateV3};
use super::snapshot::{Energies, WindowValues};

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
    fn new(meters: usize) -> Agg {
        Agg {
            meter_ms: vec![0; meters],
            ..Default::default()
        }
    }

    fn add(&mut self, o: &Agg, sign: f64) {
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

/// Sums of one bucket (a minute or an hour) over the facility's meters.
pub fn bucket_agg(meters: &[MeterSlot], index: i64, res_ms: i64) -> Agg {
    let mut a = Agg::new(meters.len());
    let mut all_core_covered = true;
    let (mut tot, mut it) = (0.0, 0.0);
    for (k, m) in meters.iter().enumerate() {
        let (e, c) = if res_ms == MINUTE_MS {
            m.state.buckets.minute(index)
        } else {
            m.state.buckets.hour(index)
        };
        a.meter_ms[k] = c;
        let we = m.weight * e;
        let roles = m.total as u8 + m.it as u8;
        if roles > 0 && e != 0.0 {
            let x = if res_ms == MINUTE_MS {
                m.state.buckets.minute_estimated(index)
            } else {
                m.state.buckets.hour_estimated(index)
            };
            let w = roles as f64 * m.weight.abs();
            // |x|: for a meter whose every interval is non-metered x and e are the same sums,
            // so its share is exactly 1 (a removed interval's residue keeps the same sign).
            a.estimated += w * x.abs();
            a.core_abs += w * e.abs();
        }
        if m.total {
            tot += we;
        }
        if m.it {
            it += we;
        }
        if m.renewable {
            a.renewable += we;
        }
        if m.water {
            a.water += we;
        }
        if m.reused_heat {
            a.reused_heat += we;
        }
        if m.core() && c < res_ms {
            all_core_covered = false;
        }
    }
    a.total = tot;
    a.it = it;
    if all_core_covered {
        a.total_c = tot;
        a.it_c = it;
        a.renewable_c = a.renewable;
        a.common_ms = res_ms;
    }
    a
}

/// Sums over buckets [from, to) (indices at `res_ms`).
pub fn range_agg(meters: &[MeterSlot], from: i64, to: i64, res_ms: i64) -> Agg {
    let mut a = Agg::new(meters.len());
    for b in from..to {
        a.add(&bucket_agg(meters, b, res_ms), 1.0);
    }
    a
}

/// A sum as shown: finite whatever the config's weights and bounds (saturated at the largest
/// f64; NaN, from an infinite sum less another, as 0).
fn finite(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(-f64::MAX, f64::MAX)
    }
}

/// Window values from sums over a window of `len_ms` ending at `end_ms`.
pub fn values(
    meters: &[MeterSlot],
    a: &Agg,
    start_ms: i64,
    end_ms: i64,
    min_coverage: f64,
    kpi: &KpiContext,
) -> WindowValues {
    let len = (end_ms - start_ms).max(1) as f64;
    // Every reading and interval is bounded (max_power_kw), so the sums are finite; a ratio of
    // them need not be (a tiny IT energy), and neither is shown unless finite (CONTRACT §10).
    let pue = if a.it_c > 0.0 && a.common_ms > 0 {
        Some(a.total_c / a.it_c).filter(|p| p.is_finite())
    } else {
        None
    };
    let ren_cov = meters
        .iter()
        .zip(&a.meter_ms)
        .filter(|(m, _)| m.renewable)
        .map(|(_, &c)| c as f64 / len)
        .fold(None, |acc: Option<f64>, c| {
            Some(acc.map_or(c, |x| x.min(c)))
        });
    let renewable_share = match ren_cov {
        Some(c) if c >= min_coverage && a.total > 0.0 => {
            Some(a.renewable / a.total).filter(|s| s.is_finite())
        }
        _ => None,
    };
    // Sums of opposite signs (a removed bucket) can leave a rounding residue: a denominator that
    // small is no energy, and the share is clamped into [0, 1].
    let estimated_share = if a.core_abs > 1e-9 {
        Some((a.estimated / a.core_abs).clamp(0.0, 1.0)).filter(|s| s.is_finite())
    } else {
        None
    };
    WindowValues {
        pue,
        estimated_share,
        coverage: a.common_ms as f64 / len,
        renewable_share,
        energy_kwh: Energies {
            total: finite(a.total),
            it: finite(a.it),
            renewable: finite(a.renewable),
        },
        covered_energy_kwh: Some(Energies {
            total: finite(a.total_c),
            it: finite(a.it_c),
            renewable: finite(a.renewable_c),
        }),
        kpi: kpis(meters, a, start_ms, end_ms, min_coverage, kpi),
        start_ms,
        end_ms,
    }
}

/// One configured window's running state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowState {
    pub name: String,
    pub len_ms: i64,
    pub res_ms: i64,
    /// Bucket index range [from, to) the sums cover; None until first computed.
    pub range: Option<(i64, i64)>,
    pub agg: Agg,
}

impl WindowState {
    pub fn new(name: String, len_ms: i64, meters: usize) -> WindowState {
        let res_ms = if len_ms <= 86_400_000 {
            MINUTE_MS
        } else {
            HOUR_MS
        };
        WindowState {
            name,
            len_ms,
            res_ms,
            range: None,
            agg: Agg::new(meters),
        }
    }

    /// Bucket range of the window ending at `step_ms` (aligned down to the resolution).
    pub fn range_at(&self, step_ms: i64) -> (i64, i64) {
        let to = step_ms.div_euclid(self.res_ms);
        (to - self.len_ms / self.res_ms, to)
    }

    /// Moves the sums to the window ending at `step_ms`: slides when that is cheaper than
    /// recomputing, else recomputes.
    pub fn move_to(&mut self, meters: &[MeterSlot], step_ms: i64) {
        let (from, to) = self.range_at(step_ms);
        match self.range {
            Some((f0, t0)) if (f0, t0) == (from, to) => {}
            Some((f0, t0)) if to >= t0 && to - t0 < (to - from) / 2 && from >= f0 => {
                for b in t0..to {
                    self.agg.add(&bucket_agg(meters, b, self.res_ms), 1.0);
                }
                for b in f0..from {
                    self.agg.add(&bucket_agg(meters, b, self.res_ms), -1.0);
                }
                self.range = Some((from, to));
            }
            _ => self.recompute(meters, from, to),
        }
    }

    pub fn recompute(&mut self, meters: &[MeterSlot], from: i64, to: i64) {
        self.agg = range_agg(meters, from, to, self.res_ms);
        self.range = Some((from, to));
    }

    /// Drops the sums if a change at `changed_ms` falls inside them (they are recomputed on
    /// the next move).
    pub fn invalidate_from(&mut self, changed_ms: i64) {
        if let Some((_, to)) = self.range {
            if changed_ms < to * self.res_ms {
                self.range = None;
            }
        }
    }

    pub fn values(
        &self,
        meters: &[MeterSlot],
        min_coverage: f64,
        kpi: &KpiContext,
    ) -> WindowValues {
        let (from, to) = self.range.unwrap_or((0, 0));
        values(
            meters,
            &self.agg,
            from * self.res_ms,
            to * self.res_ms,
            min_coverage,
            kpi,
        )
    }
}

/// The facility's watermark: the minimum newest ts of its total and IT meters, leaving out
/// those more than `max_lag` behind the newest of them. None until every one has reported,
/// unless a silent one is more than `max_lag` behind by then: `first_seen` is the earliest
/// reading taken from any of them.
pub fn watermark(meters: &[MeterSlot], first_seen: Option<i64>, max_lag_ms: i64) -> Option<i64> {
    let newest: Vec<Option<i64>> = meters
        .iter()
        .filter(|m| m.core())
        .map(|m| m.state.newest().map(|r| r.ts))
        .collect();
    let max = newest.iter().flatten().copied().max()?;
    let earliest_seen = first_seen?;
    newest
        .iter()
        .filter_map(|n| match n {
            Some(t) if max - t <= max_lag_ms => Some(Some(*t)),
            Some(_) => None,
            // Never reported: it holds the watermark until the others are max_lag past the
            // first reading seen.
            None if max - earliest_seen <= max_lag_ms => Some(None),
            None => None,
        })
        .try_fold(i64::MAX, |acc, t| t.map(|t| acc.min(t)))
}
