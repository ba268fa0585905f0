use super::*;
use crate::config::fixture::{engine_config, facility, five_windows_config, FacilityToml};

const H: i64 = 3_600_000;
const M: i64 = 60_000;
/// 2026-01-01T00:00:00Z, a whole hour.
const T0: i64 = 1_767_225_600_000;
const WALL: i64 = T0 + 400 * 24 * H;

/// Facility `f` with `grid` (total) and the two IT meters `it-a` and `it-b`.
fn basic() -> FacilityToml {
    facility("f")
        .meter("grid", "total")
        .meter("it-a", "it")
        .meter("it-b", "it")
}

/// Windows 15m and 1h, the compliance window 1h.
const HOUR_WINDOWS: &str = "windows = [\"15m\", \"1h\"]\ncompliance_window = \"1h\"";

/// On-site PV: a meter both total and renewable.
const PV: &str = "  [[facility.meter]]\n  id = \"pv\"\n  role = [\"total\", \"renewable\"]\n";

/// A metered power sample (also used by the KPI tests).
pub(super) fn power(ts: i64, kw: f64) -> Reading {
    Reading {
        ts,
        power_kw: Some(kw),
        energy_kwh: None,
        quality: Default::default(),
    }
}

/// A metered energy register reading (also used by the KPI tests).
pub(super) fn energy(ts: i64, kwh: f64) -> Reading {
    Reading {
        ts,
        power_kw: None,
        energy_kwh: Some(kwh),
        quality: Default::default(),
    }
}

fn feed(e: &mut Engine, meter: &str, from: i64, to: i64, every: i64, kw: f64) {
    let m = e.lookup("f", meter).unwrap();
    let mut t = from;
    while t <= to {
        assert_eq!(
            e.ingest(m, power(t, kw), WALL),
            Verdict::Accepted,
            "{meter} at {t}"
        );
        t += every;
    }
}

/// grid at 1300 kW and it-a at 500 kW over [from, to], a reading a minute.
fn feed_grid_and_it_a(e: &mut Engine, from: i64, to: i64) {
    feed(e, "grid", from, to, M, 1300.0);
    feed(e, "it-a", from, to, M, 500.0);
}

/// An hour of [`basic`], evaluated: grid at 1300 kW, it-a and it-b at 500 kW each, a reading a
/// minute, but none from it-b strictly between `T0 + from` and `T0 + to`.
fn hour_with_it_b_silent(from: i64, to: i64) -> Engine {
    let mut e = Engine::new(&five_windows_config("", &basic()));
    feed_grid_and_it_a(&mut e, T0, T0 + H);
    feed(&mut e, "it-b", T0, T0 + from, M, 500.0);
    feed(&mut e, "it-b", T0 + to, T0 + H, M, 500.0);
    run(&mut e);
    e
}

fn run(e: &mut Engine) -> Vec<(i64, Windows)> {
    let mut steps = Vec::new();
    e.advance(&mut |s| steps.push((s.step_ms, s.windows.clone())));
    steps
}

fn w<'a>(s: &'a Snapshot, name: &str) -> &'a WindowValues {
    s.facilities[0].windows.get(name).unwrap()
}

#[test]
fn pue_over_common_covered_time() {
    let mut e = Engine::new(&five_windows_config("", &basic()));
    feed_grid_and_it_a(&mut e, T0, T0 + 2 * H);
    feed(&mut e, "it-b", T0, T0 + 2 * H, M, 500.0);
    let steps = run(&mut e);
    assert_eq!(steps.len(), 121, "one step per minute the watermark passed");
    let s = e.snapshot(T0 + 2 * H);
    let h1 = w(&s, "1h");
    assert!((h1.pue.unwrap() - 1.3).abs() < 1e-12);
    assert!((h1.coverage - 1.0).abs() < 1e-12);
    assert!((h1.energy_kwh.total - 1300.0).abs() < 1e-9);
    assert!((h1.energy_kwh.it - 1000.0).abs() < 1e-9);
    assert_eq!(h1.renewable_share, None, "no renewable meter");
    assert_eq!(s.facilities[0].watermark_ms, Some(T0 + 2 * H));
    // The compliance window has 2 hours of 8760: insufficient, never a verdict.
    assert_eq!(s.facilities[0].status, Status::InsufficientData);
    assert_eq!(s.facilities[0].grade, None);
    assert!(!s.facilities[0].stale);
    assert!(
        e.snapshot(T0 + 3 * H).facilities[0].stale,
        "an hour behind the wall clock"
    );
}

