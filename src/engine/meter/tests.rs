use super::*;
use crate::engine::buckets::{HOUR_MS, MINUTE_MS};
use crate::engine::reading::Quality;

const T0: i64 = 1_764_000_000_000 - 1_764_000_000_000 % HOUR_MS; // a whole hour

fn rules() -> MeterRules {
    MeterRules {
        max_gap_ms: 5 * MINUTE_MS,
        lateness_ms: 10 * MINUTE_MS,
        max_power_kw: None,
        register_max: None,
        replacements: Vec::new(),
    }
}

fn meter(rules: MeterRules) -> MeterState {
    MeterState::new(rules, Buckets::new(4, 24 * 30))
}

/// A meter with `rules` that has taken each of `readings`, in order.
#[track_caller]
fn fed(rules: MeterRules, readings: &[Reading]) -> MeterState {
    let mut m = meter(rules);
    for (i, r) in readings.iter().enumerate() {
        if let Err(why) = m.ingest(r) {
            panic!("reading {i} ({r:?}) refused: {why:?}");
        }
    }
    m
}

fn e(min: i64, kwh: f64) -> Reading {
    Reading {
        ts: T0 + min * MINUTE_MS,
        power_kw: None,
        energy_kwh: Some(kwh),
        quality: Default::default(),
    }
}

fn p(min: i64, kw: f64) -> Reading {
    Reading {
        ts: T0 + min * MINUTE_MS,
        power_kw: Some(kw),
        energy_kwh: None,
        quality: Default::default(),
    }
}

/// Energy and covered minutes over minutes [from, to) after T0.
fn sum(m: &MeterState, from: i64, to: i64) -> (f64, f64) {
    let base = T0 / MINUTE_MS;
    (from..to).fold((0.0, 0.0), |(e, c), k| {
        let (be, bc) = m.buckets.minute(base + k);
        (e + be, c + bc as f64 / MINUTE_MS as f64)
    })
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * (1.0 + b.abs())
}

#[test]
fn register_difference_spread_over_interval() {
    let m = fed(rules(), &[e(0, 100.0), e(2, 104.0)]);
    let (en, cov) = sum(&m, 0, 2);
    assert!(close(en, 4.0));
    assert!(close(sum(&m, 1, 2).0, 2.0), "spread evenly");
    assert!(close(cov, 2.0));
}

#[test]
fn long_register_silence_keeps_its_energy_but_is_uncovered() {
    let m = fed(rules(), &[e(0, 100.0), e(30, 130.0)]);
    let (en, cov) = sum(&m, 0, 30);
    assert!(close(en, 30.0), "energy measured across the silence counts");
    assert_eq!(cov, 0.0, "a 30 min silence is longer than max_gap");
}

#[test]
fn power_trapezoid_and_gap() {
    let m = fed(
        rules(),
        &[
            p(0, 60.0),
            p(1, 120.0),  // 90 kW for 1 min = 1.5 kWh
            p(11, 120.0), // 10 min gap: no energy
        ],
    );
    let (en, cov) = sum(&m, 0, 11);
    assert!(close(en, 1.5));
    assert!(close(cov, 1.0));
}

#[test]
fn per_meter_max_gap_override() {
    let mut r = rules();
    r.max_gap_ms = 20 * MINUTE_MS;
    let m = fed(r, &[e(0, 0.0), e(15, 15.0)]);
    assert!(
        close(sum(&m, 0, 15).1, 15.0),
        "a 15 min register poll is covered with max_gap 20m"
    );
}

#[test]
fn duplicate_and_conflict() {
    let mut m = fed(rules(), &[e(0, 100.0), e(1, 101.0)]);
    assert_eq!(m.ingest(&e(1, 101.0)), Err(Reason::Duplicate));
    assert_eq!(m.ingest(&e(1, 999.0)), Err(Reason::Conflict));
    assert!(
        close(sum(&m, 0, 2).0, 1.0),
        "the first stands, counted once"
    );
}

