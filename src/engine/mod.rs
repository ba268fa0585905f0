//! The pure, deterministic PUE engine: readings in, window results out. No clocks (the wall
//! clock is passed in where a rule needs it), no I/O.

pub mod buckets;
pub mod facility;
pub mod history;
pub mod kpi;
pub mod meter;
pub mod policy;
pub mod reading;
pub mod series;
pub mod slot;
pub mod snapshot;
pub mod step;

pub use reading::{Quality, Reading, Reason, Verdict};
pub use snapshot::{
    Counters, Energies, FacilitySnapshot, Kpis, MeterSnapshot, Snapshot, Status, WindowValues,
    Windows,
};
pub use step::Step;

use crate::config::Config;
use crate::duration::Span;

/// A configured meter, resolved once from its topic: indices into the engine's registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MeterRef {
    pub facility: usize,
    pub meter: usize,
}

/// The results of one facility at one 1-minute step of event time that its watermark passed
/// (CONTRACT §5): every configured window ending at that step.
#[derive(Debug, Clone)]
pub struct FacilityStep<'a> {
    pub facility: usize,
    pub facility_id: &'a str,
    /// The step, epoch ms, a whole minute.
    pub step_ms: i64,
    /// Each configured window ending at this step (long windows end at the step's hour).
    pub windows: &'a Windows,
}

/// One hour of one meter's history (CONTRACT §4): unweighted energy and covered seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HourRecord {
    pub hour_start_ms: i64,
    pub energy_kwh: f64,
    pub covered_s: u32,
}

use serde::{Deserialize, Serialize};

use rustc_hash::FxHashMap;

use chrono::TimeZone;

use crate::config::{Role, WindowDef, HISTORY_DAYS};
use buckets::{Buckets, HOUR_MS, MINUTE_MS};
use facility::{range_agg, values, watermark, WindowState};
use meter::{MeterRules, MeterState};
use slot::{MeterSlot, MeterSlotV3};

/// One facility's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FacilityState {
    pub id: String,
    pub meters: Vec<MeterSlot>,
    pub windows: Vec<WindowState>,
    /// Last evaluated step (epoch ms, a whole minute).
    pub last_step: Option<i64>,
    /// Earliest bucket time changed since the last step, behind the windows' ends.
    dirty_from: Option<i64>,
    /// Earliest reading taken from a total or IT meter: where steps begin.
    first_seen: Option<i64>,
    /// Steps since each window was last summed from scratch (bounds float drift).
    since_recompute: Vec<i64>,
    pub accepted: u64,
    pub rejected: [u64; Reason::ALL.len()],
    /// Certificates and emission factor from the config (CONTRACT §14): not saved.
    #[serde(skip)]
    pub kpi: kpi::KpiContext,
}

/// The engine. See the module docs; construction from a validated [`Config`].
#[derive(Debug, Clone)]
pub struct Engine {
    cfg: Config,
    facilities: Vec<FacilityState>,
    /// Rejections whose facility is unknown.
    unknown_rejected: [u64; Reason::ALL.len()],
    index: FxHashMap<String, (usize, FxHashMap<String, usize>)>,
}

/// The engine's durable state (everything but the config it runs with).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedState {
    pub facilities: Vec<FacilityState>,
    pub unknown_rejected: [u64; Reason::ALL.len()],
    /// Each meter's first stored reading (checkpoints of format 4 on).
    pub first_readings: Vec<history::MeterFirst>,
}

/// The reasons counted by checkpoints of format 1, written before `gateway_error` was added
/// (the reasons keep their order; new ones come last).
pub const V1_REASONS: usize = 10;

/// [`SavedState`] as checkpoints of format 1 and 2 hold it: format 3 with the reasons before
/// `gateway_error` (see [`SavedStateV1::upgrade`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedStateV1(SavedStateBeforeV4<[u64; V1_REASONS]>);

/// [`SavedState`] as checkpoints of format 3 hold it: readings without `quality`, buckets
/// without the non-metered part (CONTRACT §13: everything before it was metered).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedStateV3(SavedStateBeforeV4<[u64; Reason::ALL.len()]>);