#[test]
fn a_gap_in_one_it_meter_does_not_move_pue() {
    // it-b silent for 20 minutes in the middle.
    let mut e = hour_with_it_b_silent(20 * M, 40 * M);
    let s = e.snapshot(T0 + H);
    let v = w(&s, "1h");
    assert!(
        (v.pue.unwrap() - 1.3).abs() < 1e-12,
        "PUE over common covered time: {:?}",
        v.pue
    );
    assert!((v.coverage - 40.0 / 60.0).abs() < 1e-12, "{}", v.coverage);
    // All energy measured in the window still counts in energy_kwh.
    assert!((v.energy_kwh.total - 1300.0).abs() < 1e-9);
    assert!((v.energy_kwh.it - (1000.0 - 500.0 / 3.0)).abs() < 1e-9);
}

#[test]
fn pue_is_null_without_it_energy() {
    let mut e = Engine::new(&five_windows_config("", &basic()));
    feed(&mut e, "grid", T0, T0 + H, M, 1300.0);
    feed(&mut e, "it-a", T0, T0 + H, M, 0.0);
    feed(&mut e, "it-b", T0, T0 + H, M, 0.0);
    run(&mut e);
    let s = e.snapshot(T0 + H);
    assert_eq!(
        w(&s, "1h").pue,
        None,
        "missing data is never zero and never infinite"
    );
}

#[test]
fn lagging_meter_holds_the_watermark_until_max_lag() {
    let mut e = Engine::new(&five_windows_config("", &basic()));
    feed_grid_and_it_a(&mut e, T0, T0 + 30 * M);
    feed(&mut e, "it-b", T0, T0 + 10 * M, M, 500.0);
    run(&mut e);
    assert_eq!(e.watermark(0), Some(T0 + 10 * M), "it-b holds it");
    feed_grid_and_it_a(&mut e, T0 + 31 * M, T0 + 2 * H);
    let steps = run(&mut e);
    assert_eq!(
        e.watermark(0),
        Some(T0 + 2 * H),
        "it-b more than 1h behind: dropped"
    );
    assert_eq!(
        steps.first().unwrap().0,
        T0 + 11 * M,
        "every minute evaluated, none skipped"
    );
    assert_eq!(steps.last().unwrap().0, T0 + 2 * H);
    let s = e.snapshot(T0 + 2 * H);
    let v = w(&s, "1h");
    assert_eq!(v.coverage, 0.0, "its missing time is uncovered");
    assert_eq!(v.pue, None);
    let it_b = s.facilities[0]
        .meters
        .iter()
        .find(|m| m.id == "it-b")
        .unwrap();
    assert!(!it_b.holds_watermark);
}

#[test]
fn sub_meter_with_weight_minus_one_and_a_meter_with_two_roles() {
    let f = facility("f")
        .meter("grid", "total")
        .meter_with("office", "total", "weight = -1.0")
        .raw(PV)
        .meter("it", "it");
    let mut e = Engine::new(&five_windows_config("", &f));
    feed(&mut e, "grid", T0, T0 + H, M, 1200.0);
    feed(&mut e, "office", T0, T0 + H, M, 100.0);
    feed(&mut e, "pv", T0, T0 + H, M, 200.0);
    feed(&mut e, "it", T0, T0 + H, M, 1000.0);
    run(&mut e);
    let s = e.snapshot(T0 + H);
    let v = w(&s, "1h");
    assert!(
        (v.energy_kwh.total - 1300.0).abs() < 1e-9,
        "1200 - 100 + 200"
    );
    assert!((v.pue.unwrap() - 1.3).abs() < 1e-12);
    assert!((v.energy_kwh.renewable - 200.0).abs() < 1e-9);
    assert!((v.renewable_share.unwrap() - 200.0 / 1300.0).abs() < 1e-12);
}

