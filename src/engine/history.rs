//! History import (CONTRACT §13): readings older than a meter's first stored reading, added to
//! its history through the same rules as live readings. Pure, like the rest of the engine.
//!
//! Each meter's imported readings (sorted by time) go through a fresh [`Engine`] whose meter
//! holds the real meter's buckets: [`Engine::ingest`] judges them exactly as it judges live
//! readings (malformed, invalid values, the future, duplicates, conflicts, implausible, resets,
//! glitches, gaps), and their intervals land in the buckets next to what is stored. Then the
//! meter's first stored reading is taken after them: the interval between the last imported
//! reading and it counts like any other interval between consecutive readings (the same gap,
//! register and plausibility rules). Nothing stored is changed: readings at or after the first
//! stored one are skipped, as are readings older than the history the buckets keep.

use serde::{Deserialize, Serialize};

use super::buckets::{HOUR_MS, MINUTE_MS};
use super::facility::watermark;
use super::{Engine, FacilityState, MeterRef, Reading, Reason, Verdict};
use crate::config::HISTORY_DAYS;

/// One meter's first stored reading, as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterFirst {
    pub facility: String,
    pub meter: String,
    pub reading: Reading,
}

/// Each meter's first stored reading (see [`super::slot::MeterSlot::first`]), as saved: in facility and meter
/// order, meters without one left out.
pub fn saved_firsts(facilities: &[FacilityState]) -> Vec<MeterFirst> {
    let mut out = Vec::new();
    for f in facilities {
        for m in &f.meters {
            if let Some(r) = m.first {
                out.push(MeterFirst {
                    facility: f.id.clone(),
                    meter: m.id.clone(),
                    reading: r,
                });
            }
        }
    }
    out
}

/// Puts the saved first readings into the meters of `facilities`, matched by id (others are
/// dropped, as their meters).
pub fn restore_firsts(facilities: &mut [FacilityState], saved: &[MeterFirst]) {
    for s in saved {
        let Some(f) = facilities.iter_mut().find(|f| f.id == s.facility) else {
            continue;
        };
        if let Some(m) = f.meters.iter_mut().find(|m| m.id == s.meter) {
            m.first = Some(s.reading);
        }
    }
}

/// What became of one imported reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Imported,
    /// At or after the meter's first stored reading: left as stored.
    AlreadyStored,
    /// Older than the history kept (CONTRACT §4: 13 months before the facility's newest data).
    TooOld,
    Rejected(Reason),
}

/// How the interval between a meter's last imported reading and its first stored one was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Junction {
    /// Nothing imported before a stored reading (or the meter had nothing stored).
    None,
    /// Counted like any interval between consecutive readings.
    Counted,
    /// The interval was rejected by the rules (e.g. `implausible`): it adds nothing.
    Rejected(Reason),
    /// The meter's first stored reading is not known (a state saved before dcpue kept it): the
    /// imported readings end where its stored history begins, and the interval adds nothing.
    Unknown,
}

/// One meter's import: its outcome per reading, its junction, readings judged glitches.
#[derive(Debug, Clone)]
pub struct MeterImported {
    pub outcomes: Vec<Outcome>,
    pub junction: Junction,
    pub glitches: u64,
}

