//! The meter-data model behind `dcpue simulate` and `dcpue demo`: pure and deterministic (same
//! config, seed and options → the same payloads), no clocks, no I/O.
//!
//! Every facility's loads are defined at hourly knots (Beijing time) and interpolated linearly
//! between them: IT load with a daily and weekly shape and hour-to-hour noise around `sim_it_kw`;
//! the overhead (cooling, power chain, lighting) following a Jiangxi climate — a seasonal
//! temperature curve (≈5 °C in January, ≈30 °C in July), a daily swing and day-to-day weather —
//! scaled so that the facility's annual PUE is its `sim_target_pue`; PV following the sun (zero
//! at night, longer and stronger days in summer, cloudy days); an office sub-meter on office
//! hours. The knots are a pure function of (seed, facility, hour), so an energy register is a
//! pure function of time: separate runs (a backfill, then live) continue the same registers.
//!
//! What a meter reports follows what it is (from its roles and weight):
//! - grid feed (`total`, weight > 0): an energy register (with `register_max` rollover) plus
//!   instantaneous power; it sees IT + overhead + office − on-site PV;
//! - IT meters (`it`): power, their share of the IT load;
//! - on-site PV (`["total", "renewable"]`): power, zero at night;
//! - green-power contract (`renewable` only): an energy register read every 15 minutes when the
//!   meter's `max_gap` is 15 minutes or more;
//! - sub-meter (`total`, weight < 0): the office's power;
//! - water meter (`water`): a cumulative `volume_m3` register; the cooling plant's water use
//!   follows the IT load and the same temperature as the overhead (WUE ≈ 0.3 L/kWh in winter's
//!   free cooling up to ≈ 1.8 L/kWh on a hot summer afternoon);
//! - heat-reuse meter (`reused_heat`): an `energy_kwh` register of heat delivered to a district
//!   heating loop, in the heating season only (mid-November to mid-March), zero in summer.
//!
//! The model keeps, per meter and hour, the energy implied by exactly the readings it generated
//! (the rules of CONTRACT §4: register differences spread evenly, power trapezoids only across
//! gaps up to the meter's `max_gap`), so tests can compare the engine against [`SimModel::totals`].

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};

use chrono::{DateTime, FixedOffset, SecondsFormat};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{Config, Role};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// Beijing time, UTC+8 (no daylight saving).
const LOCAL_OFFSET_MS: i64 = 8 * HOUR_MS;
/// The model's origin: 2020-01-01T00:00:00+08:00. Registers count from here; no readings before.
pub const MODEL_EPOCH_MS: i64 = 1_577_808_000_000;
/// A register with `register_max` is placed so that it wraps at 2026-03-01T00:00:00+08:00.
pub const ROLLOVER_AT_MS: i64 = 1_772_294_400_000;
/// Slow meters (a `max_gap` of 15 minutes or more) are read every 15 minutes.
const SLOW_CADENCE_MS: i64 = 15 * 60_000;
/// The largest gateway batch: readings per message (keeps payloads well under 64 KiB).
pub const MAX_BATCH: usize = 500;

/// What the simulator does beyond plain readings.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Readings per message: 1 sends single JSON objects, more sends a gateway's JSON arrays of
    /// that many consecutive readings of one meter.
    pub batch: usize,
    /// Fraction (0..1) of messages published late, out of order but within `allowed_lateness`.
    pub late: f64,
    /// Periods in which a facility (or one of its meters) sends nothing.
    pub outages: Vec<Outage>,
    /// Per-facility target PUE, overriding `sim_target_pue`.
    pub target_pue: HashMap<String, f64>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            batch: 1,
            late: 0.0,
            outages: Vec::new(),
            target_pue: HashMap::new(),
        }
    }
}

/// No readings from `facility` (all its meters, or only `meter`) with `from_ms <= ts < to_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    pub facility: String,
    pub meter: Option<String>,
    pub from_ms: i64,
    pub to_ms: i64,
}

/// One MQTT message: topic, payload (CONTRACT §3), and the event time at which a gateway sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimMessage {
    pub topic: String,
    pub payload: String,
    pub ts_ms: i64,
    /// Readings in the payload.
    pub readings: usize,
}

