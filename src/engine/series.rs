//! History series (the dashboard charts, `GET .../series`) computed away from the engine lock.
//!
//! [`Engine::series_input`] copies one facility's meters (their buckets) under the lock: a
//! memory copy, no arithmetic. [`series`] then runs without the lock: it sums each bucket once
//! into running sums recorded at the points' window bounds, so a point costs O(1) and a request
//! O(buckets + points), whatever its window. The values are those of
//! [`Engine::window_between`] at each point (same buckets, same resolution rule, same
//! [`values`]); the sums are kept in double-double so the differences of running sums lose
//! nothing against summing each window on its own.

use super::buckets::{HOUR_MS, MINUTE_MS};
use super::facility::{bucket_agg, values};
use super::kpi::KpiContext;
use super::slot::{Agg, MeterSlot};
use super::snapshot::WindowValues;
use super::Engine;

/// Most points one series returns.
pub const MAX_POINTS: usize = 2000;

/// One facility's bucket data, copied out of the engine.
#[derive(Debug, Clone)]
pub struct SeriesInput {
    meters: Vec<MeterSlot>,
    min_coverage: f64,
    kpi: KpiContext,
}

impl Engine {
    /// A copy of facility `facility`'s buckets for [`series`] (cheap: no arithmetic; take it
    /// under the lock and compute after releasing it).
    pub fn series_input(&self, facility: usize) -> SeriesInput {
        SeriesInput {
            meters: self.facilities[facility].meters.clone(),
            min_coverage: self.cfg.engine.min_coverage,
            kpi: self.facilities[facility].kpi.clone(),
        }
    }
}

/// A sum kept as an unevaluated pair (hi + lo): error-free additions (TwoSum), so a difference
/// of two running sums is as exact as summing the range directly.
#[derive(Debug, Clone, Copy, Default)]
struct Dd {
    hi: f64,
    lo: f64,
}

impl Dd {
    fn add(&mut self, x: f64) {
        let s = self.hi + x;
        let bb = s - self.hi;
        let err = (self.hi - (s - bb)) + (x - bb);
        self.hi = s;
        self.lo += err;
    }
    fn minus(self, o: Dd) -> f64 {
        (self.hi - o.hi) + (self.lo - o.lo)
    }
}

/// Running sums of bucket aggregates from the first bound up to one bound.
#[derive(Debug, Clone, Default)]
struct Sums {
    total: Dd,
    it: Dd,
    renewable: Dd,
    water: Dd,
    reused_heat: Dd,
    total_c: Dd,
    it_c: Dd,
    renewable_c: Dd,
    estimated: Dd,
    core_abs: Dd,
    common_ms: i64,
    meter_ms: Vec<i64>,
}

impl Sums {
    /// Adds `times` buckets of aggregate `a` (times > 1 only for empty buckets).
    fn add(&mut self, a: &Agg, times: i64) {
        let n = times as f64;
        self.total.add(a.total * n);
        self.it.add(a.it * n);
        self.renewable.add(a.renewable * n);
        self.water.add(a.water * n);
        self.reused_heat.add(a.reused_heat * n);
        self.total_c.add(a.total_c * n);
        self.it_c.add(a.it_c * n);
        self.renewable_c.add(a.renewable_c * n);
        self.estimated.add(a.estimated * n);
        self.core_abs.add(a.core_abs * n);
        self.common_ms = self
            .common_ms
            .saturating_add(a.common_ms.saturating_mul(times));
        for (s, m) in self.meter_ms.iter_mut().zip(&a.meter_ms) {
            *s = s.saturating_add(m.saturating_mul(times));
        }
    }

    /// The aggregate over [`o`'s bound, `self`'s bound).
    fn minus(&self, o: &Sums) -> Agg {
        Agg {
            total: self.total.minus(o.total),
            it: self.it.minus(o.it),
            renewable: self.renewable.minus(o.renewable),
            water: self.water.minus(o.water),
            reused_heat: self.reused_heat.minus(o.reused_heat),
            total_c: self.total_c.minus(o.total_c),
            it_c: self.it_c.minus(o.it_c),
            renewable_c: self.renewable_c.minus(o.renewable_c),
            estimated: self.estimated.minus(o.estimated),
            core_abs: self.core_abs.minus(o.core_abs),
            common_ms: self.common_ms - o.common_ms,
            meter_ms: self
                .meter_ms
                .iter()
                .zip(&o.meter_ms)
                .map(|(a, b)| a - b)
                .collect(),
        }
    }
}

/// Running sums at one resolution, recorded at every bound the points need.
struct Sweep {
    bounds: Vec<i64>,
    sums: Vec<Sums>,
}