#[test]
fn renewable_share_null_when_renewable_meters_cover_too_little() {
    let f = facility("f")
        .meter("grid", "total")
        .meter("green", "renewable")
        .meter("it", "it");
    let mut e = Engine::new(&five_windows_config("", &f));
    feed(&mut e, "grid", T0, T0 + H, M, 1300.0);
    feed(&mut e, "it", T0, T0 + H, M, 1000.0);
    feed(&mut e, "green", T0, T0 + 30 * M, M, 300.0);
    run(&mut e);
    let s = e.snapshot(T0 + H);
    assert_eq!(w(&s, "1h").renewable_share, None);
    assert!(
        (w(&s, "15m").pue.unwrap() - 1.3).abs() < 1e-12,
        "renewable meters never hold the watermark"
    );
}

#[test]
fn status_and_grade_on_the_compliance_window() {
    // A 24h compliance window keeps the test short.
    let c = engine_config(
        "windows = [\"1h\", \"24h\"]\ncompliance_window = \"24h\"",
        &basic(),
    );
    for (kw, status, grade) in [
        (1180.0, Status::Compliant, Some(1)),
        (1290.0, Status::Compliant, Some(2)),
        (1350.0, Status::Breach, Some(3)),
        (1600.0, Status::Breach, None),
    ] {
        let mut e = Engine::new(&c);
        feed(&mut e, "grid", T0, T0 + 24 * H, 5 * M, kw);
        feed(&mut e, "it-a", T0, T0 + 24 * H, 5 * M, 500.0);
        feed(&mut e, "it-b", T0, T0 + 24 * H, 5 * M, 500.0);
        run(&mut e);
        let s = e.snapshot(T0 + 24 * H);
        assert_eq!(s.facilities[0].status, status, "{kw}");
        assert_eq!(s.facilities[0].grade, grade, "{kw}");
    }
}

#[test]
fn counters_count_every_verdict() {
    let mut e = Engine::new(&five_windows_config("", &basic()));
    let m = e.lookup("f", "grid").unwrap();
    assert_eq!(e.ingest(m, power(T0, 1.0), WALL), Verdict::Accepted);
    assert_eq!(
        e.ingest(m, power(T0, 1.0), WALL),
        Verdict::Rejected(Reason::Duplicate)
    );
    assert_eq!(
        e.ingest(m, power(WALL + 6 * M, 1.0), WALL),
        Verdict::Rejected(Reason::FutureTimestamp)
    );
    assert_eq!(
        e.ingest(m, power(T0 + M, -1.0), WALL),
        Verdict::Rejected(Reason::InvalidValue)
    );
    assert_eq!(
        e.ingest(m, power(T0 + M, f64::NAN), WALL),
        Verdict::Rejected(Reason::InvalidValue)
    );
    assert_eq!(
        e.ingest(m, power(900_000_000_000, 1.0), WALL),
        Verdict::Rejected(Reason::Malformed)
    );
    e.count_rejected(None, Reason::UnknownMeter, 2);
    let c = e.counters();
    assert_eq!(c.accepted, vec![("f".to_string(), 1)]);
    let get = |f: &str, r: Reason| c.rejected.iter().find(|x| x.0 == f && x.1 == r).unwrap().2;
    assert_eq!(get("f", Reason::Duplicate), 1);
    assert_eq!(get("f", Reason::FutureTimestamp), 1);
    assert_eq!(get("f", Reason::InvalidValue), 2);
    assert_eq!(get("", Reason::UnknownMeter), 2);
}