impl Engine {
    /// Imports history for facility `fi`: `per_meter[mi]` holds meter `mi`'s readings sorted by
    /// `ts` (equal times in file order). `wall_now_ms` decides `future_timestamp`, as live.
    /// Returns, per meter, what became of each reading.
    pub fn import_history(
        &mut self,
        fi: usize,
        per_meter: &[Vec<Reading>],
        wall_now_ms: i64,
    ) -> Vec<MeterImported> {
        let mut scratch = Engine::new(&self.cfg);
        let n = self.facilities[fi].meters.len();
        // History kept: hours back from the facility's newest data (stored or imported).
        let newest_hour = self.facilities[fi]
            .meters
            .iter()
            .filter_map(|m| m.state.buckets.head_hour())
            .chain(
                per_meter
                    .iter()
                    .filter_map(|rs| rs.last().map(|r| r.ts.div_euclid(HOUR_MS))),
            )
            .max();
        let oldest_ms = newest_hour.map_or(i64::MIN, |h| (h - HISTORY_DAYS * 24 + 1) * HOUR_MS);
        let mut out = Vec::with_capacity(n);
        let mut earliest: Option<i64> = None;
        for mi in 0..n {
            let readings = per_meter.get(mi).map_or(&[][..], |v| &v[..]);
            let m = MeterRef {
                facility: fi,
                meter: mi,
            };
            let stored = self.facilities[fi].meters[mi]
                .state
                .buckets
                .head_hour()
                .is_some();
            let first = self.facilities[fi].meters[mi].first;
            // Without a known first reading, the stored history's first bucket bounds it.
            let until = match first {
                Some(f) => Some(f.ts),
                None if stored => earliest_data_ms(&self.facilities[fi], mi),
                None => None,
            };
            let real = &mut self.facilities[fi].meters[mi].state.buckets;
            std::mem::swap(real, &mut scratch.facilities[fi].meters[mi].state.buckets);
            let mut outcomes = Vec::with_capacity(readings.len());
            let mut first_imported: Option<Reading> = None;
            for r in readings {
                let o = if until.is_some_and(|u| r.ts >= u) {
                    Outcome::AlreadyStored
                } else if r.ts < oldest_ms {
                    Outcome::TooOld
                } else {
                    match scratch.ingest(m, *r, wall_now_ms) {
                        Verdict::Accepted => {
                            if first_imported.is_none() {
                                first_imported = Some(*r);
                            }
                            Outcome::Imported
                        }
                        Verdict::Rejected(reason) => Outcome::Rejected(reason),
                    }
                };
                outcomes.push(o);
            }
            let junction = match (first_imported, first) {
                (None, _) => Junction::None,
                (Some(_), _) if !stored => Junction::None,
                (Some(_), None) => Junction::Unknown,
                (Some(_), Some(f)) => match scratch.ingest(m, f, wall_now_ms) {
                    Verdict::Accepted => Junction::Counted,
                    Verdict::Rejected(reason) => Junction::Rejected(reason),
                },
            };
            let glitches = scratch.facilities[fi].rejected[Reason::Glitch.index()];
            scratch.facilities[fi].rejected[Reason::Glitch.index()] = 0;
            let slot = &mut self.facilities[fi].meters[mi];
            if !stored && first_imported.is_some() {
                // Nothing was stored: the imported readings are the meter's state, and live
                // readings go on from the last of them.
                std::mem::swap(
                    &mut slot.state,
                    &mut scratch.facilities[fi].meters[mi].state,
                );
                slot.state.rules = scratch.facilities[fi].meters[mi].state.rules.clone();
            } else {
                std::mem::swap(
                    &mut slot.state.buckets,
                    &mut scratch.facilities[fi].meters[mi].state.buckets,
                );
            }
            if let Some(r) = first_imported {
                let f = &mut self.facilities[fi];
                f.meters[mi].note_first(&r);
                if f.meters[mi].core() {
                    f.first_seen = Some(f.first_seen.map_or(r.ts, |t| t.min(r.ts)));
                }
                earliest = Some(earliest.map_or(r.ts, |e| e.min(r.ts)));
            }
            out.push(MeterImported {
                outcomes,
                junction,
                glitches,
            });
        }
        let max_lag = self.cfg.engine.max_lag.ms();
        let f = &mut self.facilities[fi];
        if let Some(t) = earliest {
            // Every window over the imported time is summed again.
            f.dirty_from = Some(f.dirty_from.map_or(t, |d| d.min(t)));
            for w in &mut f.windows {
                w.invalidate_from(t);
            }
        }
        // A facility with nothing stored before: its windows start at the imported data's end;
        // alerts are not evaluated over the imported past (it is history, not news).
        if f.last_step.is_none() {
            if let Some(wm) = watermark(&f.meters, f.first_seen, max_lag) {
                f.last_step = Some(wm.div_euclid(MINUTE_MS) * MINUTE_MS);
            }
        }
        out
    }
}