fn widen(old: [u64; V1_REASONS]) -> [u64; Reason::ALL.len()] {
    let mut out = [0; Reason::ALL.len()];
    out[..V1_REASONS].copy_from_slice(&old);
    out
}

fn narrow(new: [u64; Reason::ALL.len()]) -> [u64; V1_REASONS] {
    let mut out = [0; V1_REASONS];
    out.copy_from_slice(&new[..V1_REASONS]);
    out
}

impl SavedStateV1 {
    /// The state with every counter carried over (the reasons added since count from 0).
    pub fn upgrade(self) -> SavedState {
        self.0.upgrade(widen)
    }

    /// The state as format 1 wrote it (tests of the upgrade).
    pub fn downgrade(s: SavedState) -> SavedStateV1 {
        SavedStateV1(SavedStateBeforeV4::downgrade(s, narrow))
    }
}

impl SavedStateV3 {
    /// The state with every reading metered (as it was).
    pub fn upgrade(self) -> SavedState {
        self.0.upgrade(|r| r)
    }

    /// The state as format 3 wrote it (tests of the upgrade).
    pub fn downgrade(s: SavedState) -> SavedStateV3 {
        SavedStateV3(SavedStateBeforeV4::downgrade(s, |r| r))
    }
}

impl From<SavedStateV1> for SavedState {
    fn from(s: SavedStateV1) -> SavedState {
        s.upgrade()
    }
}

impl From<SavedStateV3> for SavedState {
    fn from(s: SavedStateV3) -> SavedState {
        s.upgrade()
    }
}

/// The state as formats 1 to 3 hold it; `R`, the rejection counters of a format.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedStateBeforeV4<R> {
    facilities: Vec<FacilityStateBeforeV4<R>>,
    unknown_rejected: R,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FacilityStateBeforeV4<R> {
    id: String,
    meters: Vec<MeterSlotV3>,
    windows: Vec<WindowState>,
    last_step: Option<i64>,
    dirty_from: Option<i64>,
    first_seen: Option<i64>,
    since_recompute: Vec<i64>,
    accepted: u64,
    rejected: R,
}

impl<R> SavedStateBeforeV4<R> {
    /// The current state, `widen` carrying the counters over; readings all metered, no first
    /// readings (an import bounds a meter's readings by its stored buckets).
    fn upgrade(self, widen: impl Fn(R) -> [u64; Reason::ALL.len()]) -> SavedState {
        SavedState {
            facilities: self
                .facilities
                .into_iter()
                .map(|f| FacilityState {
                    id: f.id,
                    meters: f.meters.into_iter().map(MeterSlotV3::upgrade).collect(),
                    windows: f.windows,
                    last_step: f.last_step,
                    dirty_from: f.dirty_from,
                    first_seen: f.first_seen,
                    since_recompute: f.since_recompute,
                    accepted: f.accepted,
                    rejected: widen(f.rejected),
                    // From the config at restore, as for every state.
                    kpi: Default::default(),
                })
                .collect(),
            unknown_rejected: widen(self.unknown_rejected),
            first_readings: Vec::new(),
        }
    }

    /// The state as such a format wrote it, `narrow` keeping its counters (tests).
    fn downgrade(s: SavedState, narrow: impl Fn([u64; Reason::ALL.len()]) -> R) -> Self {
        SavedStateBeforeV4 {
            facilities: s
                .facilities
                .into_iter()
                .map(|f| FacilityStateBeforeV4 {
                    id: f.id,
                    meters: f.meters.into_iter().map(MeterSlotV3::downgrade).collect(),
                    windows: f.windows,
                    last_step: f.last_step,
                    dirty_from: f.dirty_from,
                    first_seen: f.first_seen,
                    since_recompute: f.since_recompute,
                    accepted: f.accepted,
                    rejected: narrow(f.rejected),
                })
                .collect(),
            unknown_rejected: narrow(s.unknown_rejected),
        }
    }
}

fn floor_to(t: i64, res: i64) -> i64 {
    t.div_euclid(res) * res
}