#[test]
fn late_data_inside_a_window_is_reflected() {
    // it-b misses minute 55's reading; its interval 54→56 is still covered.
    let mut e = hour_with_it_b_silent(54 * M, 56 * M);
    let before = w(&e.snapshot(T0 + H), "15m").energy_kwh.it;
    // The late reading at 55 min with a spike changes the energy of [54, 56].
    let m = e.lookup("f", "it-b").unwrap();
    assert_eq!(
        e.ingest(m, power(T0 + 55 * M, 1100.0), WALL),
        Verdict::Accepted
    );
    run(&mut e);
    let after = w(&e.snapshot(T0 + H), "15m").energy_kwh.it;
    assert!((after - before - 10.0).abs() < 1e-9, "{before} → {after}");
}

#[test]
fn year_of_hourly_energy_compliance_window_and_history() {
    let f = facility("f")
        .meter_with("grid", "total", "max_gap = \"20m\"")
        .meter_with("it", "it", "max_gap = \"20m\"");
    let mut e = Engine::new(&five_windows_config("", &f));
    let g = e.lookup("f", "grid").unwrap();
    let it = e.lookup("f", "it").unwrap();
    let mut steps = 0u64;
    let days = 366;
    for k in 0..=(days * 24 * 4) {
        let ts = T0 + k * 15 * M;
        let hours = k as f64 / 4.0;
        assert_eq!(
            e.ingest(
                g,
                Reading {
                    ts,
                    power_kw: None,
                    energy_kwh: Some(1250.0 * hours),
                    quality: Default::default(),
                },
                WALL
            ),
            Verdict::Accepted
        );
        assert_eq!(
            e.ingest(
                it,
                Reading {
                    ts,
                    power_kw: None,
                    energy_kwh: Some(1000.0 * hours),
                    quality: Default::default(),
                },
                WALL
            ),
            Verdict::Accepted
        );
        if k % 96 == 0 {
            e.advance(&mut |_| steps += 1);
        }
    }
    e.advance(&mut |_| steps += 1);
    assert_eq!(steps as i64, days * 24 * 60 + 1);
    let s = e.snapshot(T0 + days * 24 * H);
    let y = w(&s, "365d");
    assert!((y.pue.unwrap() - 1.25).abs() < 1e-9);
    assert!((y.coverage - 1.0).abs() < 1e-12);
    assert!((y.energy_kwh.it - 365.0 * 24.0 * 1000.0).abs() < 1e-3);
    assert_eq!(s.facilities[0].status, Status::Compliant);
    assert_eq!(s.facilities[0].grade, Some(2));
    let hist = e.meter_history(it);
    assert!(hist.len() >= 365 * 24, "{}", hist.len());
    assert!(hist
        .iter()
        .rev()
        .skip(2)
        .take(9000)
        .all(|h| (h.energy_kwh - 1000.0).abs() < 1e-3 && h.covered_s == 3600));
    // window_between over a whole month from hours.
    let jan = e.window_between(0, T0 + 24 * H * 30, T0 + 24 * H * 60);
    assert!((jan.pue.unwrap() - 1.25).abs() < 1e-6);
}

#[test]
fn a_meter_that_never_reports_is_dropped_from_the_watermark_after_max_lag() {
    let mut e = Engine::new(&five_windows_config("", &basic().raw(PV)));
    feed_grid_and_it_a(&mut e, T0, T0 + 30 * M);
    feed(&mut e, "it-b", T0, T0 + 30 * M, M, 500.0);
    assert_eq!(
        e.watermark(0),
        None,
        "pv (a total meter) has not reported yet"
    );
    feed_grid_and_it_a(&mut e, T0 + 31 * M, T0 + 2 * H);
    feed(&mut e, "it-b", T0 + 31 * M, T0 + 2 * H, M, 500.0);
    assert_eq!(
        e.watermark(0),
        Some(T0 + 2 * H),
        "silent for more than max_lag: left out"
    );
    run(&mut e);
    let s = e.snapshot(T0 + 2 * H);
    assert_eq!(w(&s, "1h").coverage, 0.0, "its missing time is uncovered");
    assert!(
        (w(&s, "1h").energy_kwh.it - 1000.0).abs() < 1e-9,
        "energy measured still counts"
    );
}