/// The start of the oldest bucket holding anything of meter `mi` (minute precision inside the
/// minute ring, hour precision before it).
fn earliest_data_ms(f: &FacilityState, mi: usize) -> Option<i64> {
    let b = &f.meters[mi].state.buckets;
    let (start, head) = (b.history_start_hour()?, b.head_hour()?);
    let h = (start..=head).find(|&h| b.hour(h) != (0.0, 0))?;
    if b.has_minute(h * 60) {
        let m = (h * 60..h * 60 + 60).find(|&m| b.minute(m) != (0.0, 0))?;
        return Some(m * MINUTE_MS);
    }
    Some(h * HOUR_MS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::fixture::facility;
    use crate::config::Config;

    const H: i64 = 3_600_000;
    const M: i64 = 60_000;
    /// 2026-01-01T00:00:00Z.
    const T0: i64 = 1_767_225_600_000;
    const WALL: i64 = T0 + 100 * 24 * H;

    fn cfg() -> Config {
        let f = facility("f")
            .meter_with("grid", "total", "max_power_kw = 5000")
            .meter("it", "it");
        let text = format!("[engine]\nmax_gap = \"10m\"\n{f}");
        Config::parse(&text, "test.toml").unwrap()
    }

    fn reading(ts: i64, power_kw: Option<f64>, energy_kwh: Option<f64>) -> Reading {
        Reading {
            ts,
            power_kw,
            energy_kwh,
            quality: Default::default(),
        }
    }

    /// Ten days of readings of both meters: a register for grid (with a glitch, a reset, a
    /// 40-minute silence) and power samples for it (with a gap).
    fn readings() -> Vec<(usize, Reading)> {
        let mut out = Vec::new();
        let (mut reg, mut base) = (5000.0, 0.0);
        for k in 0..(10 * 24 * 12) {
            let t = T0 + k * 5 * M;
            if (1000..1008).contains(&k) {
                continue; // grid and it silent 40 minutes
            }
            reg += 60.0 + (k % 5) as f64;
            if k == 2000 {
                base = reg - 30.0; // a reset: the register starts again near 0
            }
            // At k = 500 a glitch: 0, and the next reading recovers.
            let e = if k == 500 { 0.0 } else { reg - base };
            out.push((0, reading(t, None, Some(e))));
            if !(1500..1504).contains(&k) {
                out.push((1, reading(t, Some(500.0 + (k % 7) as f64), None)));
            }
        }
        out
    }

    fn take(e: &mut Engine, rs: &[(usize, Reading)]) {
        for (mi, r) in rs {
            let m = MeterRef {
                facility: 0,
                meter: *mi,
            };
            assert_eq!(e.ingest(m, *r, WALL), Verdict::Accepted, "{r:?}");
        }
    }

    /// Asserts both engines hold the same hourly history per meter: the same hours and covered
    /// seconds, the energies equal to the hour store's f32 rounding.
    fn same_history(a: &Engine, b: &Engine) {
        for mi in 0..2 {
            let m = MeterRef {
                facility: 0,
                meter: mi,
            };
            let (ha, hb) = (a.meter_history(m), b.meter_history(m));
            assert_eq!(ha.len(), hb.len(), "meter {mi}");
            for (x, y) in ha.iter().zip(&hb) {
                assert_eq!(
                    (x.hour_start_ms, x.covered_s),
                    (y.hour_start_ms, y.covered_s),
                    "meter {mi}"
                );
                assert!(
                    (x.energy_kwh - y.energy_kwh).abs() <= 1e-5 * y.energy_kwh.abs().max(1.0),
                    "meter {mi} hour {}: {} vs {}",
                    x.hour_start_ms,
                    x.energy_kwh,
                    y.energy_kwh
                );
            }
        }
    }

    #[test]
    fn imported_before_live_equals_everything_taken_live_in_order() {
        let all = readings();
        let mut live_all = Engine::new(&cfg());
        take(&mut live_all, &all);

        // Live from day 6 on; days 0–5 imported afterwards (the file in any order).
        let split = T0 + 6 * 24 * H + 2 * M; // not on a reading: between two
        let (before, after): (Vec<_>, Vec<_>) = all.iter().partition(|(_, r)| r.ts < split);
        let mut e = Engine::new(&cfg());
        take(&mut e, &after);
        let mut per_meter = vec![Vec::new(), Vec::new()];
        for (mi, r) in before.iter().rev() {
            per_meter[*mi].push(*r);
        }
        for v in &mut per_meter {
            v.sort_by_key(|r| r.ts);
        }
        let res = e.import_history(0, &per_meter, WALL);
        for (mi, m) in res.iter().enumerate() {
            assert!(m.outcomes.iter().all(|o| *o == Outcome::Imported), "{mi}");
            assert_eq!(m.junction, Junction::Counted, "{mi}");
        }
        assert_eq!(res[0].glitches, 1, "the glitch is judged as live");
        same_history(&e, &live_all);
        let (a, b) = (
            e.window_between(0, T0, T0 + 10 * 24 * H),
            live_all.window_between(0, T0, T0 + 10 * 24 * H),
        );
        assert_eq!(a.coverage, b.coverage);
        assert!((a.pue.unwrap_or(0.0) - b.pue.unwrap_or(1.0)).abs() < 1e-6);

        // Again: everything is at or after the first stored reading now.
        let res = e.import_history(0, &per_meter, WALL);
        assert!(res
            .iter()
            .flat_map(|m| &m.outcomes)
            .all(|o| *o == Outcome::AlreadyStored));
        same_history(&e, &live_all);
    }

    #[test]
    fn a_state_saved_and_restored_keeps_each_meters_first_reading() {
        let mut e = Engine::new(&cfg());
        take(&mut e, &readings()[100..]);
        let saved = e.saved_state();
        assert_eq!(saved.first_readings.len(), 2);
        let (r, _) = Engine::restore_from(&cfg(), saved).unwrap();
        let first = |e: &Engine| e.facilities[0].meters[0].first;
        assert_eq!(first(&r), first(&e));
        assert!(first(&r).is_some());
    }
}