impl Engine {
    pub fn new(cfg: &Config) -> Engine {
        let windows = cfg.windows();
        let max_minute_window = windows
            .iter()
            .filter(|w| w.resolution() == Span::MINUTE)
            .map(|w| w.span.ms())
            .max()
            .unwrap_or(0);
        // Hours of minutes: the longest minute window, the lag a meter may run ahead, the
        // lateness, and the hour in progress.
        let min_hours =
            (max_minute_window + cfg.engine.max_lag.ms() + cfg.engine.allowed_lateness.ms())
                .div_euclid(HOUR_MS)
                + 2;
        let hour_len = HISTORY_DAYS * 24;
        let tz = cfg.timezone();
        let facilities: Vec<FacilityState> = cfg
            .facilities
            .iter()
            .map(|f| {
                let meters: Vec<MeterSlot> = f
                    .meters
                    .iter()
                    .map(|m| MeterSlot {
                        id: m.id().to_string(),
                        total: m.has_role(Role::Total),
                        it: m.has_role(Role::It),
                        renewable: m.has_role(Role::Renewable),
                        water: m.has_role(Role::Water),
                        reused_heat: m.has_role(Role::ReusedHeat),
                        weight: m.weight,
                        state: MeterState::new(
                            MeterRules {
                                max_gap_ms: m.max_gap.unwrap_or(cfg.engine.max_gap).ms(),
                                lateness_ms: cfg.engine.allowed_lateness.ms(),
                                max_power_kw: Some(
                                    m.max_power_kw.unwrap_or(cfg.engine.max_power_kw),
                                ),
                                register_max: m.register_max,
                                replacements: swaps(&m.replacements),
                            },
                            Buckets::new(min_hours, hour_len),
                        ),
                        first: None,
                    })
                    .collect();
                let n = meters.len();
                FacilityState {
                    id: f.id().to_string(),
                    meters,
                    windows: windows
                        .iter()
                        .map(|w| WindowState::new(w.name.clone(), w.span.ms(), n))
                        .collect(),
                    last_step: None,
                    dirty_from: None,
                    first_seen: None,
                    since_recompute: vec![0; windows.len()],
                    accepted: 0,
                    rejected: [0; Reason::ALL.len()],
                    kpi: kpi::KpiContext::new(f, &tz, cfg.policy.grid_emission_factor),
                }
            })
            .collect();
        let mut e = Engine {
            cfg: cfg.clone(),
            facilities,
            unknown_rejected: [0; Reason::ALL.len()],
            index: FxHashMap::default(),
        };
        e.reindex();
        e
    }

    /// The engine for `cfg`, carrying over the state of `old` (restored from disk): meters and
    /// facilities are matched by id, so adding either keeps all history; roles, weights and
    /// rules come from `cfg` (applied on read). Returns notes on what changed, or an error when
    /// the state cannot be carried over.
    pub fn restore_from(cfg: &Config, saved: SavedState) -> Result<(Engine, Vec<String>), String> {
        let mut old = Engine {
            cfg: cfg.clone(),
            facilities: saved.facilities,
            unknown_rejected: saved.unknown_rejected,
            index: FxHashMap::default(),
        };
        old.reindex();
        let mut new = Engine::new(cfg);
        let mut notes = Vec::new();
        for f in &mut new.facilities {
            let Some(ofi) = old.facility_index(&f.id) else {
                notes.push(format!(
                    "facility {:?} is new in the config: it starts empty",
                    f.id
                ));
                continue;
            };
            let of = &old.facilities[ofi];
            f.accepted = of.accepted;
            f.rejected = of.rejected;
            f.first_seen = of.first_seen;
            f.last_step = of.last_step;
            for m in &mut f.meters {
                match of.meters.iter().find(|om| om.id == m.id) {
                    Some(om) => {
                        if !om.state.buckets.same_geometry(&m.state.buckets) {
                            return Err(format!(
                                "the saved state was built with other bucket sizes (engine.windows or max_lag changed: meter {}/{}); start with the config it was built with, or move the state file away to start empty",
                                f.id, m.id
                            ));
                        }
                        let rules = m.state.rules.clone();
                        m.state = om.state.clone();
                        m.state.rules = rules;
                    }
                    None => notes.push(format!(
                        "meter {}/{} is new in the config: it starts empty",
                        f.id, m.id
                    )),
                }
            }
            for om in &of.meters {
                if !f.meters.iter().any(|m| m.id == om.id) {
                    notes.push(format!(
                        "meter {}/{} is no longer in the config: its history is not used",
                        f.id, om.id
                    ));
                }
            }
        }
        for of in &old.facilities {
            if new.facility_index(&of.id).is_none() {
                notes.push(format!(
                    "facility {:?} is no longer in the config: its history is not used",
                    of.id
                ));
            }
        }
        new.unknown_rejected = old.unknown_rejected;
        history::restore_firsts(&mut new.facilities, &saved.first_readings);
        Ok((new, notes))
    }