#[test]
fn step_values_equal_a_fresh_computation_whatever_the_arrival_pattern() {
    let f = facility("f").meter("grid", "total").meter("it-a", "it");
    let mut e = Engine::new(&engine_config(HOUR_WINDOWS, &f));
    let mut last: Option<(i64, Windows)> = None;
    let check = |e: &mut Engine, last: &mut Option<(i64, Windows)>| {
        e.advance(&mut |s| *last = Some((s.step_ms, s.windows.clone())));
        if let Some((step, ws)) = last.as_ref() {
            for (name, v) in &ws.0 {
                let len = if name == "1h" { H } else { 15 * M };
                let fresh = e.window_between(0, step - len, *step);
                assert!(
                    (v.coverage - fresh.coverage).abs() < 1e-9,
                    "{name} at {step}: step {} fresh {}",
                    v.coverage,
                    fresh.coverage
                );
                assert_eq!(
                    v.pue.map(|p| (p * 1e9).round()),
                    fresh.pue.map(|p| (p * 1e9).round()),
                    "{name} at {step}"
                );
            }
        }
    };
    // The `k`th ten minutes of a meter's readings, one a minute.
    let ten_minutes = |e: &mut Engine, meter: &str, k: i64, kw: f64| {
        feed(e, meter, T0 + k * 10 * M, T0 + k * 10 * M + 9 * M, M, kw)
    };
    // Grid runs up to 50 minutes ahead (within max_lag), IT follows in chunks, with
    // evaluations in between: every step sees what a fresh computation sees.
    for k in 0..12 {
        ten_minutes(&mut e, "grid", k, if k < 6 { 1200.0 } else { 1400.0 });
        if k >= 5 {
            ten_minutes(&mut e, "it-a", k - 5, 1000.0);
        }
        check(&mut e, &mut last);
    }
    feed(&mut e, "grid", T0 + 2 * H, T0 + 2 * H, M, 1400.0);
    for j in 7..12 {
        ten_minutes(&mut e, "it-a", j, 1000.0);
        check(&mut e, &mut last);
    }
    feed(&mut e, "it-a", T0 + 2 * H, T0 + 2 * H, M, 1000.0);
    check(&mut e, &mut last);
    let (step, ws) = last.unwrap();
    assert_eq!(step, T0 + 2 * H);
    assert!((ws.get("1h").unwrap().pue.unwrap() - 1.4).abs() < 1e-9);
    assert!((ws.get("1h").unwrap().coverage - 1.0).abs() < 1e-9);
}

/// A meter left out of the watermark for lagging holds it again once it reports: the watermark
/// falls back, and the windows shown end at it, as they do when the same readings arrive in
/// time order (the last step, which only moves forward, depends on the arrival order).
#[test]
fn windows_end_at_the_watermark_when_a_lagging_meter_returns() {
    let mut late = Engine::new(&five_windows_config("", &basic()));
    feed_grid_and_it_a(&mut late, T0, T0 + 75 * M);
    feed(&mut late, "it-b", T0, T0 + 10 * M, M, 500.0);
    run(&mut late);
    assert_eq!(late.watermark(0), Some(T0 + 75 * M), "it-b left out");
    feed(&mut late, "it-b", T0 + 70 * M, T0 + 70 * M, M, 500.0);
    run(&mut late);
    assert_eq!(late.watermark(0), Some(T0 + 70 * M), "it-b holds it again");

    let mut in_order = Engine::new(&five_windows_config("", &basic()));
    for k in 0..=75 {
        feed_grid_and_it_a(&mut in_order, T0 + k * M, T0 + k * M);
        if k <= 10 || k == 70 {
            feed(&mut in_order, "it-b", T0 + k * M, T0 + k * M, M, 500.0);
        }
        run(&mut in_order);
    }
    assert_eq!(in_order.watermark(0), Some(T0 + 70 * M));

    let (a, b) = (late.snapshot(WALL), in_order.snapshot(WALL));
    for name in ["15m", "1h", "24h"] {
        let (x, y) = (w(&a, name), w(&b, name));
        assert_eq!(x.end_ms, T0 + 70 * M, "{name} ends at the watermark");
        assert_eq!((x.start_ms, x.end_ms), (y.start_ms, y.end_ms), "{name}");
        assert_eq!(x.coverage, y.coverage, "{name}");
        assert!(
            (x.energy_kwh.total - y.energy_kwh.total).abs() < 1e-9,
            "{name}: {x:?} vs {y:?}"
        );
    }
}

