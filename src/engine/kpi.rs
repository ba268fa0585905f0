//! The sustainability KPIs beyond PUE (CONTRACT §14): WUE, ERF, REF and CUE of one window, from
//! the window's sums. Pure; each KPI is None rather than a guess when an input is missing.

use chrono::TimeZone;

use crate::config::FacilityConfig;

use super::facility::{Agg, MeterSlot};
use super::snapshot::Kpis;

/// What a facility's KPIs need beyond its meters: its certificates and the grid's emission
/// factor. Built from the config (not saved with the state).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KpiContext {
    /// Each certificate entry as ([start, end) of its month in epoch ms, kWh).
    pub certificates: Vec<(i64, i64, f64)>,
    /// kg CO2 per kWh of grid electricity.
    pub grid_emission_factor: Option<f64>,
}

impl KpiContext {
    pub fn new<Tz: TimeZone>(f: &FacilityConfig, tz: &Tz, grid: Option<f64>) -> KpiContext {
        KpiContext {
            certificates: f
                .certificates
                .iter()
                .filter_map(|c| c.span_in(tz))
                .collect(),
            grid_emission_factor: grid,
        }
    }

    /// Certificate energy attributed to [start_ms, end_ms), kWh: each certificate's energy spread
    /// evenly over its month, so a window covering part of a month gets that part.
    pub fn certificate_kwh(&self, start_ms: i64, end_ms: i64) -> f64 {
        self.certificates
            .iter()
            .map(|&(s, e, kwh)| {
                let overlap = end_ms.min(e) - start_ms.max(s);
                if overlap > 0 && e > s {
                    kwh * overlap as f64 / (e - s) as f64
                } else {
                    0.0
                }
            })
            .sum()
    }
}

/// The KPIs of the window [start_ms, end_ms) from its sums `a`.
///
/// Inputs and their coverage (the least-covered meter of a role over |W|, against
/// `min_coverage`): `wue` needs water and IT meters; `erf` reused-heat and total meters; `ref`
/// total meters and a renewable meter or a certificate (renewable meters, when there are any,
/// covered); `cue` the grid emission factor, total and IT meters (and renewable meters, when
/// there are any, covered).
pub fn kpis(
    meters: &[MeterSlot],
    a: &Agg,
    start_ms: i64,
    end_ms: i64,
    min_coverage: f64,
    ctx: &KpiContext,
) -> Kpis {
    let len = (end_ms - start_ms).max(1) as f64;
    // The least-covered meter of each role (ms), in one pass; None: no such meter.
    let mut least: [Option<i64>; 5] = [None; 5];
    for (m, &c) in meters.iter().zip(&a.meter_ms) {
        for (k, has) in [m.total, m.it, m.renewable, m.water, m.reused_heat]
            .into_iter()
            .enumerate()
        {
            if has {
                least[k] = Some(least[k].map_or(c, |x| x.min(c)));
            }
        }
    }
    let covered = |k: usize| least[k].map(|c| c as f64 / len >= min_coverage);
    let total_ok = covered(0) == Some(true);
    let it_ok = covered(1) == Some(true);
    let ren = covered(2);
    let water_ok = covered(3) == Some(true);
    let heat_ok = covered(4) == Some(true);
    // Renewable meters, when there are any, must be covered; none is zero renewable energy.
    let ren_ok = ren != Some(false);
    let certificate_kwh = ctx.certificate_kwh(start_ms, end_ms);
    let finite = |x: f64| x.is_finite().then_some(x);

    let wue = (water_ok && it_ok && a.it > 0.0)
        .then(|| 1000.0 * a.water / a.it)
        .and_then(finite);
    let erf = (heat_ok && total_ok && a.total > 0.0)
        .then(|| a.reused_heat / a.total)
        .and_then(finite);
    let ref_ =
        ((ren.is_some() || !ctx.certificates.is_empty()) && ren_ok && total_ok && a.total > 0.0)
            .then(|| (a.renewable + certificate_kwh) / a.total)
            .and_then(finite)
            .map(|r| r.clamp(0.0, 1.0));
    let cue = ctx
        .grid_emission_factor
        .filter(|_| total_ok && it_ok && ren_ok && a.it > 0.0)
        .map(|g| (a.total - a.renewable - certificate_kwh).max(0.0) * g / a.it)
        .and_then(finite);
    Kpis {
        wue,
        erf,
        ref_,
        cue,
        water_m3: a.water,
        reused_heat_kwh: a.reused_heat,
        certificate_kwh,
    }
}

#[cfg(test)]
#[path = "kpi_tests.rs"]
mod tests;