    /// The state to save (see [`Engine::restore_from`]).
    pub fn saved_state(&self) -> SavedState {
        SavedState {
            facilities: self.facilities.clone(),
            unknown_rejected: self.unknown_rejected,
            first_readings: history::saved_firsts(&self.facilities),
        }
    }

    fn reindex(&mut self) {
        self.index = self
            .facilities
            .iter()
            .enumerate()
            .map(|(fi, f)| {
                (
                    f.id.clone(),
                    (
                        fi,
                        f.meters
                            .iter()
                            .enumerate()
                            .map(|(mi, m)| (m.id.clone(), mi))
                            .collect(),
                    ),
                )
            })
            .collect();
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn windows(&self) -> Vec<WindowDef> {
        self.cfg.windows()
    }

    /// Resolves `<prefix>/<facility>/<meter>`'s ids.
    pub fn lookup(&self, facility: &str, meter: &str) -> Option<MeterRef> {
        let (fi, meters) = self.index.get(facility)?;
        meters.get(meter).map(|&mi| MeterRef {
            facility: *fi,
            meter: mi,
        })
    }

    /// Which payload field carries the meter's register.
    pub fn register(&self, m: MeterRef) -> reading::Register {
        if self.facilities[m.facility].meters[m.meter].water {
            reading::Register::VolumeM3
        } else {
            reading::Register::EnergyKwh
        }
    }

    pub fn facility_index(&self, id: &str) -> Option<usize> {
        self.index.get(id).map(|(fi, _)| *fi)
    }

    pub fn facility_state(&self, fi: usize) -> &FacilityState {
        &self.facilities[fi]
    }

    pub fn facility_count(&self) -> usize {
        self.facilities.len()
    }

    /// Judges and takes one reading. `wall_now_ms` is only used for `future_timestamp`.
    pub fn ingest(&mut self, m: MeterRef, r: Reading, wall_now_ms: i64) -> Verdict {
        let verdict = self.judge(m, r, wall_now_ms);
        let f = &mut self.facilities[m.facility];
        match verdict {
            Verdict::Accepted => f.accepted += 1,
            Verdict::Rejected(reason) => f.rejected[reason.index()] += 1,
        }
        verdict
    }

    fn judge(&mut self, m: MeterRef, r: Reading, wall_now_ms: i64) -> Verdict {
        let bad = |v: Option<f64>| v.is_some_and(|x| !x.is_finite() || x < 0.0);
        if r.power_kw.is_none() && r.energy_kwh.is_none() || r.ts < reading::MIN_TS_MS {
            return Verdict::Rejected(Reason::Malformed);
        }
        if bad(r.power_kw) || bad(r.energy_kwh) {
            return Verdict::Rejected(Reason::InvalidValue);
        }
        if r.ts - wall_now_ms > reading::MAX_FUTURE_MS {
            return Verdict::Rejected(Reason::FutureTimestamp);
        }
        let f = &mut self.facilities[m.facility];
        // A water meter's register (m³) rides in `energy_kwh` (see ingest::decode); it has no power.
        if f.meters[m.meter].water && (r.power_kw.is_some() || r.energy_kwh.is_none()) {
            return Verdict::Rejected(Reason::Malformed);
        }
        let slot = &mut f.meters[m.meter];
        match slot.state.ingest(&r) {
            Ok(effect) => {
                slot.note_first(&r);
                if slot.core() {
                    f.first_seen = Some(f.first_seen.map_or(r.ts, |t| t.min(r.ts)));
                }
                let g = &mut f.rejected[Reason::Glitch.index()];
                *g = (*g + effect.glitches).saturating_sub(effect.unglitched);
                if let Some(t) = effect.changed_from {
                    f.dirty_from = Some(f.dirty_from.map_or(t, |d| d.min(t)));
                }
                Verdict::Accepted
            }
            Err(reason) => Verdict::Rejected(reason),
        }
    }

    /// Counts a rejection decided before the engine (decode: too_large, malformed,
    /// unknown_meter, invalid_value); `facility` is None where unknown.
    pub fn count_rejected(&mut self, facility: Option<&str>, reason: Reason, n: u64) {
        match facility.and_then(|id| self.facility_index(id)) {
            Some(fi) => self.facilities[fi].rejected[reason.index()] += n,
            None => self.unknown_rejected[reason.index()] += n,
        }
    }

    /// The facility's watermark (epoch ms).
    pub fn watermark(&self, fi: usize) -> Option<i64> {
        watermark(
            &self.facilities[fi].meters,
            self.facilities[fi].first_seen,
            self.cfg.engine.max_lag.ms(),
        )
    }

    /// Moves every facility's watermark and calls `on_step` for each whole minute it passed.
    pub fn advance(&mut self, on_step: &mut dyn FnMut(FacilityStep<'_>)) {
        let max_lag = self.cfg.engine.max_lag.ms();
        let min_cov = self.cfg.engine.min_coverage;
        for (fi, f) in self.facilities.iter_mut().enumerate() {
            let Some(wm) = watermark(&f.meters, f.first_seen, max_lag) else {
                continue;
            };
            let target = floor_to(wm, MINUTE_MS);
            let first = match f.last_step {
                Some(s) if s >= target => {
                    // No new step, but late data may have changed the current windows.
                    if let Some(d) = f.dirty_from.take() {
                        for w in &mut f.windows {
                            w.invalidate_from(d);
                        }
                    }
                    continue;
                }
                Some(s) => s + MINUTE_MS,
                None => floor_to(f.first_seen.unwrap_or(wm), MINUTE_MS).min(target),
            };
            if let Some(d) = f.dirty_from.take() {
                for w in &mut f.windows {
                    w.invalidate_from(d);
                }
            }
            let mut windows = Windows(Vec::with_capacity(f.windows.len()));
            let mut step = first;
            while step <= target {
                windows.0.clear();
                for (k, w) in f.windows.iter_mut().enumerate() {
                    f.since_recompute[k] += 1;
                    if f.since_recompute[k] * MINUTE_MS >= w.len_ms {
                        w.range = None;
                        f.since_recompute[k] = 0;
                    }
                    w.move_to(&f.meters, step);
                    windows
                        .0
                        .push((w.name.clone(), w.values(&f.meters, min_cov, &f.kpi)));
                }
                on_step(FacilityStep {
                    facility: fi,
                    facility_id: &f.id,
                    step_ms: step,
                    windows: &windows,
                });
                step += MINUTE_MS;
            }
            f.last_step = Some(target);
        }
    }

    /// Brings every window up to its facility's last step (after late data) without new steps,
    /// or back to the current watermark where that fell below the last step.
    ///
    /// The watermark is a function of the readings taken, but it can fall back: a meter left
    /// out for lagging more than `max_lag` holds it again once it reports. Steps (and the
    /// alerts evaluated on them) only move forward, so the last step depends on the order the
    /// readings arrived in; the windows shown end at the watermark the readings give now.
    fn refresh(&mut self) {
        let max_lag = self.cfg.engine.max_lag.ms();
        for f in &mut self.facilities {
            if let Some(d) = f.dirty_from.take() {
                for w in &mut f.windows {
                    w.invalidate_from(d);
                }
            }
            if let Some(s) = f.last_step {
                let end = watermark(&f.meters, f.first_seen, max_lag)
                    .map_or(s, |wm| floor_to(wm, MINUTE_MS).min(s));
                for w in &mut f.windows {
                    w.move_to(&f.meters, end);
                }
            }
        }
    }

    /// The immutable results; `wall_now_ms` decides `stale`. Call after [`Engine::advance`].
    pub fn snapshot(&mut self, wall_now_ms: i64) -> Snapshot {
        self.refresh();
        let cfg = &self.cfg;
        let tz = cfg.timezone();
        let min_cov = cfg.engine.min_coverage;
        let comp = cfg.compliance_window().to_string();
        let rfc = |ms: i64| {
            tz.timestamp_millis_opt(ms)
                .single()
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false))
        };
        let facilities = self
            .facilities
            .iter()
            .zip(&cfg.facilities)
            .map(|(f, fc)| {
                let wm = watermark(&f.meters, f.first_seen, cfg.engine.max_lag.ms());
                let windows = Windows(
                    f.windows
                        .iter()
                        .map(|w| {
                            (
                                w.name.clone(),
                                if w.range.is_some() {
                                    w.values(&f.meters, min_cov, &f.kpi)
                                } else {
                                    values(&f.meters, &w.agg, 0, 1, min_cov, &f.kpi)
                                },
                            )
                        })
                        .map(|(n, mut v)| {
                            if f.last_step.is_none() {
                                v = empty_values();
                            }
                            (n, v)
                        })
                        .collect(),
                );
                let cw = windows.get(&comp);
                let policy::Judgement {
                    ceiling,
                    verdict: status,
                    grade,
                } = policy::judge(
                    cfg,
                    fc,
                    cw.and_then(|v| v.pue),
                    cw.map_or(0.0, |v| v.coverage),
                );
                let stale_after = fc
                    .meters
                    .iter()
                    .map(|m| m.stale_after.unwrap_or(cfg.engine.stale_after).ms())
                    .max()
                    .unwrap_or(cfg.engine.stale_after.ms());
                let stale = wm.is_none_or(|w| wall_now_ms - w > stale_after);
                let max_newest = f
                    .meters
                    .iter()
                    .filter(|m| m.core())
                    .filter_map(|m| m.state.newest().map(|r| r.ts))
                    .max();
                let meters = f
                    .meters
                    .iter()
                    .enumerate()
                    .map(|(k, m)| {
                        let newest = m.state.newest();
                        MeterSnapshot {
                            id: m.id.clone(),
                            roles: [
                                (m.total, Role::Total),
                                (m.it, Role::It),
                                (m.renewable, Role::Renewable),
                                (m.water, Role::Water),
                                (m.reused_heat, Role::ReusedHeat),
                            ]
                            .iter()
                            .filter(|x| x.0)
                            .map(|x| x.1)
                            .collect(),
                            weight: m.weight,
                            last_ts: newest.and_then(|r| rfc(r.ts)),
                            last_ts_ms: newest.map(|r| r.ts),
                            last_power_kw: newest.and_then(|r| r.power_kw),
                            last_energy_kwh: newest.filter(|_| !m.water).and_then(|r| r.energy_kwh),
                            last_volume_m3: newest.filter(|_| m.water).and_then(|r| r.energy_kwh),
                            renewable_kind: fc.meters.get(k).and_then(|m| m.renewable_kind()),
                            coverage: f
                                .windows
                                .iter()
                                .map(|w| {
                                    (
                                        w.name.clone(),
                                        if w.range.is_some() {
                                            w.agg.meter_ms[k] as f64 / w.len_ms as f64
                                        } else {
                                            0.0
                                        },
                                    )
                                })
                                .collect(),
                            holds_watermark: m.core()
                                && match (newest, max_newest) {
                                    (Some(n), Some(mx)) => mx - n.ts <= cfg.engine.max_lag.ms(),
                                    _ => false,
                                },
                        }
                    })
                    .collect();
                FacilitySnapshot {
                    id: f.id.clone(),
                    name: fc.name.clone(),
                    name_en: fc.name_en.clone(),
                    city: fc.city.clone(),
                    tier: fc.tier,
                    class: fc.class,
                    pue_ceiling: ceiling,
                    renewable_target: fc.renewable_target,
                    wue_target: fc.wue_target,
                    ref_target: fc.ref_target,
                    watermark: wm.and_then(rfc),
                    watermark_ms: wm,
                    stale,
                    windows,
                    compliance_window: comp.clone(),
                    min_coverage: cfg.engine.min_coverage,
                    status,
                    grade,
                    meters,
                    accepted_total: f.accepted,
                }
            })
            .collect();
        Snapshot {
            taken_at_ms: wall_now_ms,
            facilities,
            counters: self.counters(),
        }
    }