#[test]
fn too_late_beyond_allowed_lateness() {
    let mut m = fed(rules(), &[e(0, 0.0), e(20, 20.0)]);
    assert_eq!(m.ingest(&e(9, 9.0)), Err(Reason::TooLate));
    // Exactly at the lateness bound is still taken.
    m.ingest(&e(10, 10.0)).unwrap();
}

#[test]
fn late_reading_splits_interval_and_recomputes() {
    let m = fed(
        rules(),
        &[
            p(0, 60.0),
            p(4, 60.0),  // 4 kWh flat
            p(2, 180.0), // late: splits [0,4] into [0,2] and [2,4]
        ],
    );
    // [0,2]: (60+180)/2 * 2/60 = 4 ; [2,4]: 4
    assert!(close(sum(&m, 0, 4).0, 8.0));
    assert!(close(sum(&m, 0, 2).0, 4.0));
    assert!(close(sum(&m, 0, 4).1, 4.0));
}

#[test]
fn late_register_reading_fills_a_gap() {
    let mut m = fed(
        rules(),
        &[
            e(0, 0.0),
            e(8, 8.0), // 8 min > max_gap: uncovered
        ],
    );
    assert_eq!(sum(&m, 0, 8).1, 0.0);
    m.ingest(&e(4, 4.0)).unwrap(); // late: two 4-min intervals, both covered
    assert!(close(sum(&m, 0, 8).1, 8.0));
    assert!(close(sum(&m, 0, 8).0, 8.0));
}

#[test]
fn register_reset_after_three_readings_below() {
    let mut m = fed(
        rules(),
        &[
            e(0, 1000.0),
            e(1, 1001.0),
            e(2, 2.0), // dip held
            e(3, 3.0),
        ],
    );
    assert!(close(sum(&m, 0, 4).0, 1.0), "held dips add nothing yet");
    m.ingest(&e(4, 4.0)).unwrap(); // third below: a reset
                                   // [1,2]: new value 2 (reset), [2,3]: 1, [3,4]: 1
    assert!(close(sum(&m, 0, 4).0, 1.0 + 2.0 + 1.0 + 1.0));
    m.ingest(&e(5, 5.0)).unwrap();
    assert!(close(sum(&m, 0, 5).0, 6.0));
}

#[test]
fn one_glitch_to_zero_is_dropped() {
    let mut m = meter(rules());
    m.ingest(&e(0, 500.0)).unwrap();
    let fx = m.ingest(&e(1, 0.0)).unwrap();
    assert_eq!(fx.glitches, 0);
    let fx = m.ingest(&e(2, 502.0)).unwrap();
    assert_eq!(fx.glitches, 1);
    let (en, cov) = sum(&m, 0, 2);
    assert!(
        close(en, 2.0),
        "energy runs on from the value before the glitch"
    );
    assert!(close(cov, 2.0));
}

#[test]
fn two_glitch_readings_in_a_row() {
    let mut m = fed(rules(), &[e(0, 500.0), e(1, 0.0), e(2, 0.0)]);
    let fx = m.ingest(&e(3, 503.0)).unwrap();
    assert_eq!(fx.glitches, 2);
    assert!(close(sum(&m, 0, 3).0, 3.0));
    m.ingest(&e(4, 504.0)).unwrap();
    assert!(close(sum(&m, 0, 4).0, 4.0));
}

#[test]
fn rollover_near_register_max() {
    let mut r = rules();
    r.register_max = Some(99_999.9);
    let m = fed(r, &[e(0, 99_998.9), e(1, 0.1), e(2, 1.1), e(3, 2.1)]);
    // [0,1]: 99999.9 - 99998.9 + 0.1 = 1.1 ; then 1 + 1
    assert!((sum(&m, 0, 3).0 - 3.1).abs() < 1e-6, "{}", sum(&m, 0, 3).0);
}

#[test]
fn implausible_interval_is_rejected_and_loses_nothing_else() {
    let mut r = rules();
    r.max_power_kw = Some(600.0); // 10 kWh per minute
    let mut m = meter(r);
    m.ingest(&e(0, 0.0)).unwrap();
    assert_eq!(m.ingest(&e(1, 50.0)), Err(Reason::Implausible));
    m.ingest(&e(2, 12.0)).unwrap();
    assert!(close(sum(&m, 0, 2).0, 12.0));
    assert_eq!(m.ingest(&p(3, 700.0)), Err(Reason::Implausible));
}

