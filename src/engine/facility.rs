//! One facility: its meters, watermark, common covered time and window results (CONTRACT §4).

use serde::{Deserialize, Serialize};

use super::buckets::{HOUR_MS, MINUTE_MS};
use super::kpi::{kpis, KpiContext};
use super::slot::{Agg, MeterSlot};
use super::snapshot::{Energies, WindowValues};

/// Sums of one bucket (a minute or an hour) over the facility's meters.
pub fn bucket_agg(meters: &[MeterSlot], index: i64, res_ms: i64) -> Agg {
    let mut meter_ms = vec![0; meters.len()];
    let mut a = bucket_sums(meters, index, res_ms, |k, c| meter_ms[k] = c);
    a.meter_ms = meter_ms;
    a
}

/// Adds (`sign` = 1) or removes (`sign` = -1) the sums of one bucket to `a`: what
/// `a.add(&bucket_agg(..), sign)` does, without a list of the bucket's own covered ms (windows
/// slide by a bucket at every step).
fn add_bucket(a: &mut Agg, meters: &[MeterSlot], index: i64, res_ms: i64, sign: f64) {
    let meter_ms = &mut a.meter_ms;
    let b = bucket_sums(meters, index, res_ms, |k, c| {
        if let Some(x) = meter_ms.get_mut(k) {
            *x += sign as i64 * c;
        }
    });
    a.add(&b, sign);
}

/// [`bucket_agg`] with each meter's covered ms passed to `covered` (meter index, ms) rather than
/// kept: the result's `meter_ms` is empty.
#[inline]
fn bucket_sums(
    meters: &[MeterSlot],
    index: i64,
    res_ms: i64,
    mut covered: impl FnMut(usize, i64),
) -> Agg {
    let mut a = Agg::default();
    let mut all_core_covered = true;
    let (mut tot, mut it) = (0.0, 0.0);
    for (k, m) in meters.iter().enumerate() {
        let b = &m.state.buckets;
        let (e, c) = if res_ms == MINUTE_MS {
            b.minute(index)
        } else {
            b.hour(index)
        };
        covered(k, c);
        let we = m.weight * e;
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
        if m.core() {
            if c < res_ms {
                all_core_covered = false;
            }
            if e != 0.0 {
                let w = (m.total as u8 + m.it as u8) as f64 * m.weight.abs();
                a.core_abs += w * e.abs();
                // Only a meter that took a non-metered interval holds any (else it adds 0).
                if b.has_estimated() {
                    let x = if res_ms == MINUTE_MS {
                        b.minute_estimated(index)
                    } else {
                        b.hour_estimated(index)
                    };
                    // |x|: for a meter whose every interval is non-metered x and e are the same
                    // sums, so its share is exactly 1 (a removed interval's residue keeps the
                    // same sign).
                    a.estimated += w * x.abs();
                }
            }
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
        add_bucket(&mut a, meters, b, res_ms, 1.0);
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
                    add_bucket(&mut self.agg, meters, b, self.res_ms, 1.0);
                }
                for b in f0..from {
                    add_bucket(&mut self.agg, meters, b, self.res_ms, -1.0);
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
