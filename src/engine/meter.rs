//! One meter's rules (CONTRACT §3–4): duplicates and conflicts, lateness, in-order insertion,
//! energy registers (resets, glitches, rollovers, declared replacements), power trapezoids and
//! gaps, implausible intervals, and the bucket contributions that follow. Pure: no clocks, no I/O.
//!
//! Provenance (CONTRACT §13): an interval's energy is the difference of the two readings that
//! bound it (or the trapezoid of their power), so it is only as measured as the less measured of
//! them: an interval counts as *not wholly metered* ([`Contribution::estimated`]) when the
//! reading at either end is not `metered`. A glitch recovery or a reset bounds its interval by
//! the last good reading and the reading that decided it, the same two readings its energy comes
//! from.
//!
//! Meter replacement (CONTRACT §13): a register reading before a declared replacement's `at`
//! is the old register's, at or after it the new one's. Register rules run on the *continuous*
//! value of a reading: its value plus, for every replacement at or before it,
//! `old_final_kwh − new_initial_kwh`. The energy of an interval across `at` is then exactly
//! `(old_final − last old reading) + (first new reading − new_initial)`, and the drop of the raw
//! register is neither a reset nor a glitch. Readings that contradict the declaration (an old
//! reading above `old_final`, a new one below `new_initial`) are a drop of the continuous value
//! and are judged by the ordinary register rules; a reset across a replacement counts the old
//! register's tail (never below 0) plus the new reading's value.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::buckets::{Buckets, BucketsV3, Contribution, ContributionV3};
use super::reading::{Quality, Reading, ReadingV3, Reason};

/// Readings that stayed below a register's value before it is judged a reset (CONTRACT §4).
pub const RESET_AFTER: usize = 3;
/// Final readings leave the tail this many at a time (bounds the tail's shifting cost).
const FINALIZE_BATCH: usize = 16;
/// Readings remembered for duplicate detection beyond the lateness horizon.
const DEDUP_MIN_KEEP: usize = 16;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterRules {
    pub max_gap_ms: i64,
    pub lateness_ms: i64,
    pub max_power_kw: Option<f64>,
    pub register_max: Option<f64>,
    /// Declared replacements of the meter, by `at` (strictly increasing). From the config at
    /// every start, as all rules: not saved (the saved layout of the rules stays as it was).
    #[serde(skip)]
    pub replacements: Vec<Swap>,
}

/// A declared meter replacement (CONTRACT §13), see the module docs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Swap {
    /// The new register counts from here (epoch ms): readings at or after it are the new one's.
    pub at_ms: i64,
    /// The old register's last value.
    pub old_final: f64,
    /// The new register's first value.
    pub new_initial: f64,
}

/// What one accepted reading did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effect {
    /// Earliest time whose buckets changed (None when nothing changed yet, e.g. a held dip).
    pub changed_from: Option<i64>,
    /// Readings newly judged glitches (CONTRACT §4).
    pub glitches: u64,
    /// Readings judged glitches before that a late reading showed were not (three dips in a
    /// row after all: a reset).
    pub unglitched: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MeterState {
    pub rules: MeterRules,
    pub buckets: Buckets,
    /// Newest accepted reading (by ts).
    newest: Option<Reading>,
    /// Last final reading: nothing before it can change any more.
    anchor: Option<Reading>,
    /// Last good register reading at or before the anchor.
    anchor_reg: Option<Reading>,
    /// Readings after the anchor, by ts; their intervals may still be recomputed. Glitches stay
    /// here (flagged) until the anchor passes them, so that recomputing sees every reading.
    tail: Vec<Reading>,
    /// Per tail reading: for a good reading (nothing held after it was taken), the newest ts
    /// its judgement depends on (its own, or for the first dip of a reset the third one); the
    /// anchor may move to it once that is older than the lateness horizon. None for others.
    #[serde(default)]
    eligible: Vec<Option<i64>>,
    /// Per tail reading: whether it is currently judged a glitch.
    #[serde(default)]
    glitch: Vec<bool>,
    /// Contributions of the tail currently applied to the buckets.
    applied: Vec<Contribution>,
    /// Whether the tail ends in held register dips (a suspected reset not yet decided).
    holding: bool,
    /// Recently taken readings, by ts, for duplicate and conflict detection.
    recent: VecDeque<Reading>,
}