/// One hour, windows 15m and 1h, the compliance window 1h: grid a register at 1600 kW, it-a a
/// power meter and it-b a register at 500 kW each (PUE 1.6, a breach of 1.3). After each
/// minute's readings, the `extra` readings listed for that minute arrive; their verdicts are
/// returned.
fn pue_16_hour(extra: &[(i64, &str, Reading)]) -> (Engine, Vec<Verdict>) {
    let mut e = Engine::new(&engine_config(HOUR_WINDOWS, &basic().city("X")));
    let mut verdicts = Vec::new();
    for k in 0..=60 {
        let t = T0 + k * M;
        for (meter, r) in [
            ("grid", energy(t, 1000.0 + 1600.0 * k as f64 / 60.0)),
            ("it-a", power(t, 500.0)),
            ("it-b", energy(t, 2000.0 + 500.0 * k as f64 / 60.0)),
        ] {
            let m = e.lookup("f", meter).unwrap();
            assert_eq!(e.ingest(m, r, WALL), Verdict::Accepted, "{meter} {r:?}");
        }
        for (_, meter, r) in extra.iter().filter(|x| x.0 == k) {
            let m = e.lookup("f", meter).unwrap();
            verdicts.push(e.ingest(m, *r, WALL));
        }
    }
    run(&mut e);
    (e, verdicts)
}

/// CONTRACT §10: absurd power readings and register jumps (in order and late) are
/// `implausible` under the default 1 GW bound; the windows, the verdict and the hourly
/// history are those of the honest data (PUE 1.6, a breach), and every value stays finite.
#[test]
fn absurd_readings_are_implausible_and_change_nothing() {
    let (mut honest, _) = pue_16_hour(&[]);
    let absurd = [
        // Two IT power readings of 1e300 kW (they made the PUE 5.8e-296, "compliant").
        (30, "it-a", power(T0 + 30 * M + 30_000, 1e300)),
        (31, "it-a", power(T0 + 31 * M + 30_000, 1e300)),
        (40, "it-a", power(T0 + 40 * M + 30_000, 1e308)),
        // Register jumps: in order, and late (inside the lateness, splitting an interval).
        (45, "it-b", energy(T0 + 45 * M + 30_000, 1e300)),
        (50, "it-b", energy(T0 + 50 * M + 30_000, 1e308)),
        (55, "it-b", energy(T0 + 47 * M + 30_000, 1e308)),
        (56, "grid", energy(T0 + 56 * M + 30_000, 1e300)),
        (58, "grid", energy(T0 + 52 * M + 30_000, 1e308)),
        // Just above the bound: 1 GW for 30 s is 8333.3 kWh.
        (
            59,
            "it-b",
            energy(T0 + 59 * M + 30_000, 2000.0 + 500.0 * 59.0 / 60.0 + 8400.0),
        ),
        (59, "it-a", power(T0 + 59 * M + 30_000, 1_000_001.0)),
    ];
    let (mut attacked, verdicts) = pue_16_hour(&absurd);
    assert_eq!(
        verdicts,
        vec![Verdict::Rejected(Reason::Implausible); absurd.len()]
    );
    let (a, b) = (honest.snapshot(T0 + H), attacked.snapshot(T0 + H));
    let (fa, fb) = (&a.facilities[0], &b.facilities[0]);
    let pue = w(&b, "1h").pue.unwrap();
    assert!((pue - 1.6).abs() < 1e-9, "PUE {pue}");
    assert_eq!(fb.windows, fa.windows, "every window as on the honest data");
    assert_eq!((fb.status, fb.grade), (Status::Breach, None));
    for (_, v) in &fb.windows.0 {
        let e = v.energy_kwh;
        assert!(e.total.is_finite() && e.it.is_finite() && e.renewable.is_finite());
    }
    for meter in ["grid", "it-a", "it-b"] {
        let m = attacked.lookup("f", meter).unwrap();
        assert_eq!(
            attacked.meter_history(m),
            honest.meter_history(m),
            "{meter}: hourly history"
        );
    }
    let implausible = |e: &Engine| {
        e.counters()
            .rejected
            .iter()
            .find(|x| x.0 == "f" && x.1 == Reason::Implausible)
            .map_or(0, |x| x.2)
    };
    assert_eq!(implausible(&attacked), absurd.len() as u64);
    assert_eq!(implausible(&honest), 0);
}