impl Sweep {
    /// `bounds`: bucket indices (sorted, distinct). Buckets outside [data_from, data_to) hold
    /// nothing in any meter: they are counted, not read.
    fn new(
        meters: &[MeterSlot],
        res: i64,
        bounds: Vec<i64>,
        data_from: i64,
        data_to: i64,
    ) -> Sweep {
        let n = meters.len();
        let empty = bucket_agg(meters, data_to, res);
        let mut run = Sums {
            meter_ms: vec![0; n],
            ..Sums::default()
        };
        let mut sums = Vec::with_capacity(bounds.len());
        let mut prev: Option<i64> = None;
        for &b in &bounds {
            if let Some(p) = prev {
                let (lo, hi) = (p.max(data_from), b.min(data_to));
                let read = if lo < hi {
                    for i in lo..hi {
                        run.add(&bucket_agg(meters, i, res), 1);
                    }
                    hi - lo
                } else {
                    0
                };
                let skipped = b - p - read;
                if skipped > 0 {
                    run.add(&empty, skipped);
                }
            }
            sums.push(run.clone());
            prev = Some(b);
        }
        Sweep { bounds, sums }
    }

    /// The running sums at `index`, one of the bounds the sweep was built with.
    fn at(&self, index: i64) -> Option<&Sums> {
        self.bounds
            .binary_search(&index)
            .ok()
            .map(|k| &self.sums[k])
    }
}

/// One point's window as bucket indices at its resolution: [from, to).
struct Point {
    t: i64,
    res: i64,
    from: i64,
    to: i64,
}

/// The window of `window_ms` ending at each step from `from_ms` (aligned down to the step) to
/// `to_ms`, at most [`MAX_POINTS`]: the values of [`Engine::window_between`] at each point.
/// Arithmetic is checked: a point whose time or window start would overflow ends the series.
pub fn series(
    input: &SeriesInput,
    window_ms: i64,
    from_ms: i64,
    to_ms: i64,
    step_ms: i64,
) -> Vec<(i64, WindowValues)> {
    let meters = &input.meters;
    let step = step_ms.max(MINUTE_MS);
    let window_ms = window_ms.max(0);
    let mut spans = Vec::new();
    let mut t = from_ms.div_euclid(step) * step;
    while t <= to_ms && spans.len() < MAX_POINTS {
        let Some(start) = t.checked_sub(window_ms) else {
            break;
        };
        // As Engine::window_between: minutes where every meter still has them and the window
        // is minute-aligned and at most a day, else whole hours (widened to hours).
        let minutes_ok = start % MINUTE_MS == 0
            && t % MINUTE_MS == 0
            && t - start <= 86_400_000
            && meters.iter().all(|m| {
                m.state.buckets.head_hour().is_none()
                    || m.state.buckets.has_minute(start.div_euclid(MINUTE_MS))
            });
        let res = if minutes_ok { MINUTE_MS } else { HOUR_MS };
        let Some(end) = t.checked_add(res - 1) else {
            break;
        };
        let (from, to) = (start.div_euclid(res), end.div_euclid(res));
        if from.checked_mul(res).is_none() || to.checked_mul(res).is_none() {
            break;
        }
        spans.push(Point { t, res, from, to });
        match t.checked_add(step) {
            Some(n) => t = n,
            None => break,
        }
    }
    // Where the meters hold data, per resolution. Beyond the newest hour every bucket is
    // empty; before a meter's history too (minute windows never start before the minute ring
    // of any meter that has data: the rule above).
    let newest_hour = meters
        .iter()
        .filter_map(|m| m.state.buckets.head_hour())
        .max();
    let oldest_hour = meters
        .iter()
        .filter_map(|m| m.state.buckets.history_start_hour())
        .min();
    let sweep = |res: i64| -> Option<Sweep> {
        let mut bounds: Vec<i64> = spans
            .iter()
            .filter(|s| s.res == res)
            .flat_map(|s| [s.from, s.to])
            .collect();
        if bounds.is_empty() {
            return None;
        }
        bounds.sort_unstable();
        bounds.dedup();
        let (data_from, data_to) = match (res, newest_hour, oldest_hour) {
            (MINUTE_MS, Some(h), _) => (bounds[0], h.saturating_add(1).saturating_mul(60)),
            (_, Some(h), Some(o)) => (o, h.saturating_add(1)),
            // No data anywhere: every bucket is empty.
            _ => (bounds[0], bounds[0]),
        };
        Some(Sweep::new(meters, res, bounds, data_from, data_to))
    };
    let minutes = sweep(MINUTE_MS);
    let hours = sweep(HOUR_MS);
    spans
        .iter()
        .filter_map(|s| {
            let sw = if s.res == MINUTE_MS {
                minutes.as_ref()
            } else {
                hours.as_ref()
            }?;
            let agg = sw.at(s.to)?.minus(sw.at(s.from)?);
            Some((
                s.t,
                values(
                    meters,
                    &agg,
                    s.from * s.res,
                    s.to * s.res,
                    input.min_coverage,
                    &input.kpi,
                ),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests;