/// [`MeterState`] as checkpoints before format 4 hold it: readings without `quality`, buckets
/// and contributions without the non-metered part (all of it was metered).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MeterStateV3 {
    rules: MeterRules,
    buckets: BucketsV3,
    newest: Option<ReadingV3>,
    anchor: Option<ReadingV3>,
    anchor_reg: Option<ReadingV3>,
    tail: Vec<ReadingV3>,
    eligible: Vec<Option<i64>>,
    glitch: Vec<bool>,
    applied: Vec<ContributionV3>,
    holding: bool,
    recent: VecDeque<ReadingV3>,
}

impl MeterStateV3 {
    pub fn upgrade(self) -> MeterState {
        MeterState {
            rules: self.rules,
            buckets: self.buckets.upgrade(),
            newest: self.newest.map(ReadingV3::upgrade),
            anchor: self.anchor.map(ReadingV3::upgrade),
            anchor_reg: self.anchor_reg.map(ReadingV3::upgrade),
            tail: self.tail.into_iter().map(ReadingV3::upgrade).collect(),
            eligible: self.eligible,
            glitch: self.glitch,
            applied: self
                .applied
                .into_iter()
                .map(ContributionV3::upgrade)
                .collect(),
            holding: self.holding,
            recent: self.recent.into_iter().map(ReadingV3::upgrade).collect(),
        }
    }

    /// The state as format 3 wrote it (tests of the upgrade).
    pub fn downgrade(m: MeterState) -> MeterStateV3 {
        MeterStateV3 {
            rules: m.rules,
            buckets: BucketsV3::downgrade(m.buckets),
            newest: m.newest.map(ReadingV3::downgrade),
            anchor: m.anchor.map(ReadingV3::downgrade),
            anchor_reg: m.anchor_reg.map(ReadingV3::downgrade),
            tail: m.tail.into_iter().map(ReadingV3::downgrade).collect(),
            eligible: m.eligible,
            glitch: m.glitch,
            applied: m
                .applied
                .into_iter()
                .map(ContributionV3::downgrade)
                .collect(),
            holding: m.holding,
            recent: m.recent.into_iter().map(ReadingV3::downgrade).collect(),
        }
    }
}

/// Result of running the register/power rules over the tail.
struct Processed {
    contribs: Vec<Contribution>,
    glitches: Vec<usize>,
    eligible: Vec<Option<i64>>,
    implausible: Vec<usize>,
    holding: bool,
}

impl Processed {
    /// Records an interval as [`MeterRules::interval`] judged it: its contribution, and the
    /// tail index `at` of the reading that ends it as implausible when its energy was refused.
    fn push_interval(&mut self, (c, bad): (Contribution, bool), at: usize) {
        if bad {
            self.implausible.push(at);
        }
        self.contribs.push(c);
    }
}

fn same_values(a: &Reading, b: &Reading) -> bool {
    a.power_kw.map(f64::to_bits) == b.power_kw.map(f64::to_bits)
        && a.energy_kwh.map(f64::to_bits) == b.energy_kwh.map(f64::to_bits)
        && a.quality == b.quality
}

/// Whether the interval between `a` and `b` is not wholly metered (see the module docs).
fn estimated(a: &Reading, b: &Reading) -> bool {
    a.quality != Quality::Metered || b.quality != Quality::Metered
}

fn hours(ms: i64) -> f64 {
    ms as f64 / 3_600_000.0
}

impl MeterRules {
    fn too_much(&self, energy: f64, span_ms: i64) -> bool {
        match self.max_power_kw {
            Some(max) if span_ms > 0 => energy / hours(span_ms) > max * (1.0 + 1e-9),
            _ => !energy.is_finite(),
        }
    }

    /// An interval's contribution, and whether it implies a mean power above the bound. Such an
    /// interval adds no energy and no covered time: its energy is not known (the reading that
    /// ends it is rejected when it is the one being taken; an interval that a later reading
    /// made implausible, e.g. a reset after an absurd register value, adds nothing).
    fn interval(
        &self,
        a: &Reading,
        b: &Reading,
        energy: f64,
        covered: bool,
    ) -> (Contribution, bool) {
        let bad = self.too_much(energy, b.ts - a.ts);
        let c = Contribution {
            start: a.ts,
            end: b.ts,
            energy: if bad { 0.0 } else { energy },
            covered: covered && !bad,
            estimated: estimated(a, b),
        };
        (c, bad)
    }

    /// The register's continuous value at `r` (see the module docs): its value plus the jumps
    /// of the replacements at or before it.
    fn reg(&self, r: &Reading) -> Option<f64> {
        let e = r.energy_kwh?;
        if self.replacements.is_empty() {
            return Some(e);
        }
        Some(
            self.replacements
                .iter()
                .take_while(|s| s.at_ms <= r.ts)
                .fold(e, |v, s| v + (s.old_final - s.new_initial)),
        )
    }