/// A meter's own `max_power_kw` replaces `[engine] max_power_kw`, both ways.
#[test]
fn a_meters_own_bound_replaces_the_engine_bound() {
    let f = facility("f")
        .meter("grid", "total")
        .meter_with("it-a", "it", "max_power_kw = 5000")
        .meter("it-b", "it");
    let mut e = Engine::new(&five_windows_config("max_power_kw = 2000", &f));
    let (grid, it_a) = (
        e.lookup("f", "grid").unwrap(),
        e.lookup("f", "it-a").unwrap(),
    );
    assert_eq!(e.ingest(it_a, power(T0, 4000.0), WALL), Verdict::Accepted);
    assert_eq!(
        e.ingest(it_a, power(T0 + M, 5001.0), WALL),
        Verdict::Rejected(Reason::Implausible)
    );
    assert_eq!(
        e.ingest(grid, power(T0, 2001.0), WALL),
        Verdict::Rejected(Reason::Implausible)
    );
    assert_eq!(e.ingest(grid, energy(T0, 0.0), WALL), Verdict::Accepted);
    // 2000 kW for a minute is 33.3 kWh.
    assert_eq!(
        e.ingest(grid, energy(T0 + M, 34.0), WALL),
        Verdict::Rejected(Reason::Implausible)
    );
    assert_eq!(
        e.ingest(grid, energy(T0 + M, 33.0), WALL),
        Verdict::Accepted
    );
}

/// The energies over the common covered time carry the renewable energy in it, by the rule of
/// total and IT: on-site PV (total and renewable, 300 kW) over an hour in which it-a is silent
/// for 20 minutes has 200 kWh in C(W), of 300 kWh in W.
#[test]
fn covered_renewable_energy_is_the_renewable_energy_over_the_common_covered_time() {
    let mut e = Engine::new(&five_windows_config("", &basic().raw(PV)));
    feed(&mut e, "grid", T0, T0 + H, M, 1000.0);
    feed(&mut e, "pv", T0, T0 + H, M, 300.0);
    feed(&mut e, "it-b", T0, T0 + H, M, 500.0);
    feed(&mut e, "it-a", T0, T0 + 20 * M, M, 500.0);
    feed(&mut e, "it-a", T0 + 40 * M, T0 + H, M, 500.0);
    run(&mut e);
    let s = e.snapshot(T0 + H);
    let v = w(&s, "1h");
    assert!((v.energy_kwh.renewable - 300.0).abs() < 1e-9, "{v:?}");
    let c = v.covered_energy_kwh.unwrap();
    assert!((c.renewable - 200.0).abs() < 1e-9, "{c:?}");
    assert!((c.total - 1300.0 * 40.0 / 60.0).abs() < 1e-9, "{c:?}");
    let between = e.window_between(0, T0, T0 + H).covered_energy_kwh.unwrap();
    assert!((between.renewable - 200.0).abs() < 1e-9, "{between:?}");
}