#[test]
fn readings_outside_lateness_become_final_and_memory_stays_small() {
    let mut m = meter(rules());
    for k in 0..2000 {
        m.ingest(&e(k, k as f64)).unwrap();
    }
    assert!(m.tail.len() <= 11 + FINALIZE_BATCH, "tail {}", m.tail.len());
    assert!(m.recent.len() <= 32, "recent {}", m.recent.len());
    assert!(close(sum(&m, 0, 1999).0, 1999.0));
}

/// A register whose first reading is absurd (nothing before it to judge it by) then runs on
/// honestly from 50 000 kWh: three readings below it are a reset, whose energy (the new value,
/// 50 000 kWh in a minute) implies far more than the bound. That interval adds no energy and
/// no covered time; the honest intervals after it count.
#[test]
fn a_reset_implying_more_than_the_bound_adds_nothing() {
    let mut r = rules();
    r.max_power_kw = Some(1_000_000.0);
    let mut m = meter(r);
    m.ingest(&e(0, 1e300)).unwrap();
    for k in 1..=4 {
        m.ingest(&e(k, 50_000.0 + 10.0 * (k - 1) as f64)).unwrap();
    }
    let (en, cov) = sum(&m, 0, 4);
    assert!(
        close(en, 30.0),
        "energy {en}: only 1..4 min at 10 kWh a minute"
    );
    assert!(close(cov, 3.0), "covered minutes {cov}");
    assert!(m.buckets.hour(T0 / HOUR_MS).0.is_finite());
}

fn est(min: i64, kwh: f64) -> Reading {
    Reading {
        quality: Quality::Estimated,
        ..e(min, kwh)
    }
}

/// Non-metered energy over minutes [from, to) after T0.
fn est_sum(m: &MeterState, from: i64, to: i64) -> f64 {
    let base = T0 / MINUTE_MS;
    (from..to)
        .map(|k| m.buckets.minute_estimated(base + k))
        .sum()
}

#[test]
fn an_interval_with_a_non_metered_end_is_estimated() {
    let mut m = fed(
        rules(),
        &[e(0, 100.0), est(1, 101.0), e(2, 103.0), e(3, 106.0)],
    );
    assert!(close(sum(&m, 0, 3).0, 6.0));
    // [0,1] and [1,2] touch the estimated reading: 1 + 2 kWh; [2,3] is metered.
    assert!(close(est_sum(&m, 0, 3), 3.0), "{}", est_sum(&m, 0, 3));
    // A late metered reading replacing nothing: the estimated part follows the new intervals.
    m.ingest(&Reading {
        quality: Quality::Manual,
        ..p(4, 60.0)
    })
    .unwrap();
    assert!(
        close(est_sum(&m, 0, 4), 3.0),
        "a power-only interval after a register adds nothing"
    );
    // Estimated and metered readings of the same value and ts are not duplicates.
    assert_eq!(m.ingest(&e(1, 101.0)), Err(Reason::Conflict));
}

#[test]
fn a_late_metered_reading_splits_an_estimated_interval() {
    let mut m = fed(rules(), &[e(0, 0.0), est(4, 4.0)]);
    assert!(close(est_sum(&m, 0, 4), 4.0));
    m.ingest(&e(2, 2.0)).unwrap();
    assert!(close(sum(&m, 0, 4).0, 4.0));
    assert!(
        close(est_sum(&m, 0, 4), 2.0),
        "only [2,4] ends at the estimate"
    );
}

fn swap(min: i64, old_final: f64, new_initial: f64) -> Swap {
    Swap {
        at_ms: T0 + min * MINUTE_MS,
        old_final,
        new_initial,
    }
}