/// Energy by role over a period, kWh, weights applied (CONTRACT §4).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub total: f64,
    pub it: f64,
    pub renewable: f64,
}

impl Totals {
    /// total / it, `None` without IT energy.
    pub fn pue(&self) -> Option<f64> {
        (self.it > 0.0).then(|| self.total / self.it)
    }
}

/// What a meter measures, derived from its roles and weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterKind {
    Grid,
    It,
    Pv,
    Contract,
    SubMeter,
    /// `water`: a `volume_m3` register (its "power" is m³/h).
    Water,
    /// `reused_heat`: an `energy_kwh` register of heat delivered outside.
    HeatReuse,
}

/// The facility's loads at one hourly knot, kW.
#[derive(Debug, Clone, Copy, Default)]
struct Knot {
    it: f64,
    overhead: f64,
    pv: f64,
    office: f64,
    /// Water drawn by the cooling plant, m³/h.
    water: f64,
    /// Heat delivered for reuse, kW.
    heat: f64,
}

#[derive(Debug)]
struct SimMeter {
    id: String,
    topic: String,
    kind: MeterKind,
    /// Share of its component this meter carries.
    share: f64,
    roles: Vec<Role>,
    weight: f64,
    max_gap_ms: i64,
    slow: bool,
    register_max: Option<f64>,
    /// Register value at the model epoch.
    offset: f64,
    /// `ts` as epoch milliseconds instead of RFC 3339.
    epoch_ts: bool,
    /// Cumulative energy (kWh) at each hour boundary from the model epoch (registers only).
    cum: Vec<f64>,
    /// The last generated reading: (ts, value reported for energy purposes).
    last: Option<(i64, f64)>,
    /// Energy implied by the generated readings, by hour start (ms).
    buckets: BTreeMap<i64, f64>,
    /// Readings waiting for their batch: (ts, JSON object).
    batch_buf: Vec<(i64, String)>,
    /// Last 15-minute slot this (slow) meter reported in.
    last_slot: Option<i64>,
}

#[derive(Debug)]
struct SimFacility {
    id: String,
    it_kw: f64,
    target_pue: f64,
    /// °C relative to Nanchang.
    temp_offset: f64,
    pv_kwp: f64,
    ppa_share: f64,
    office_kw: f64,
    /// IT-weighted annual mean of the overhead weight, for calibration.
    w_mean: f64,
    meters: Vec<SimMeter>,
    /// Knots from the model epoch, extended lazily.
    knots: Vec<Knot>,
    fidx: u64,
}