#[test]
fn advance_steps_returns_what_advance_passes_to_its_closure() {
    let readings = |e: &mut Engine| {
        feed(e, "grid", T0, T0 + 2 * H, M, 1300.0);
        feed(e, "it-a", T0, T0 + 2 * H, M, 500.0);
        feed(e, "it-b", T0 + H, T0 + 2 * H, M, 500.0);
    };
    let (mut by_closure, mut by_steps) = (
        Engine::new(&five_windows_config("", &basic())),
        Engine::new(&five_windows_config("", &basic())),
    );
    readings(&mut by_closure);
    readings(&mut by_steps);
    let expected = run(&mut by_closure);
    let got: Vec<_> = by_steps
        .advance_steps()
        .into_iter()
        .map(|s| {
            assert_eq!(s.view("f").facility_id, "f");
            (s.step_ms, s.windows)
        })
        .collect();
    assert!(expected.len() > 60, "the readings pass two hours of steps");
    assert_eq!(got, expected);
    assert!(by_steps.advance_steps().is_empty(), "no step twice");
}

/// CONTRACT §13: estimated_share = non-metered total + IT energy / total + IT energy, per
/// window; 0 when every reading is metered, null without energy; it survives a checkpoint of
/// the current format, and a format-3 state reads as all metered.
#[test]
fn estimated_share_of_total_and_it_energy() {
    let mut e = Engine::new(&five_windows_config("", &basic()));
    assert_eq!(w(&e.snapshot(WALL), "1h").estimated_share, None);
    let end = T0 + 60 * M;
    feed(&mut e, "grid", T0, end, M, 150.0);
    feed(&mut e, "it-a", T0, end, M, 60.0);
    // it-b: 40 kW, every reading estimated over the whole hour
    let m = e.lookup("f", "it-b").unwrap();
    let mut t = T0;
    while t <= end {
        let r = Reading {
            quality: Quality::Estimated,
            ..power(t, 40.0)
        };
        assert_eq!(e.ingest(m, r, WALL), Verdict::Accepted);
        t += M;
    }
    run(&mut e);
    let s = e.snapshot(WALL);
    let v = w(&s, "1h");
    // total 150 kWh, IT 100 kWh of which 40 estimated: 40 / 250
    let share = v.estimated_share.unwrap();
    assert!((share - 40.0 / 250.0).abs() < 1e-9, "{share}");
    // A checkpoint of this format keeps it; one of format 3 holds no provenance: all metered.
    let (mut back, _) = Engine::restore_from(e.config(), e.saved_state()).unwrap();
    run(&mut back);
    let b = back.snapshot(WALL);
    assert!((w(&b, "1h").estimated_share.unwrap() - share).abs() < 1e-9);
    let old = SavedStateV3::downgrade(e.saved_state());
    let bytes = postcard::to_stdvec(&old).unwrap();
    let old: SavedStateV3 = postcard::from_bytes(&bytes).unwrap();
    let (mut v3, _) = Engine::restore_from(e.config(), old.upgrade()).unwrap();
    run(&mut v3);
    let s3 = v3.snapshot(WALL);
    assert_eq!(w(&s3, "1h").estimated_share, Some(0.0));
    assert_eq!(w(&s3, "1h").pue, w(&s, "1h").pue, "nothing else changes");
}

#[test]
fn a_meters_checked_replacements_become_its_swaps() {
    use crate::config::replacement::ReplacementConfig;
    let r = |at: &str, old: f64, new: f64| ReplacementConfig {
        at: at.into(),
        old_final_kwh: old,
        new_initial_kwh: new,
    };
    let s = swaps(&[
        r("2026-05-01T10:00:00+08:00", 1234567.8, 0.0),
        r("2026-06-01T00:00:00Z", 500.0, 3.5),
    ]);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].at_ms, 1_777_600_800_000);
    assert_eq!((s[0].old_final, s[0].new_initial), (1234567.8, 0.0));
    assert_eq!((s[1].old_final, s[1].new_initial), (500.0, 3.5));
}