    /// Energy of a register judged reset between the last good reading `g` and the first dip
    /// `h0`: within one register the §4 rule on the raw values; across replacements, the old
    /// registers' tails (never below 0) and the new value.
    fn reset_between(&self, g: &Reading, h0: &Reading) -> f64 {
        let (g_e, h_e) = (g.energy_kwh.unwrap_or(0.0), h0.energy_kwh.unwrap_or(0.0));
        let mut tail = 0.0;
        let mut from = g_e;
        let mut any = false;
        for s in self
            .replacements
            .iter()
            .filter(|s| s.at_ms > g.ts && s.at_ms <= h0.ts)
        {
            tail += s.old_final - from;
            from = s.new_initial;
            any = true;
        }
        if any {
            tail.max(0.0) + h_e
        } else {
            self.reset_energy(g_e, h_e)
        }
    }

    /// Trapezoid energy of two power samples `span_ms` apart (halves first: no overflow).
    fn trapezoid(a: f64, b: f64, span_ms: i64) -> f64 {
        (a / 2.0 + b / 2.0) * hours(span_ms)
    }

    /// Energy of a register going from `old` down to `new` that was judged a reset.
    fn reset_energy(&self, old: f64, new: f64) -> f64 {
        match self.register_max {
            // A decrease from the top tenth of the register to its bottom tenth is a rollover.
            Some(max) if old >= 0.9 * max && old <= max && new <= 0.1 * max => (max - old) + new,
            _ => new,
        }
    }

    /// Runs the rules over `tail` from the anchor state. Pure.
    fn process(
        &self,
        anchor: Option<&Reading>,
        anchor_reg: Option<&Reading>,
        tail: &[Reading],
    ) -> Processed {
        let mut out = Processed {
            contribs: Vec::new(),
            glitches: Vec::new(),
            eligible: vec![None; tail.len()],
            implausible: Vec::new(),
            holding: false,
        };
        let mut prev: Option<Reading> = anchor.copied();
        // Last good register reading, and the held dips after it (tail indices).
        let mut good: Option<(Reading, Option<usize>)> = anchor_reg.map(|r| (*r, None));
        let mut held: Vec<usize> = Vec::new();
        // Readings still to process, as tail indices (a reset re-queues its later dips).
        let mut queue: VecDeque<usize> = (0..tail.len()).collect();
        while let Some(i) = queue.pop_front() {
            let r = tail[i];
            if !held.is_empty() {
                let Some(e) = self.reg(&r) else {
                    // A power-only reading while a dip is held: no interval of its own.
                    continue;
                };
                let Some((g, _)) = good else { continue };
                let g_e = self.reg(&g).unwrap_or(0.0);
                if e >= g_e {
                    // Recovered: the dips were glitches.
                    out.glitches.append(&mut held);
                    let span = r.ts - g.ts;
                    let covered = span <= self.max_gap_ms;
                    out.push_interval(self.interval(&g, &r, e - g_e, covered), i);
                    good = Some((r, Some(i)));
                    prev = Some(r);
                    out.eligible[i] = Some(r.ts);
                    continue;
                }
                held.push(i);
                if held.len() >= RESET_AFTER {
                    // A reset (or a rollover): the first dip starts the register anew.
                    let first = held[0];
                    let h0 = tail[first];
                    let energy = self.reset_between(&g, &h0);
                    let covered = h0.ts - g.ts <= self.max_gap_ms;
                    out.push_interval(self.interval(&g, &h0, energy, covered), first);
                    good = Some((h0, Some(first)));
                    prev = Some(h0);
                    out.eligible[first] = Some(r.ts);
                    for &j in held[1..].iter().rev() {
                        queue.push_front(j);
                    }
                    held.clear();
                }
                continue;
            }
            let Some(p) = prev else {
                prev = Some(r);
                out.eligible[i] = Some(r.ts);
                if r.energy_kwh.is_some() {
                    good = Some((r, Some(i)));
                }
                continue;
            };
            let span = r.ts - p.ts;
            match (self.reg(&p), self.reg(&r)) {
                (Some(pe), Some(e)) => {
                    if e >= pe {
                        let covered = span <= self.max_gap_ms;
                        out.push_interval(self.interval(&p, &r, e - pe, covered), i);
                        good = Some((r, Some(i)));
                        prev = Some(r);
                        out.eligible[i] = Some(r.ts);
                    } else {
                        // A decrease: held as a suspected reset.
                        good = Some((p, good.and_then(|g| g.1)));
                        held.push(i);
                    }
                }
                _ => {
                    match (p.power_kw, r.power_kw) {
                        (Some(a), Some(b)) if span <= self.max_gap_ms => {
                            let energy = Self::trapezoid(a, b, span);
                            out.push_interval(self.interval(&p, &r, energy, true), i);
                        }
                        _ => {
                            out.contribs.push(Contribution {
                                start: p.ts,
                                end: r.ts,
                                energy: 0.0,
                                covered: false,
                                estimated: estimated(&p, &r),
                            });
                        }
                    }
                    if r.energy_kwh.is_some() {
                        good = Some((r, Some(i)));
                    }
                    prev = Some(r);
                    out.eligible[i] = Some(r.ts);
                }
            }
        }
        out.holding = !held.is_empty();
        out
    }
}

