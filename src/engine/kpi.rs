//! The sustainability KPIs beyond PUE (CONTRACT §14): WUE, ERF, REF and CUE of one window, from
//! the window's sums. Pure; each KPI is None rather than a guess when an input is missing.

use chrono::TimeZone;

use crate::config::FacilityConfig;

use super::slot::{Agg, MeterSlot};
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
        if self.certificates.is_empty() {
            return 0.0;
        }
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

fn finite(x: f64) -> Option<f64> {
    if x.is_finite() {
        Some(x)
    } else {
        None
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
    // Plain loops and branches, no combinators: this runs for every window at every step.
    let need = min_coverage * (end_ms - start_ms).max(1) as f64;
    // Per role (total, it, renewable, water, reused heat): has a meter, all covered enough.
    let mut has = [false; 5];
    let mut ok = [true; 5];
    for (m, &c) in meters.iter().zip(&a.meter_ms) {
        let short = (c as f64) < need;
        let roles = [m.total, m.it, m.renewable, m.water, m.reused_heat];
        for k in 0..5 {
            if roles[k] {
                has[k] = true;
                ok[k] &= !short;
            }
        }
    }
    let total_ok = has[0] && ok[0];
    let it_ok = has[1] && ok[1];
    let has_ren = has[2];
    // Renewable meters, when there are any, must be covered; none is zero renewable energy.
    let ren_ok = ok[2];
    let water_ok = has[3] && ok[3];
    let heat_ok = has[4] && ok[4];
    let certificate_kwh = ctx.certificate_kwh(start_ms, end_ms);

    let mut wue = None;
    if water_ok && it_ok && a.it > 0.0 {
        wue = finite(1000.0 * a.water / a.it);
    }
    let mut erf = None;
    if heat_ok && total_ok && a.total > 0.0 {
        erf = finite(a.reused_heat / a.total);
    }
    let mut ref_ = None;
    if (has_ren || !ctx.certificates.is_empty()) && ren_ok && total_ok && a.total > 0.0 {
        if let Some(r) = finite((a.renewable + certificate_kwh) / a.total) {
            ref_ = Some(r.clamp(0.0, 1.0));
        }
    }
    let mut cue = None;
    if let Some(g) = ctx.grid_emission_factor {
        if total_ok && it_ok && ren_ok && a.it > 0.0 {
            cue = finite((a.total - a.renewable - certificate_kwh).max(0.0) * g / a.it);
        }
    }
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