    /// The durable counters of CONTRACT §6.
    pub fn counters(&self) -> Counters {
        let mut c = Counters::default();
        for f in &self.facilities {
            c.accepted.push((f.id.clone(), f.accepted));
            for r in Reason::ALL {
                c.rejected.push((f.id.clone(), r, f.rejected[r.index()]));
            }
        }
        for r in Reason::ALL {
            c.rejected
                .push((String::new(), r, self.unknown_rejected[r.index()]));
        }
        c
    }

    /// Window values over [start_ms, end_ms) from the buckets: minutes where every meter still
    /// has them and the range is minute-aligned, else whole hours (the range widened to hours).
    pub fn window_between(&self, facility: usize, start_ms: i64, end_ms: i64) -> WindowValues {
        let f = &self.facilities[facility];
        let minutes_ok = start_ms % MINUTE_MS == 0
            && end_ms % MINUTE_MS == 0
            && end_ms - start_ms <= 86_400_000
            && f.meters.iter().all(|m| {
                m.state.buckets.head_hour().is_none()
                    || m.state.buckets.has_minute(start_ms.div_euclid(MINUTE_MS))
            });
        let res = if minutes_ok { MINUTE_MS } else { HOUR_MS };
        let from = start_ms.div_euclid(res);
        let to = (end_ms + res - 1).div_euclid(res);
        let agg = range_agg(&f.meters, from, to, res);
        values(
            &f.meters,
            &agg,
            from * res,
            to * res,
            self.cfg.engine.min_coverage,
            &f.kpi,
        )
    }