impl MeterState {
    pub fn new(rules: MeterRules, buckets: Buckets) -> MeterState {
        MeterState {
            rules,
            buckets,
            newest: None,
            anchor: None,
            anchor_reg: None,
            tail: Vec::new(),
            eligible: Vec::new(),
            glitch: Vec::new(),
            applied: Vec::new(),
            holding: false,
            recent: VecDeque::new(),
        }
    }

    pub fn newest(&self) -> Option<&Reading> {
        self.newest.as_ref()
    }

    /// Judges and takes `r` (already decoded and checked for values and the future).
    pub fn ingest(&mut self, r: &Reading) -> Result<Effect, Reason> {
        // Duplicates and conflicts first, over the remembered horizon (only a reading not newer
        // than the newest can repeat one).
        let newer = self.newest.is_none_or(|n| r.ts > n.ts);
        if !newer {
            if let Ok(pos) = self.recent.binary_search_by(|x| x.ts.cmp(&r.ts)) {
                return Err(if same_values(&self.recent[pos], r) {
                    Reason::Duplicate
                } else {
                    Reason::Conflict
                });
            }
        }
        let newest_ts = self.newest.map(|n| n.ts);
        if let Some(n) = newest_ts {
            if n - r.ts > self.rules.lateness_ms {
                return Err(Reason::TooLate);
            }
        }
        if let (Some(p), Some(max)) = (r.power_kw, self.rules.max_power_kw) {
            if p > max {
                return Err(Reason::Implausible);
            }
        }
        let in_order = newest_ts.is_none_or(|n| r.ts > n);
        let effect = if in_order && !self.holding {
            self.append_fast(r)
        } else {
            None
        };
        let effect = match effect {
            Some(e) => e?,
            None => self.insert_recompute(*r)?,
        };
        // Remember it.
        if newer {
            self.recent.push_back(*r);
        } else {
            let pos = self.recent.partition_point(|x| x.ts < r.ts);
            self.recent.insert(pos, *r);
        }
        if in_order {
            self.newest = Some(*r);
        }
        self.finalize();
        Ok(effect)
    }

    /// In-order reading with nothing held: one new interval, unless it is a register dip.
    fn append_fast(&mut self, r: &Reading) -> Option<Result<Effect, Reason>> {
        let Some(p) = self.tail.last().or(self.anchor.as_ref()) else {
            self.buckets.advance_to(r.ts);
            self.tail.push(*r);
            self.eligible.push(Some(r.ts));
            self.glitch.push(false);
            return Some(Ok(Effect::default()));
        };
        let span = r.ts - p.ts;
        let c = match (self.rules.reg(p), self.rules.reg(r)) {
            (Some(pe), Some(e)) => {
                if e < pe {
                    return None; // a dip: the general path holds it
                }
                if self.rules.too_much(e - pe, span) {
                    return Some(Err(Reason::Implausible));
                }
                Contribution {
                    start: p.ts,
                    end: r.ts,
                    energy: e - pe,
                    covered: span <= self.rules.max_gap_ms,
                    estimated: estimated(p, r),
                }
            }
            _ => match (p.power_kw, r.power_kw) {
                (Some(a), Some(b)) if span <= self.rules.max_gap_ms => {
                    let energy = MeterRules::trapezoid(a, b, span);
                    match self.rules.interval(p, r, energy, true) {
                        (_, true) => return Some(Err(Reason::Implausible)),
                        (c, false) => c,
                    }
                }
                _ => Contribution {
                    start: p.ts,
                    end: r.ts,
                    energy: 0.0,
                    covered: false,
                    estimated: estimated(p, r),
                },
            },
        };
        self.buckets.advance_to(r.ts);
        self.buckets.apply(&c, 1.0);
        self.tail.push(*r);
        self.eligible.push(Some(r.ts));
        self.glitch.push(false);
        self.applied.push(c);
        Some(Ok(Effect {
            changed_from: Some(c.start),
            glitches: 0,
            unglitched: 0,
        }))
    }

