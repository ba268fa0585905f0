//! The report's figures, computed from the engine's history (pure: no clock, no I/O).
//!
//! Per facility over the period: energies by role, PUE over the common covered time (the
//! engine's [`Engine::window_between`], the same arithmetic as its windows), coverage and the
//! hours missing (an hour is missing when not every total and IT meter covered all of it),
//! grade, ceiling, verdict, renewable share, a row per calendar month, and the alerts of the
//! period; then a summary per tier with energy-weighted PUE (Σ covered total / Σ covered IT).
//! Beyond PUE (CONTRACT §14): the period's inputs and indicators under the names of EU Delegated
//! Regulation 2024/1364, CUE, and each KPI against China's targets ([`super::targets`]).

use chrono::{Datelike, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::alerts::{alerts_of, AlertRecord, AlertRow};
use super::targets::{self, TargetCheck};
use super::time::{fmt_time, hour_span, month_bounds, HOUR_MS};
use crate::config::{Config, FacilityConfig, Role, Tier};
use crate::engine::kpi::KpiContext;
use crate::engine::policy::{self, Judgement};
use crate::engine::slot::MeterSlot;
use crate::engine::{Energies, Engine, Kpis, MeterRef, Status};

const DAY_MS: i64 = 86_400_000;
/// Gaps listed per facility (the rest are counted).
pub const MAX_GAPS_LISTED: usize = 40;

/// The whole report. Field order is the JSON order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The one field that differs between two runs over the same history (None: left out).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub generated_at: Option<String>,
    pub dcpue_version: String,
    /// The config file the report was made with (None when built in-process).
    pub config_path: Option<String>,
    /// `crc32:xxxxxxxx` of the effective config serialised as JSON.
    pub config_fingerprint: String,
    pub timezone: String,
    pub period: Period,
    pub min_coverage: f64,
    pub compliance_window: String,
    /// GB 40879 grade bounds (grade 1, 2, 3).
    pub grade_bounds: [f64; 3],
    pub facilities: Vec<FacilityReport>,
    /// One row per tier present (core, supplementary, backup), then the province.
    pub summary: Vec<TierSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Period {
    /// RFC 3339 in the configured timezone.
    pub from: String,
    pub to: String,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Whole hours in the period (the engine's history resolution).
    pub hours: i64,
    /// False when the period is shorter than the compliance window: its PUE is interim
    /// (an early warning), not the 12-month judgement of CONTRACT §1.
    pub full_compliance_period: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FacilityReport {
    pub id: String,
    pub name: String,
    pub name_en: Option<String>,
    pub city: String,
    pub tier: Tier,
    pub class: String,
    pub commissioned: String,
    pub pue_ceiling: f64,
    pub renewable_target: Option<f64>,
    /// Its figures, as keys of the facility's object (in this order).
    #[serde(flatten)]
    pub measured: Measured,
    pub verdict: Status,
    pub grade: Option<u8>,
    pub renewable_share: Option<f64>,
    /// The part of the period's total and IT energy not wholly metered (CONTRACT §13); null
    /// without energy.
    #[serde(default)]
    pub estimated_share: Option<f64>,
    /// Whether the share meets the target; null without a target or a share.
    pub renewable_target_met: Option<bool>,
    /// The facility's WUE (L/kWh) and REF targets as configured (CONTRACT §14).
    #[serde(default)]
    pub wue_target: Option<f64>,
    #[serde(default)]
    pub ref_target: Option<f64>,
    /// The period's inputs and indicators under the names of EU Delegated Regulation 2024/1364.
    #[serde(default)]
    pub eu_2024_1364: EuIndicators,
    /// CUE over the period, kg CO2 per kWh of IT energy: grid energy not matched by renewables
    /// or certificates × `grid_emission_factor` ÷ EIT; null without a factor or enough data.
    #[serde(default)]
    pub cue: Option<f64>,
    /// Green-certificate energy attributed to the period, kWh (part of ERES_TOT).
    #[serde(default)]
    pub certificate_kwh: f64,
    /// How much of the period the KPI inputs beyond total and IT covered.
    #[serde(default)]
    pub input_coverage: InputCoverage,
    /// Each KPI against its targets: the facility's own and China's ([`targets::checks`]).
    #[serde(default)]
    pub targets: Vec<TargetCheck>,
    pub months: Vec<MonthRow>,
    pub alerts: Vec<AlertRow>,
}

/// What was measured of a facility over the period, however it was read (stored history or
/// `--url`): how far its data goes, its energies, PUE and how complete the data was. Part of
/// [`FacilityReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// The facility's watermark: data is complete up to here (RFC 3339) or null.
    pub data_until: Option<String>,
    /// All energy measured in the period, by role (kWh).
    pub energy_kwh: Energies,
    /// Energy over the common covered time: PUE's numerator (total) and denominator (it).
    pub covered_energy_kwh: Energies,
    pub pue: Option<f64>,
    pub coverage: f64,
    pub hours: i64,
    pub missing_hours: i64,
    /// Spans of missing hours, oldest first (at most MAX_GAPS_LISTED).
    pub gaps: Vec<Gap>,
    pub gaps_not_listed: usize,
}

/// A facility's year under EU Delegated Regulation 2024/1364 (Annex: the data centre's total
/// energy, IT energy, water input, reused energy and renewable energy, and the indicators from
/// them), over the report's period (a compliance period when it is a year). Inputs are all that
/// was measured in the period; an input is null when the facility has no such meter. PUE is the
/// verdict's PUE (over the common covered time, CONTRACT §4); WUE, ERF and REF are null when
/// an input's meters cover less than `min_coverage` of the period (CONTRACT §14).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EuIndicators {
    /// Total data-centre energy, kWh.
    #[serde(rename = "EDC")]
    pub edc: f64,
    /// IT equipment energy, kWh.
    #[serde(rename = "EIT")]
    pub eit: f64,
    /// Water input, m³.
    #[serde(rename = "WIN")]
    pub win: Option<f64>,
    /// Energy reused outside the data centre, kWh.
    #[serde(rename = "EREUSE")]
    pub ereuse: Option<f64>,
    /// Total renewable energy, kWh: renewable meters plus the certificates attributed to the
    /// period (as REF counts them, CONTRACT §14).
    #[serde(rename = "ERES_TOT")]
    pub eres_tot: Option<f64>,
    #[serde(rename = "PUE")]
    pub pue: Option<f64>,
    /// WIN ÷ EIT, L/kWh.
    #[serde(rename = "WUE")]
    pub wue: Option<f64>,
    /// EREUSE ÷ EDC.
    #[serde(rename = "ERF")]
    pub erf: Option<f64>,
    /// ERES_TOT ÷ EDC, at most 1.
    #[serde(rename = "REF")]
    pub ref_: Option<f64>,
}

/// Covered fraction of the period of the KPI inputs beyond total and IT (each the least covered
/// of its meters); null without such a meter, or when not known (a report read over `--url`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct InputCoverage {
    pub water: Option<f64>,
    pub reused_heat: Option<f64>,
    pub renewable: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    pub from: String,
    pub to: String,
    pub hours: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthRow {
    /// `YYYY-MM` in the configured timezone.
    pub month: String,
    pub from: String,
    pub to: String,
    pub hours: i64,
    pub missing_hours: i64,
    pub coverage: f64,
    pub energy_kwh: Energies,
    pub covered_energy_kwh: Energies,
    pub pue: Option<f64>,
    pub renewable_share: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierSummary {
    /// `core`, `supplementary`, `backup`, or `province`.
    pub tier: String,
    pub facilities: usize,
    pub energy_kwh: Energies,
    pub covered_energy_kwh: Energies,
    /// Σ covered total / Σ covered IT of its facilities.
    pub pue: Option<f64>,
    pub compliant: usize,
    pub breach: usize,
    pub insufficient_data: usize,
}

/// `crc32:xxxxxxxx` of the config serialised as JSON (stable: struct order, no maps).
pub fn config_fingerprint(cfg: &Config) -> String {
    let bytes = serde_json::to_vec(cfg).unwrap_or_default();
    format!("crc32:{:08x}", crc32fast::hash(&bytes))
}

/// Which hours of [from_h, to_h) every total and IT meter of facility `fi` covered fully.
fn full_hours(engine: &Engine, fi: usize, from_h: i64, to_h: i64) -> Vec<bool> {
    let n = (to_h - from_h).max(0) as usize;
    let f = engine.facility_state(fi);
    let core: Vec<usize> = f
        .meters
        .iter()
        .enumerate()
        .filter(|(_, m)| m.core())
        .map(|(k, _)| k)
        .collect();
    if core.is_empty() {
        return vec![false; n];
    }
    let mut count = vec![0usize; n];
    for &mi in &core {
        for r in engine.meter_history(MeterRef {
            facility: fi,
            meter: mi,
        }) {
            let h = r.hour_start_ms.div_euclid(HOUR_MS);
            if h >= from_h && h < to_h && i64::from(r.covered_s) * 1000 >= HOUR_MS {
                count[(h - from_h) as usize] += 1;
            }
        }
    }
    count.into_iter().map(|c| c == core.len()).collect()
}

/// Covered fraction of [from_h, to_h) of the least covered meter of facility `fi` that `pick`
/// selects; None without such a meter.
fn role_coverage(
    engine: &Engine,
    fi: usize,
    from_h: i64,
    to_h: i64,
    pick: fn(&MeterSlot) -> bool,
) -> Option<f64> {
    let span_s = ((to_h - from_h).max(1) * HOUR_MS / 1000) as f64;
    let f = engine.facility_state(fi);
    f.meters
        .iter()
        .enumerate()
        .filter(|(_, m)| pick(m))
        .map(|(mi, _)| {
            let covered: i64 = engine
                .meter_history(MeterRef {
                    facility: fi,
                    meter: mi,
                })
                .iter()
                .filter(|r| {
                    let h = r.hour_start_ms.div_euclid(HOUR_MS);
                    h >= from_h && h < to_h
                })
                .map(|r| i64::from(r.covered_s))
                .sum();
            (covered as f64 / span_s).min(1.0)
        })
        .reduce(f64::min)
}

fn gaps_of(tz: Tz, from_h: i64, full: &[bool]) -> Vec<Gap> {
    let mut gaps = Vec::new();
    let mut k = 0;
    while k < full.len() {
        if full[k] {
            k += 1;
            continue;
        }
        let s = k;
        while k < full.len() && !full[k] {
            k += 1;
        }
        gaps.push(Gap {
            from: fmt_time(tz, (from_h + s as i64) * HOUR_MS),
            to: fmt_time(tz, (from_h + k as i64) * HOUR_MS),
            hours: (k - s) as i64,
        });
    }
    gaps
}

fn add(a: &mut Energies, b: &Energies) {
    a.total += b.total;
    a.it += b.it;
    a.renewable += b.renewable;
}

/// The report over [from_ms, to_ms) (see the module docs). `facilities`: ids to include (all,
/// in config order, when None); unknown ids are left out. `alerts`: the alert records (the
/// resolved history and the active alerts).
pub fn build_report(
    engine: &Engine,
    from_ms: i64,
    to_ms: i64,
    facilities: Option<&[String]>,
    alerts: &[AlertRecord],
) -> Report {
    build_report_with_progress(engine, from_ms, to_ms, facilities, alerts, &mut |_, _| {})
}

/// [`build_report`], calling `progress(done, total)` after each facility.
pub fn build_report_with_progress(
    engine: &Engine,
    from_ms: i64,
    to_ms: i64,
    facilities: Option<&[String]>,
    alerts: &[AlertRecord],
    progress: &mut dyn FnMut(usize, usize),
) -> Report {
    let cfg = engine.config();
    let tz = cfg.timezone();
    let to_ms = to_ms.max(from_ms);
    let (from_h, to_h) = hour_span(from_ms, to_ms);
    let selected: Vec<usize> = (0..cfg.facilities.len())
        .filter(|&i| facilities.is_none_or(|ids| ids.iter().any(|id| id == cfg.facilities[i].id())))
        .collect();
    let months = month_bounds(tz, from_ms, to_ms);
    let mut out = Vec::with_capacity(selected.len());
    for (done, &ci) in selected.iter().enumerate() {
        let fc = &cfg.facilities[ci];
        let Some(fi) = engine.facility_index(fc.id()) else {
            continue;
        };
        let full = full_hours(engine, fi, from_h, to_h);
        let missing_in = |a: i64, b: i64| {
            let (ha, hb) = hour_span(a, b);
            (ha..hb)
                .filter(|h| !full.get((h - from_h) as usize).copied().unwrap_or(false))
                .count() as i64
        };
        let v = engine.window_between(fi, from_ms, to_ms);
        let month_rows = months
            .iter()
            .map(|(label, a, b)| {
                let m = engine.window_between(fi, *a, *b);
                let (ha, hb) = hour_span(*a, *b);
                MonthRow {
                    month: label.clone(),
                    from: fmt_time(tz, *a),
                    to: fmt_time(tz, *b),
                    hours: hb - ha,
                    missing_hours: missing_in(*a, *b),
                    coverage: m.coverage,
                    energy_kwh: m.energy_kwh,
                    covered_energy_kwh: m.covered_energy_kwh.unwrap_or_default(),
                    pue: m.pue,
                    renewable_share: m.renewable_share,
                }
            })
            .collect();
        let mut gaps = gaps_of(tz, from_h, &full);
        let gaps_not_listed = gaps.len().saturating_sub(MAX_GAPS_LISTED);
        gaps.truncate(MAX_GAPS_LISTED);
        out.push(facility_report(
            cfg,
            fc,
            Figures {
                measured: Measured {
                    data_until: engine.watermark(fi).map(|w| fmt_time(tz, w)),
                    energy_kwh: v.energy_kwh,
                    covered_energy_kwh: v.covered_energy_kwh.unwrap_or_default(),
                    pue: v.pue,
                    coverage: v.coverage,
                    hours: to_h - from_h,
                    missing_hours: full.iter().filter(|f| !**f).count() as i64,
                    gaps,
                    gaps_not_listed,
                },
                renewable_share: v.renewable_share,
                water_m3: has_role(fc, Role::Water).then_some(v.kpi.water_m3),
                reused_heat_kwh: has_role(fc, Role::ReusedHeat).then_some(v.kpi.reused_heat_kwh),
                kpi: v.kpi,
                input_coverage: InputCoverage {
                    water: role_coverage(engine, fi, from_h, to_h, |m| m.water),
                    reused_heat: role_coverage(engine, fi, from_h, to_h, |m| m.reused_heat),
                    renewable: role_coverage(engine, fi, from_h, to_h, |m| m.renewable),
                },
                period: (from_ms, to_ms),
                estimated_share: v.estimated_share,
                months: month_rows,
                alerts: alerts_of(alerts, fc.id(), tz, from_ms, to_ms),
            },
        ));
        progress(done + 1, selected.len());
    }
    assemble(cfg, from_ms, to_ms, out)
}

/// A facility's figures over the period, however they were read (stored history or `--url`):
/// what the report shows as measured, and what its judgement and KPIs are made from.
pub(crate) struct Figures {
    pub measured: Measured,
    pub renewable_share: Option<f64>,
    /// WUE, ERF, REF, CUE of the period (their inputs as the engine summed them).
    pub kpi: Kpis,
    /// Water drawn and heat reused in the period; None without such a meter (or not known).
    pub water_m3: Option<f64>,
    pub reused_heat_kwh: Option<f64>,
    pub input_coverage: InputCoverage,
    /// [from, to) of the period, epoch ms.
    pub period: (i64, i64),
    pub estimated_share: Option<f64>,
    pub months: Vec<MonthRow>,
    pub alerts: Vec<AlertRow>,
}

/// Whether facility `fc` has a meter with role `r`.
pub(crate) fn has_role(fc: &FacilityConfig, r: Role) -> bool {
    fc.meters.iter().any(|m| m.has_role(r))
}

/// Green-certificate energy of facility `fc` attributed to [from, to), kWh (CONTRACT §14).
pub(crate) fn certificate_kwh(cfg: &Config, fc: &FacilityConfig, from: i64, to: i64) -> f64 {
    KpiContext::new(fc, &cfg.timezone(), cfg.policy.grid_emission_factor).certificate_kwh(from, to)
}

/// The facility's part of the report: its config, its figures and the policy's judgement of
/// them ([`policy::judge`]).
pub(crate) fn facility_report(cfg: &Config, fc: &FacilityConfig, m: Figures) -> FacilityReport {
    let Judgement {
        ceiling,
        verdict,
        grade,
    } = policy::judge(cfg, fc, m.measured.pue, m.measured.coverage);
    let tz = cfg.timezone();
    let year = tz
        .timestamp_millis_opt(m.period.1.saturating_sub(1).max(m.period.0))
        .single()
        .map_or(0, |t| t.year());
    let has_renewables = has_role(fc, Role::Renewable) || !fc.certificates.is_empty();
    let eu = EuIndicators {
        edc: m.measured.energy_kwh.total,
        eit: m.measured.energy_kwh.it,
        win: m.water_m3,
        ereuse: m.reused_heat_kwh,
        eres_tot: has_renewables.then_some(m.measured.energy_kwh.renewable + m.kpi.certificate_kwh),
        pue: m.measured.pue,
        wue: m.kpi.wue,
        erf: m.kpi.erf,
        ref_: m.kpi.ref_,
    };
    let judged = verdict != Status::InsufficientData;
    let checks = targets::checks(
        &targets::Values {
            pue: m.measured.pue.filter(|_| judged),
            wue: m.kpi.wue,
            ref_: m.kpi.ref_,
        },
        ceiling,
        fc.wue_target,
        fc.ref_target,
        year,
    );
    FacilityReport {
        id: fc.id().to_string(),
        name: fc.name.clone(),
        name_en: fc.name_en.clone(),
        city: fc.city.clone(),
        tier: fc.tier,
        class: fc.class.as_str().to_string(),
        commissioned: fc.commissioned.to_string(),
        pue_ceiling: ceiling,
        renewable_target: fc.renewable_target,
        measured: m.measured,
        verdict,
        grade,
        renewable_share: m.renewable_share,
        estimated_share: m.estimated_share,
        renewable_target_met: match (m.renewable_share, fc.renewable_target) {
            (Some(s), Some(t)) => Some(s >= t),
            _ => None,
        },
        wue_target: fc.wue_target,
        ref_target: fc.ref_target,
        eu_2024_1364: eu,
        cue: m.kpi.cue,
        certificate_kwh: m.kpi.certificate_kwh,
        input_coverage: m.input_coverage,
        targets: checks,
        months: m.months,
        alerts: m.alerts,
    }
}

/// The report over [from_ms, to_ms) around its facilities: the period, provenance, the policy
/// numbers and the summary by tier.
pub(crate) fn assemble(
    cfg: &Config,
    from_ms: i64,
    to_ms: i64,
    facilities: Vec<FacilityReport>,
) -> Report {
    let tz = cfg.timezone();
    let (from_h, to_h) = hour_span(from_ms, to_ms);
    let compliance_ms = cfg
        .windows()
        .iter()
        .find(|w| w.name == cfg.compliance_window())
        .map(|w| w.span.ms())
        .unwrap_or(365 * DAY_MS);
    Report {
        generated_at: None,
        dcpue_version: env!("CARGO_PKG_VERSION").to_string(),
        config_path: None,
        config_fingerprint: config_fingerprint(cfg),
        timezone: tz.name().to_string(),
        period: Period {
            from: fmt_time(tz, from_ms),
            to: fmt_time(tz, to_ms),
            from_ms,
            to_ms,
            hours: to_h - from_h,
            full_compliance_period: to_ms - from_ms >= compliance_ms,
        },
        min_coverage: cfg.engine.min_coverage,
        compliance_window: cfg.compliance_window().to_string(),
        grade_bounds: cfg.policy.grade_bounds,
        summary: summarise(&facilities),
        facilities,
    }
}

pub(crate) fn summarise(facilities: &[FacilityReport]) -> Vec<TierSummary> {
    let row = |name: &str, fs: &[&FacilityReport]| {
        let mut e = Energies::default();
        let mut c = Energies::default();
        for f in fs {
            add(&mut e, &f.measured.energy_kwh);
            add(&mut c, &f.measured.covered_energy_kwh);
        }
        let count = |s: Status| fs.iter().filter(|f| f.verdict == s).count();
        TierSummary {
            tier: name.to_string(),
            facilities: fs.len(),
            energy_kwh: e,
            covered_energy_kwh: c,
            pue: (c.it > 0.0).then(|| c.total / c.it),
            compliant: count(Status::Compliant),
            breach: count(Status::Breach),
            insufficient_data: count(Status::InsufficientData),
        }
    };
    let mut out = Vec::new();
    for tier in [Tier::Core, Tier::Supplementary, Tier::Backup] {
        let fs: Vec<&FacilityReport> = facilities.iter().filter(|f| f.tier == tier).collect();
        if !fs.is_empty() {
            out.push(row(tier.as_str(), &fs));
        }
    }
    let all: Vec<&FacilityReport> = facilities.iter().collect();
    out.push(row("province", &all));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::fixture::{engine_config, facility};

    /// The keys of a JSON object, in the order they were written.
    struct Keys(Vec<String>);

    impl<'de> Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut m: A,
                ) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some((k, _)) = m.next_entry::<String, serde::de::IgnoredAny>()? {
                        keys.push(k);
                    }
                    Ok(Keys(keys))
                }
            }
            d.deserialize_map(V)
        }
    }

    /// The report's JSON is an external contract: a facility is one flat object whose keys
    /// keep their order, whichever struct holds the figures; and it reads back as written.
    #[test]
    fn a_facility_is_one_flat_json_object_with_its_keys_in_order() {
        let cfg = engine_config("", &facility("a-1").grid_and_it());
        let r = build_report(&Engine::new(&cfg), 0, 3 * HOUR_MS, None, &[]);
        let json = serde_json::to_string(&r.facilities[0]).unwrap();
        let Keys(keys) = serde_json::from_str(&json).unwrap();
        let want = [
            "id",
            "name",
            "name_en",
            "city",
            "tier",
            "class",
            "commissioned",
            "pue_ceiling",
            "renewable_target",
            "data_until",
            "energy_kwh",
            "covered_energy_kwh",
            "pue",
            "coverage",
            "hours",
            "missing_hours",
            "gaps",
            "gaps_not_listed",
            "verdict",
            "grade",
            "renewable_share",
            "estimated_share",
            "renewable_target_met",
            "wue_target",
            "ref_target",
            "eu_2024_1364",
            "cue",
            "certificate_kwh",
            "input_coverage",
            "targets",
            "months",
            "alerts",
        ];
        assert_eq!(keys, want);
        let back: FacilityReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r.facilities[0]);
        assert_eq!(back.measured.hours, 3);
        assert_eq!(back.measured.gaps.len(), 1);
    }
}