/// The deterministic meter-data model.
#[derive(Debug)]
pub struct SimModel {
    seed: u64,
    opts: SimOptions,
    facilities: Vec<SimFacility>,
    allowed_lateness_ms: i64,
    rng: ChaCha8Rng,
    /// Messages held back to be published late: (due, seq) → message.
    late_heap: BinaryHeap<Reverse<(i64, u64)>>,
    late_msgs: HashMap<u64, SimMessage>,
    seq: u64,
    tz: FixedOffset,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64 finaliser
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A deterministic uniform number in [0, 1) from the seed and a few keys.
fn unit(seed: u64, keys: &[u64]) -> f64 {
    let mut h = mix(seed);
    for k in keys {
        h = mix(h ^ k.wrapping_mul(0x2545_F491_4F6C_DD1D));
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

fn str_key(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

fn city_temp_offset(city: &str) -> f64 {
    match city.to_ascii_lowercase().as_str() {
        "ganzhou" => 1.5,
        "jiujiang" => -0.6,
        "yichun" => -0.3,
        "shangrao" => 0.2,
        "fuzhou" | "yingtan" => 0.4,
        _ => 0.0,
    }
}

fn floor_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

fn align_up(t: i64, step: i64) -> i64 {
    let r = t.rem_euclid(step);
    if r == 0 {
        t
    } else {
        t + step - r
    }
}

/// Air temperature (°C) at a facility at time `t` (epoch ms).
fn temperature(seed: u64, fidx: u64, temp_offset: f64, t: i64) -> f64 {
    let local = t + LOCAL_OFFSET_MS;
    let year_frac = (local - MODEL_EPOCH_MS - LOCAL_OFFSET_MS) as f64 / (365.2425 * DAY_MS as f64);
    let hod = local.rem_euclid(DAY_MS) as f64 / HOUR_MS as f64;
    let tau = std::f64::consts::TAU;
    // Coldest around 20 January, hottest around 22 July; daily peak mid-afternoon.
    let seasonal = 18.0 + temp_offset - 12.5 * (tau * (year_frac - 20.0 / 365.0)).cos();
    let daily = 4.0 * (tau * (hod - 14.5) / 24.0).cos();
    // Day-to-day weather, interpolated between days.
    let day = floor_div(local, DAY_MS);
    let f = hod / 24.0;
    let w0 = unit(seed, &[1, fidx, day as u64]) * 5.0 - 2.5;
    let w1 = unit(seed, &[1, fidx, (day + 1) as u64]) * 5.0 - 2.5;
    seasonal + daily + w0 * (1.0 - f) + w1 * f
}

/// Water use per kWh of IT energy (L/kWh) at a temperature: evaporative cooling follows the
/// chiller work of [`overhead_weight`] (a small base for humidification and blow-down).
fn wue_at(temp_c: f64) -> f64 {
    0.3 + 1.5 * (overhead_weight(temp_c) - 1.0) / 0.9
}

/// The share of the IT load delivered as heat for reuse at a time and temperature: only in the
/// heating season (within ±60 days of the coldest day, 20 January), more on colder hours.
fn heat_reuse_share(year_frac: f64, temp_c: f64) -> f64 {
    let winter = (std::f64::consts::TAU * (year_frac - 20.0 / 365.0)).cos() > 0.5;
    if winter {
        0.25 * ((16.0 - temp_c) / 12.0).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Relative overhead at a temperature: fixed losses plus chiller work above ~12 °C (free cooling
/// below).
fn overhead_weight(temp_c: f64) -> f64 {
    let cool = ((temp_c - 12.0).max(0.0) / 20.0).powf(1.3);
    1.0 + 0.9 * cool
}

impl SimFacility {
    fn it_at(&self, seed: u64, t: i64) -> f64 {
        let local = t + LOCAL_OFFSET_MS;
        let hod = local.rem_euclid(DAY_MS) as f64 / HOUR_MS as f64;
        let day = floor_div(local, DAY_MS);
        // 1970-01-01 was a Thursday: Monday = 0.
        let weekday = (day + 3).rem_euclid(7);
        let weekly = if weekday >= 5 { 0.9625 } else { 1.015 };
        let daily = 1.0 + 0.05 * (std::f64::consts::TAU * (hod - 15.0) / 24.0).cos();
        let hour = floor_div(t, HOUR_MS);
        let noise = 1.0 + (unit(seed, &[2, self.fidx, hour as u64]) * 0.04 - 0.02);
        self.it_kw * daily * weekly * noise
    }

    fn knot_at(&self, seed: u64, t: i64) -> Knot {
        let it = self.it_at(seed, t);
        let temp = temperature(seed, self.fidx, self.temp_offset, t);
        let overhead = it * (self.target_pue - 1.0) * overhead_weight(temp) / self.w_mean;
        let local = t + LOCAL_OFFSET_MS;
        let hod = local.rem_euclid(DAY_MS) as f64 / HOUR_MS as f64;
        let day = floor_div(local, DAY_MS);
        let weekday = (day + 3).rem_euclid(7);
        let year_frac =
            (local - MODEL_EPOCH_MS - LOCAL_OFFSET_MS) as f64 / (365.2425 * DAY_MS as f64);
        let season = (std::f64::consts::TAU * (year_frac - 80.0 / 365.0)).sin();
        // The sun: day length 12 h ± 1.9 h, solar noon ≈ 12:15 Beijing time.
        let day_len = 12.0 + 1.9 * season;
        let x = (hod - (12.25 - day_len / 2.0)) / day_len;
        let pv = if self.pv_kwp > 0.0 && x > 0.0 && x < 1.0 {
            let clear = 0.35 + 0.65 * unit(seed, &[3, self.fidx, day as u64]);
            self.pv_kwp
                * 0.8
                * (0.8 + 0.2 * season)
                * clear
                * (std::f64::consts::PI * x).sin().powf(1.3)
        } else {
            0.0
        };
        let office_hours = weekday < 5 && (8.0..18.0).contains(&hod);
        let office = self.office_kw * if office_hours { 1.0 } else { 0.45 };
        let water = it * wue_at(temp) / 1000.0;
        let heat = it * heat_reuse_share(year_frac, temp);
        Knot {
            it,
            overhead,
            pv,
            office,
            water,
            heat,
        }
    }

    fn ensure_knots(&mut self, seed: u64, hour_idx: usize) {
        while self.knots.len() <= hour_idx {
            let t = MODEL_EPOCH_MS + self.knots.len() as i64 * HOUR_MS;
            let k = self.knot_at(seed, t);
            self.knots.push(k);
        }
    }

    fn meter_power(&self, m: &SimMeter, k: &Knot) -> f64 {
        let grid = k.it + k.overhead + k.office - k.pv;
        let v = match m.kind {
            MeterKind::Grid => grid,
            MeterKind::It => k.it,
            MeterKind::Pv => k.pv,
            MeterKind::Contract => grid * self.ppa_share,
            MeterKind::SubMeter => k.office,
            MeterKind::Water => k.water,
            MeterKind::HeatReuse => k.heat,
        };
        v * m.share
    }

    /// Power of meter `mi` at `t` (the piecewise-linear model, no jitter).
    fn power(&mut self, seed: u64, mi: usize, t: i64) -> f64 {
        let rel = t - MODEL_EPOCH_MS;
        let h = (rel / HOUR_MS) as usize;
        self.ensure_knots(seed, h + 1);
        let f = (rel % HOUR_MS) as f64 / HOUR_MS as f64;
        let p0 = self.meter_power(&self.meters[mi], &self.knots[h]);
        let p1 = self.meter_power(&self.meters[mi], &self.knots[h + 1]);
        p0 + (p1 - p0) * f
    }

    /// Cumulative energy (kWh) of meter `mi` from the model epoch to `t`.
    fn cumulative(&mut self, seed: u64, mi: usize, t: i64) -> f64 {
        let rel = t - MODEL_EPOCH_MS;
        let h = (rel / HOUR_MS) as usize;
        self.ensure_knots(seed, h + 1);
        while self.meters[mi].cum.len() <= h {
            let i = self.meters[mi].cum.len();
            let prev = if i == 0 {
                0.0
            } else {
                let a = self.meter_power(&self.meters[mi], &self.knots[i - 1]);
                let b = self.meter_power(&self.meters[mi], &self.knots[i]);
                self.meters[mi].cum[i - 1] + (a + b) / 2.0
            };
            self.meters[mi].cum.push(prev);
        }
        let f = (rel % HOUR_MS) as f64 / HOUR_MS as f64;
        let p0 = self.meter_power(&self.meters[mi], &self.knots[h]);
        let p1 = self.meter_power(&self.meters[mi], &self.knots[h + 1]);
        self.meters[mi].cum[h] + p0 * f + (p1 - p0) * f * f / 2.0
    }
}

impl SimMeter {
    fn is_register(&self) -> bool {
        matches!(
            self.kind,
            MeterKind::Grid | MeterKind::Contract | MeterKind::Water | MeterKind::HeatReuse
        )
    }

    /// Adds `kwh` spread evenly over [t0, t1] to the hourly buckets.
    fn spread(&mut self, t0: i64, t1: i64, kwh: f64) {
        if t1 <= t0 {
            return;
        }
        let len = (t1 - t0) as f64;
        let mut a = t0;
        while a < t1 {
            let hour = floor_div(a, HOUR_MS) * HOUR_MS;
            let b = (hour + HOUR_MS).min(t1);
            *self.buckets.entry(hour).or_insert(0.0) += kwh * (b - a) as f64 / len;
            a = b;
        }
    }

    /// Accounts a generated reading (CONTRACT §4 rules) and remembers it.
    fn account(&mut self, ts: i64, value: f64) {
        if let Some((t0, v0)) = self.last {
            if self.is_register() {
                let mut d = value - v0;
                if d < 0.0 {
                    d = match self.register_max {
                        Some(max) => max - v0 + value,
                        None => value,
                    };
                }
                self.spread(t0, ts, d);
            } else if ts - t0 <= self.max_gap_ms {
                let kwh = (v0 + value) / 2.0 * (ts - t0) as f64 / HOUR_MS as f64;
                self.spread(t0, ts, kwh);
            }
        }
        self.last = Some((ts, value));
    }

    fn energy_between(&self, from_ms: i64, to_ms: i64) -> f64 {
        let first = floor_div(from_ms, HOUR_MS) * HOUR_MS;
        self.buckets
            .range(first..to_ms)
            .map(|(&h, &e)| {
                let a = h.max(from_ms);
                let b = (h + HOUR_MS).min(to_ms);
                if b <= a {
                    0.0
                } else {
                    e * (b - a) as f64 / HOUR_MS as f64
                }
            })
            .sum()
    }
}

impl SimModel {
    /// Builds the model for every facility of `cfg`. Facilities without `sim_it_kw` get 2000 kW;
    /// without a target PUE (option or `sim_target_pue`), 1.25 or a bit under a lower ceiling.
    pub fn new(cfg: &Config, seed: u64, opts: SimOptions) -> SimModel {
        let prefix = cfg.mqtt.topic_prefix.trim_end_matches('/').to_string();
        let default_gap = cfg.engine.max_gap.ms();
        let mut facilities = Vec::new();
        for (fi, f) in cfg.facilities.iter().enumerate() {
            let fid = f.id().to_string();
            let fidx = fi as u64 + 1;
            let ceiling = cfg.ceiling(f);
            let target = opts
                .target_pue
                .get(&fid)
                .copied()
                .or(f.sim_target_pue)
                .unwrap_or_else(|| 1.25f64.min(ceiling - 0.03))
                .max(1.0);
            let it_kw = f.sim_it_kw.unwrap_or(2000.0).max(1.0);
            let kind_of = |m: &crate::config::MeterConfig| -> MeterKind {
                let roles = m.roles();
                if roles.contains(&Role::Water) {
                    MeterKind::Water
                } else if roles.contains(&Role::ReusedHeat) {
                    MeterKind::HeatReuse
                } else if roles.contains(&Role::It) {
                    MeterKind::It
                } else if roles.contains(&Role::Total) && roles.contains(&Role::Renewable) {
                    MeterKind::Pv
                } else if roles.contains(&Role::Total) {
                    if m.weight < 0.0 {
                        MeterKind::SubMeter
                    } else {
                        MeterKind::Grid
                    }
                } else {
                    MeterKind::Contract
                }
            };
            let kinds: Vec<MeterKind> = f.meters.iter().map(kind_of).collect();
            // Raw shares by kind, normalised below so each component is carried once.
            let raw: Vec<f64> = f
                .meters
                .iter()
                .zip(&kinds)
                .map(|(m, k)| match k {
                    MeterKind::It => 0.75 + 0.5 * unit(seed, &[4, fidx, str_key(m.id())]),
                    MeterKind::Grid => 0.9 + 0.2 * unit(seed, &[4, fidx, str_key(m.id())]),
                    _ => 1.0,
                })
                .collect();
            let sum_of = |kind: MeterKind| -> f64 {
                kinds
                    .iter()
                    .zip(&raw)
                    .filter(|(k, _)| **k == kind)
                    .map(|(_, r)| r)
                    .sum::<f64>()
            };
            let mut meters = Vec::new();
            for (mi, m) in f.meters.iter().enumerate() {
                let kind = kinds[mi];
                let share = raw[mi] / sum_of(kind).max(f64::MIN_POSITIVE);
                let max_gap_ms = m.max_gap.map(|s| s.ms()).unwrap_or(default_gap);
                let mkey = str_key(m.id());
                meters.push(SimMeter {
                    id: m.id().to_string(),
                    topic: format!("{prefix}/{fid}/{}", m.id()),
                    kind,
                    share,
                    roles: m.roles(),
                    weight: m.weight,
                    max_gap_ms,
                    slow: m.max_gap.is_some_and(|g| g.ms() >= SLOW_CADENCE_MS),
                    register_max: m.register_max,
                    offset: 50_000.0 + (unit(seed, &[5, fidx, mkey]) * 5_000_000.0).floor(),
                    epoch_ts: matches!(kind, MeterKind::Pv | MeterKind::Contract),
                    cum: Vec::new(),
                    last: None,
                    buckets: BTreeMap::new(),
                    batch_buf: Vec::new(),
                    last_slot: None,
                });
            }
            let mut fac = SimFacility {
                id: fid,
                it_kw,
                target_pue: target,
                temp_offset: city_temp_offset(&f.city),
                pv_kwp: if kinds.contains(&MeterKind::Pv) {
                    0.15 * it_kw
                } else {
                    0.0
                },
                ppa_share: f
                    .renewable_target
                    .map(|t| (t + 0.05).min(0.95))
                    .unwrap_or(0.2),
                office_kw: if kinds.contains(&MeterKind::SubMeter) {
                    0.02 * it_kw
                } else {
                    0.0
                },
                w_mean: 1.0,
                meters,
                knots: Vec::new(),
                fidx,
            };
            // Calibration: the IT-weighted mean overhead weight over a reference year.
            let (mut sw, mut si) = (0.0, 0.0);
            let ref_start = MODEL_EPOCH_MS + 5 * 365 * DAY_MS;
            for h in 0..(365 * 24) {
                let t = ref_start + h * HOUR_MS;
                let it = fac.it_at(seed, t);
                sw += it * overhead_weight(temperature(seed, fidx, fac.temp_offset, t));
                si += it;
            }
            fac.w_mean = if si > 0.0 { sw / si } else { 1.0 };
            // A register with a rollover point wraps at ROLLOVER_AT_MS.
            for mi in 0..fac.meters.len() {
                if let (true, Some(max)) =
                    (fac.meters[mi].is_register(), fac.meters[mi].register_max)
                {
                    let c = fac.cumulative(seed, mi, ROLLOVER_AT_MS);
                    fac.meters[mi].offset = (max - c.rem_euclid(max)).rem_euclid(max);
                }
            }
            facilities.push(fac);
        }
        let allowed_lateness_ms = cfg.engine.allowed_lateness.ms();
        let batch = opts.batch.clamp(1, MAX_BATCH);
        SimModel {
            seed,
            opts: SimOptions { batch, ..opts },
            facilities,
            allowed_lateness_ms,
            rng: ChaCha8Rng::seed_from_u64(seed),
            late_heap: BinaryHeap::new(),
            late_msgs: HashMap::new(),
            seq: 0,
            tz: FixedOffset::east_opt(8 * 3600)
                .unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC")),
        }
    }

    /// Facility ids in config order.
    pub fn facility_ids(&self) -> Vec<String> {
        self.facilities.iter().map(|f| f.id.clone()).collect()
    }

    /// The PUE the model aims `facility` at over a year.
    pub fn target_pue(&self, facility: &str) -> Option<f64> {
        self.facilities
            .iter()
            .find(|f| f.id == facility)
            .map(|f| f.target_pue)
    }

    /// The model's kind for a meter.
    pub fn meter_kind(&self, facility: &str, meter: &str) -> Option<MeterKind> {
        let f = self.facilities.iter().find(|f| f.id == facility)?;
        f.meters.iter().find(|m| m.id == meter).map(|m| m.kind)
    }

    /// Energy by role implied by the readings generated so far, over `[from_ms, to_ms)` (exact
    /// for hour-aligned bounds; within an hour, pro rata).
    pub fn totals(&self, facility: &str, from_ms: i64, to_ms: i64) -> Option<Totals> {
        let f = self.facilities.iter().find(|f| f.id == facility)?;
        let mut t = Totals::default();
        for m in &f.meters {
            let e = m.weight * m.energy_between(from_ms, to_ms);
            if m.roles.contains(&Role::Total) {
                t.total += e;
            }
            if m.roles.contains(&Role::It) {
                t.it += e;
            }
            if m.roles.contains(&Role::Renewable) {
                t.renewable += e;
            }
        }
        Some(t)
    }

    /// Energy (kWh, unweighted) of one meter implied by its generated readings over the period.
    pub fn meter_energy(
        &self,
        facility: &str,
        meter: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Option<f64> {
        let f = self.facilities.iter().find(|f| f.id == facility)?;
        f.meters
            .iter()
            .find(|m| m.id == meter)
            .map(|m| m.energy_between(from_ms, to_ms))
    }

    /// Messages for readings with `from_ms <= ts < to_ms`, one reading per meter every `step_ms`
    /// (aligned to multiples of it; slow meters every 15 minutes), in the order a broker would
    /// receive them. Batches still open and late messages still held are sent at the end.
    /// Times before the model epoch (2020-01-01) produce nothing.
    pub fn readings_between(&mut self, from_ms: i64, to_ms: i64, step_ms: i64) -> ReadingsIter<'_> {
        let step = step_ms.max(1000);
        let start = align_up(from_ms.max(MODEL_EPOCH_MS), step);
        ReadingsIter {
            hold_late: false,
            model: self,
            t: start,
            to: to_ms,
            step,
            out: VecDeque::new(),
            flushed: false,
        }
    }

    /// As [`SimModel::readings_between`], for a live run made of consecutive calls: messages
    /// held back to be late and due at or after `to_ms` stay held for the next call (see
    /// [`SimModel::drain_late`]).
    pub fn readings_between_live(
        &mut self,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> ReadingsIter<'_> {
        let mut it = self.readings_between(from_ms, to_ms, step_ms);
        it.hold_late = true;
        it
    }

    /// Messages still held back to be late, in due order.
    pub fn drain_late(&mut self) -> Vec<SimMessage> {
        let mut out = VecDeque::new();
        self.release_late(i64::MAX, &mut out);
        out.into()
    }

    fn format_ts(&self, ts: i64, epoch: bool) -> String {
        if epoch {
            return ts.to_string();
        }
        match DateTime::from_timestamp_millis(ts) {
            Some(d) => format!(
                "\"{}\"",
                d.with_timezone(&self.tz)
                    .to_rfc3339_opts(SecondsFormat::AutoSi, false)
            ),
            None => ts.to_string(),
        }
    }

    fn in_outage(&self, fid: &str, mid: &str, ts: i64) -> bool {
        self.opts.outages.iter().any(|o| {
            o.facility == fid
                && o.meter.as_deref().is_none_or(|m| m == mid)
                && o.from_ms <= ts
                && ts < o.to_ms
        })
    }

    fn make_message(&mut self, fi: usize, mi: usize) -> Option<SimMessage> {
        let m = &mut self.facilities[fi].meters[mi];
        if m.batch_buf.is_empty() {
            return None;
        }
        let buf = std::mem::take(&mut m.batch_buf);
        let ts_ms = buf.last().map(|b| b.0).unwrap_or(0);
        let readings = buf.len();
        let payload = if self.opts.batch == 1 && readings == 1 {
            buf.into_iter().next().map(|b| b.1).unwrap_or_default()
        } else {
            let parts: Vec<String> = buf.into_iter().map(|b| b.1).collect();
            format!("[{}]", parts.join(","))
        };
        Some(SimMessage {
            topic: m.topic.clone(),
            payload,
            ts_ms,
            readings,
        })
    }

    /// Either emits `msg` now or holds it back to be published late.
    fn route(&mut self, msg: SimMessage, step: i64, out: &mut VecDeque<SimMessage>) {
        if self.opts.late > 0.0 {
            let span = (msg.readings.saturating_sub(1)) as i64 * step;
            // Lateness of the oldest reading when it arrives: delay + span ≤ allowed_lateness,
            // with one step to spare.
            let max_delay = self.allowed_lateness_ms - span - step;
            let max_k = max_delay / step;
            if max_k >= 1 && self.rng.gen::<f64>() < self.opts.late {
                let k = self.rng.gen_range(1..=max_k);
                let due = msg.ts_ms + k * step;
                self.seq += 1;
                self.late_heap.push(Reverse((due, self.seq)));
                self.late_msgs
                    .insert(self.seq, SimMessage { ts_ms: due, ..msg });
                return;
            }
        }
        out.push_back(msg);
    }

    fn release_late(&mut self, upto: i64, out: &mut VecDeque<SimMessage>) {
        while let Some(Reverse((due, seq))) = self.late_heap.peek().copied() {
            if due > upto {
                break;
            }
            self.late_heap.pop();
            if let Some(m) = self.late_msgs.remove(&seq) {
                out.push_back(m);
            }
        }
    }

    /// Generates the readings of time `t` into `out`.
    fn step_at(&mut self, t: i64, step: i64, out: &mut VecDeque<SimMessage>) {
        let seed = self.seed;
        // One timestamp per step, in both forms the gateways use.
        let ts_rfc = self.format_ts(t, false);
        let ts_epoch = self.format_ts(t, true);
        for fi in 0..self.facilities.len() {
            for mi in 0..self.facilities[fi].meters.len() {
                let slow = self.facilities[fi].meters[mi].slow;
                if slow && step < SLOW_CADENCE_MS {
                    let slot = floor_div(t, SLOW_CADENCE_MS);
                    if self.facilities[fi].meters[mi].last_slot == Some(slot) {
                        continue;
                    }
                    self.facilities[fi].meters[mi].last_slot = Some(slot);
                }
                if !self.opts.outages.is_empty()
                    && self.in_outage(
                        &self.facilities[fi].id,
                        &self.facilities[fi].meters[mi].id,
                        t,
                    )
                {
                    continue;
                }
                let power = self.facilities[fi].power(seed, mi, t);
                let jitter = 1.0 + (self.rng.gen::<f64>() - 0.5) * 0.008;
                let power_r = ((power * jitter).max(0.0) * 1000.0).round() / 1000.0;
                let kind = self.facilities[fi].meters[mi].kind;
                let epoch = self.facilities[fi].meters[mi].epoch_ts;
                let ts = if epoch { &ts_epoch } else { &ts_rfc };
                let obj = match kind {
                    MeterKind::Grid
                    | MeterKind::Contract
                    | MeterKind::Water
                    | MeterKind::HeatReuse => {
                        let cum = self.facilities[fi].cumulative(seed, mi, t);
                        let m = &self.facilities[fi].meters[mi];
                        let mut v = m.offset + cum;
                        if let Some(max) = m.register_max {
                            v = v.rem_euclid(max);
                        }
                        let v = (v * 100.0).floor() / 100.0;
                        self.facilities[fi].meters[mi].account(t, v);
                        if kind == MeterKind::Grid {
                            format!(
                                "{{\"ts\":{ts},\"energy_kwh\":{v:.2},\"power_kw\":{power_r:.3}}}"
                            )
                        } else if kind == MeterKind::Water {
                            format!("{{\"ts\":{ts},\"volume_m3\":{v:.2}}}")
                        } else {
                            format!("{{\"ts\":{ts},\"energy_kwh\":{v:.2}}}")
                        }
                    }
                    _ => {
                        self.facilities[fi].meters[mi].account(t, power_r);
                        format!("{{\"ts\":{ts},\"power_kw\":{power_r:.3}}}")
                    }
                };
                let m = &mut self.facilities[fi].meters[mi];
                m.batch_buf.push((t, obj));
                if m.batch_buf.len() >= self.opts.batch {
                    if let Some(msg) = self.make_message(fi, mi) {
                        self.route(msg, step, out);
                    }
                }
            }
        }
        self.release_late(t, out);
    }

    fn flush(&mut self, step: i64, late_upto: i64, out: &mut VecDeque<SimMessage>) {
        for fi in 0..self.facilities.len() {
            for mi in 0..self.facilities[fi].meters.len() {
                if let Some(msg) = self.make_message(fi, mi) {
                    self.route(msg, step, out);
                }
            }
        }
        self.release_late(late_upto, out);
    }
}

/// The messages of [`SimModel::readings_between`].
pub struct ReadingsIter<'a> {
    model: &'a mut SimModel,
    t: i64,
    to: i64,
    step: i64,
    out: VecDeque<SimMessage>,
    flushed: bool,
    hold_late: bool,
}

impl Iterator for ReadingsIter<'_> {
    type Item = SimMessage;

    fn next(&mut self) -> Option<SimMessage> {
        loop {
            if let Some(m) = self.out.pop_front() {
                return Some(m);
            }
            if self.t < self.to {
                let t = self.t;
                self.model.step_at(t, self.step, &mut self.out);
                self.t += self.step;
            } else if !self.flushed {
                self.flushed = true;
                let upto = if self.hold_late {
                    self.to - 1
                } else {
                    i64::MAX
                };
                self.model.flush(self.step, upto, &mut self.out);
            } else {
                return None;
            }
        }
    }
}