    /// General path: put `r` in its place and recompute the tail's intervals.
    fn insert_recompute(&mut self, r: Reading) -> Result<Effect, Reason> {
        let pos = self.tail.partition_point(|x| x.ts < r.ts);
        let mut tail = self.tail.clone();
        tail.insert(pos, r);
        let p = self
            .rules
            .process(self.anchor.as_ref(), self.anchor_reg.as_ref(), &tail);
        if p.implausible.contains(&pos) {
            return Err(Reason::Implausible);
        }
        // Swap the old contributions for the new ones.
        self.buckets
            .advance_to(r.ts.max(self.newest.map_or(r.ts, |n| n.ts)));
        let mut changed_from: Option<i64> = None;
        for c in &self.applied {
            self.buckets.apply(c, -1.0);
            changed_from = Some(changed_from.map_or(c.start, |x: i64| x.min(c.start)));
        }
        for c in &p.contribs {
            self.buckets.apply(c, 1.0);
            changed_from = Some(changed_from.map_or(c.start, |x: i64| x.min(c.start)));
        }
        let before = self.glitch.iter().filter(|g| **g).count() as u64;
        let after = p.glitches.len() as u64;
        let mut glitch = vec![false; tail.len()];
        for &g in &p.glitches {
            glitch[g] = true;
        }
        self.tail = tail;
        self.eligible = p.eligible;
        self.glitch = glitch;
        self.applied = p.contribs;
        self.holding = p.holding;
        Ok(Effect {
            changed_from,
            glitches: after.saturating_sub(before),
            unglitched: before.saturating_sub(after),
        })
    }

    /// Readings older than the lateness horizon (and not held) become final.
    fn finalize(&mut self) {
        let Some(newest) = self.newest.map(|n| n.ts) else {
            return;
        };
        let horizon = newest - self.rules.lateness_ms;
        // Final readings leave the tail in batches, so the tail is not shifted on every reading.
        if self.tail.len() < FINALIZE_BATCH || self.tail[FINALIZE_BATCH - 1].ts >= horizon {
            self.forget_beyond(horizon);
            return;
        }
        // The anchor moves to the last good reading older than the horizon: nothing before it
        // can change any more (a held dip or a glitch keeps the good reading before it open).
        let mut last = None;
        let mut depends = i64::MIN;
        let mut n = 0;
        while n < self.tail.len() && self.tail[n].ts < horizon {
            if let Some(d) = self.eligible[n] {
                depends = depends.max(d);
                if depends >= horizon {
                    break;
                }
                last = Some(n);
            }
            n += 1;
        }
        if let Some(le) = last {
            // The anchor moves to the last good reading up to `le` (`le` itself), the register
            // anchor to the last of them with a register value (if none, it stays).
            if let Some((r, _)) = self.tail[..=le]
                .iter()
                .zip(&self.eligible)
                .rev()
                .find(|(r, e)| e.is_some() && r.energy_kwh.is_some())
            {
                self.anchor_reg = Some(*r);
            }
            self.anchor = Some(self.tail[le]);
            self.tail.drain(..=le);
            self.eligible.drain(..=le);
            self.glitch.drain(..=le);
            let a = self.anchor.map_or(i64::MIN, |a| a.ts);
            // Contributions are in time order: the final ones are a prefix.
            let k = self.applied.partition_point(|c| c.end <= a);
            self.applied.drain(..k);
        }
        self.forget_beyond(horizon);
    }

    /// Forgets readings beyond the dedup horizon, keeping a few.
    fn forget_beyond(&mut self, horizon: i64) {
        while self.recent.len() > DEDUP_MIN_KEEP
            && self.recent.front().is_some_and(|x| x.ts < horizon)
        {
            self.recent.pop_front();
        }
    }

    /// Heap bytes held (for the memory benchmark).
    pub fn heap_bytes(&self) -> usize {
        self.buckets.heap_bytes()
            + self.tail.capacity() * std::mem::size_of::<Reading>()
            + self.eligible.capacity() * std::mem::size_of::<Option<i64>>()
            + self.glitch.capacity()
            + self.applied.capacity() * std::mem::size_of::<Contribution>()
            + self.recent.capacity() * std::mem::size_of::<Reading>()
    }
}

#[cfg(test)]
mod tests;