/// CONTRACT §13: energy across the swap = (old_final − last old reading) + (first new reading −
/// new_initial); the register drop is neither a reset nor a glitch.
#[test]
fn a_declared_replacement_gives_the_swap_energy() {
    let mut r = rules();
    r.replacements = vec![swap(5, 1005.5, 10.0)];
    let mut m = meter(r);
    let mut glitches = 0;
    for k in 0..=4 {
        glitches += m.ingest(&e(k, 1000.0 + k as f64)).unwrap().glitches;
    }
    for (k, v) in [(6, 12.0), (7, 13.0), (8, 14.0)] {
        glitches += m.ingest(&e(k, v)).unwrap().glitches;
    }
    assert_eq!(glitches, 0);
    assert!(!m.holding, "no suspected reset");
    // [4,6]: (1005.5 − 1004) + (12 − 10) = 3.5
    assert!(close(sum(&m, 4, 6).0, 3.5), "{}", sum(&m, 4, 6).0);
    assert!(close(sum(&m, 0, 8).0, 4.0 + 3.5 + 2.0));
    assert!(close(sum(&m, 0, 8).1, 8.0), "every interval covered");
}

#[test]
fn a_reading_at_the_replacement_is_the_new_registers() {
    let mut r = rules();
    r.replacements = vec![swap(5, 1005.0, 0.0)];
    let m = fed(r, &[e(4, 1004.0), e(5, 0.5), e(6, 1.5)]);
    // [4,5]: (1005 − 1004) + (0.5 − 0) ; [5,6]: 1
    assert!(close(sum(&m, 4, 6).0, 2.5), "{}", sum(&m, 4, 6).0);
}

#[test]
fn without_the_declaration_the_same_drop_is_a_reset() {
    let mut m = meter(rules());
    for k in 0..=4 {
        m.ingest(&e(k, 1000.0 + k as f64)).unwrap();
    }
    m.ingest(&e(6, 12.0)).unwrap();
    assert!(m.holding, "held as a suspected reset");
    m.ingest(&e(7, 13.0)).unwrap();
    m.ingest(&e(8, 14.0)).unwrap();
    // a reset: the new value (12) counts, not the §13 swap energy
    assert!(close(sum(&m, 4, 6).0, 12.0), "{}", sum(&m, 4, 6).0);
}

#[test]
fn replacement_with_late_readings_and_power_only_readings() {
    let mut r = rules();
    r.replacements = vec![swap(5, 1010.0, 0.0)];
    let mut m = fed(
        r,
        &[
            e(0, 1000.0),
            e(8, 3.0), // across the swap, 8 min > max_gap: energy, uncovered
        ],
    );
    assert!(close(sum(&m, 0, 8).0, 13.0));
    assert_eq!(sum(&m, 0, 8).1, 0.0);
    // late readings on either side of `at` split it; the swap energy is unchanged
    m.ingest(&e(4, 1008.0)).unwrap();
    m.ingest(&e(6, 1.0)).unwrap();
    assert!(close(sum(&m, 0, 8).0, 13.0), "{}", sum(&m, 0, 8).0);
    assert!(close(sum(&m, 4, 6).0, 3.0), "(1010 − 1008) + (1 − 0)");
    assert!(
        close(sum(&m, 0, 8).1, 8.0),
        "now every interval is within max_gap"
    );
    // power-only readings keep their own gap rule around a swap
    let mut r = rules();
    r.replacements = vec![swap(5, 1.0, 0.0)];
    let m = fed(
        r,
        &[
            p(0, 60.0),
            p(3, 60.0),
            p(10, 60.0), // a 7 min gap > max_gap: no energy
        ],
    );
    assert!(close(sum(&m, 0, 10).0, 3.0));
    assert!(close(sum(&m, 0, 10).1, 3.0));
}

#[test]
fn a_reading_contradicting_the_declaration_follows_the_register_rules() {
    // The new register reads below its declared first value three times: a reset after all.
    let mut r = rules();
    r.replacements = vec![swap(5, 1005.0, 100.0)];
    let mut m = fed(r, &[e(4, 1004.0), e(6, 2.0)]);
    assert!(m.holding);
    m.ingest(&e(7, 3.0)).unwrap();
    m.ingest(&e(8, 4.0)).unwrap();
    // the old register's tail (1) and the new value (2)
    assert!(close(sum(&m, 4, 6).0, 3.0), "{}", sum(&m, 4, 6).0);
    assert!(sum(&m, 0, 9).0.is_finite());
}