    /// The window of length `window` ending at each step from `from_ms` to `to_ms` (at most
    /// 2000 points).
    pub fn series(
        &self,
        facility: usize,
        window: Span,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Vec<(i64, WindowValues)> {
        let step = step_ms.max(MINUTE_MS);
        let mut out = Vec::new();
        let mut t = floor_to(from_ms, step);
        while t <= to_ms && out.len() < 2000 {
            out.push((t, self.window_between(facility, t - window.ms(), t)));
            t += step;
        }
        out
    }

    /// A meter's hourly history, oldest first (hours with no data left out).
    pub fn meter_history(&self, m: MeterRef) -> Vec<HourRecord> {
        let b = &self.facilities[m.facility].meters[m.meter].state.buckets;
        let (Some(start), Some(head)) = (b.history_start_hour(), b.head_hour()) else {
            return Vec::new();
        };
        (start..=head)
            .filter_map(|h| {
                let (e, c) = b.hour(h);
                (e != 0.0 || c != 0).then_some(HourRecord {
                    hour_start_ms: h * HOUR_MS,
                    energy_kwh: e,
                    covered_s: (c / 1000) as u32,
                })
            })
            .collect()
    }

    /// Heap bytes of all meter state (for the memory benchmark).
    pub fn heap_bytes(&self) -> usize {
        self.facilities
            .iter()
            .flat_map(|f| &f.meters)
            .map(|m| m.state.heap_bytes())
            .sum()
    }
}

fn empty_values() -> WindowValues {
    WindowValues {
        pue: None,
        estimated_share: None,
        coverage: 0.0,
        renewable_share: None,
        energy_kwh: Energies::default(),
        covered_energy_kwh: None,
        kpi: Kpis::default(),
        start_ms: 0,
        end_ms: 0,
    }
}

/// The engine's form of a meter's checked replacement list (`config::replacement::check`):
/// entries whose `at` does not parse are left out (validation refuses them before this is used).
pub fn swaps(list: &[crate::config::replacement::ReplacementConfig]) -> Vec<meter::Swap> {
    list.iter()
        .filter_map(|r| {
            Some(meter::Swap {
                at_ms: r.at_ms().ok()?,
                old_final: r.old_final_kwh,
                new_initial: r.new_initial_kwh,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
