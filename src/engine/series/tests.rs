//! The series computed outside the lock against the engine's own `series` (each window summed
//! on its own, the arithmetic of `window_between`), over random honest data.

use proptest::prelude::*;

use super::*;
use crate::config::fixture::facility;
use crate::config::Config;
use crate::engine::{Reading, Verdict};

const M: i64 = 60_000;
const H: i64 = 3_600_000;
const D: i64 = 86_400_000;
/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;
const WALL: i64 = T0 + 800 * D;

fn engine(min_coverage: f64) -> Engine {
    let f = facility("f")
        .meter("grid", "total")
        .meter("it-a", "it")
        .meter("it-b", "it")
        .raw("  [[facility.meter]]\n  id = \"pv\"\n  role = [\"total\", \"renewable\"]");
    let text = format!(
        r#"
[engine]
windows = ["15m", "1h", "24h", "30d", "365d"]
compliance_window = "365d"
max_gap = "30m"
min_coverage = {min_coverage}

{f}"#
    );
    Engine::new(&Config::parse(&text, "test.toml").expect("config"))
}

/// Feeds each meter power readings from `start` for `span`: steps of 1–45 minutes (longer
/// than max_gap now and then: uncovered time), a seeded random level per meter.
fn feed(e: &mut Engine, seed: u64, start: i64, span: i64) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for (meter, base) in [
        ("grid", 1300.0),
        ("it-a", 500.0),
        ("it-b", 480.0),
        ("pv", 90.0),
    ] {
        let m = e.lookup("f", meter).expect("meter");
        let mut t = start + rng.gen_range(0..10 * M);
        while t < start + span {
            let kw = base * rng.gen_range(0.7..1.3);
            let r = Reading {
                ts: t,
                power_kw: Some(kw),
                energy_kwh: None,
                quality: Default::default(),
            };
            assert_eq!(e.ingest(m, r, WALL), Verdict::Accepted);
            let gap = if rng.gen_bool(0.05) {
                rng.gen_range(31 * M..6 * H)
            } else {
                rng.gen_range(M..20 * M)
            };
            t += gap + rng.gen_range(0..1000);
        }
    }
    e.advance(&mut |_| {});
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn same(old: &WindowValues, new: &WindowValues) -> Result<(), String> {
    let opt = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => close(a, b),
        _ => false,
    };
    let ok = opt(old.pue, new.pue)
        && old.coverage == new.coverage
        && opt(old.renewable_share, new.renewable_share)
        && close(old.energy_kwh.total, new.energy_kwh.total)
        && close(old.energy_kwh.it, new.energy_kwh.it)
        && close(old.energy_kwh.renewable, new.energy_kwh.renewable)
        && match (old.covered_energy_kwh, new.covered_energy_kwh) {
            (Some(a), Some(b)) => close(a.total, b.total) && close(a.it, b.it),
            (a, b) => a.is_none() && b.is_none(),
        }
        && (old.start_ms, old.end_ms) == (new.start_ms, new.end_ms);
    if ok {
        Ok(())
    } else {
        Err(format!("old {old:?}\nnew {new:?}"))
    }
}

fn check(e: &Engine, window: i64, from: i64, to: i64, step: i64) -> Result<usize, String> {
    let old = e.series(0, crate::duration::Span(window), from, to, step);
    let new = series(&e.series_input(0), window, from, to, step);
    if old.len() != new.len() {
        return Err(format!("{} points, now {}", old.len(), new.len()));
    }
    for ((ta, a), (tb, b)) in old.iter().zip(&new) {
        if ta != tb {
            return Err(format!("point at {ta}, now {tb}"));
        }
        same(a, b).map_err(|m| format!("window {window} ms at {ta}: {m}"))?;
    }
    Ok(old.len())
}

#[test]
fn a_long_history_gives_the_values_of_each_window_summed_on_its_own() {
    // 60 days: the hours ring and the minute ring both hold data.
    let mut e = engine(0.9);
    feed(&mut e, 7, T0 + 17 * M + 3_000, 60 * D);
    let end = T0 + 60 * D;
    for (window, step) in [
        (15 * M, 7 * M),
        (H, 30 * M),
        (24 * H, 90_000),
        (25 * H, 5 * H),
        (30 * D, 2 * D),
        (397 * D, 5 * D),
    ] {
        let n = check(&e, window, end - 40 * step, end + 3 * step, step).unwrap();
        assert!(n > 40, "{n} points");
    }
    // No data at all: every window empty, none of them a PUE.
    let empty = engine(0.9);
    assert_eq!(check(&empty, H, T0, T0 + 10 * H, H), Ok(11));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn series_outside_the_lock_equals_the_engine_series(
        seed in any::<u64>(),
        days in 2i64..40,
        window_min in prop_oneof![1i64..=1440, 1441i64..=60 * 24 * 40, Just(397 * 1440)],
        odd_ms in prop_oneof![Just(0i64), 1i64..M],
        points in 1i64..40,
        step_min in 1i64..=3000,
        from_back in 0i64..60 * 24 * 45,
        min_cov in prop_oneof![Just(0.9), Just(0.0), Just(1.0)],
    ) {
        let mut e = engine(min_cov);
        let start = T0 + (seed % 1440) as i64 * M;
        feed(&mut e, seed, start, days * D);
        let window = window_min * M + odd_ms;
        let step = step_min * M + odd_ms;
        let to = start + days * D + H - from_back * M + step * points;
        let from = to - step * points;
        check(&e, window, from, to, step).map_err(TestCaseError::fail)?;
    }
}
