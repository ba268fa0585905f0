use super::*;
use crate::config::fixture::{facility, five_windows_config};
use crate::config::Config;
use crate::engine::tests::{energy, power};
use crate::engine::{Engine, Snapshot, Verdict, WindowValues};

const H: i64 = 3_600_000;
const M: i64 = 60_000;
/// 2026-01-01T00:00:00Z, a whole hour (08:00 in Shanghai, inside January there).
const T0: i64 = 1_767_225_600_000;
const WALL: i64 = T0 + 400 * 24 * H;

/// Facility `f` with `facility_extra` lines, `grid` and `it`, then `meters`; `extra` after the
/// five windows of `[engine]`.
fn cfg(meters: &str, facility_extra: &str, extra: &str) -> Config {
    let f = facility("f").key(facility_extra).grid_and_it().raw(meters);
    five_windows_config(extra, &f)
}

const WATER: &str = "  [[facility.meter]]\n  id = \"water\"\n  role = \"water\"\n";
const HEAT: &str = "  [[facility.meter]]\n  id = \"heat\"\n  role = \"reused_heat\"\n";
const PV: &str = "  [[facility.meter]]\n  id = \"pv\"\n  role = \"renewable\"\n";

/// Power samples every minute over [from, to].
fn feed(e: &mut Engine, meter: &str, from: i64, to: i64, kw: f64) {
    let m = e.lookup("f", meter).unwrap();
    let mut t = from;
    while t <= to {
        assert_eq!(e.ingest(m, power(t, kw), WALL), Verdict::Accepted);
        t += M;
    }
}

/// A register rising by `per_hour` every hour, read every minute over [from, to].
fn feed_register(e: &mut Engine, meter: &str, from: i64, to: i64, per_hour: f64) {
    let m = e.lookup("f", meter).unwrap();
    let mut t = from;
    while t <= to {
        let v = 1000.0 + per_hour * (t - T0) as f64 / H as f64;
        assert_eq!(e.ingest(m, energy(t, v), WALL), Verdict::Accepted);
        t += M;
    }
}

fn snap(e: &mut Engine, at: i64) -> Snapshot {
    e.advance(&mut |_| {});
    e.snapshot(at)
}

fn w<'a>(s: &'a Snapshot, name: &str) -> &'a WindowValues {
    s.facilities[0].windows.get(name).unwrap()
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

/// A full hour of a facility with every input: the KPIs equal the hand computation.
fn full_hour(facility_extra: &str, extra: &str) -> Engine {
    let meters = format!("{WATER}{HEAT}{PV}");
    let mut e = Engine::new(&cfg(&meters, facility_extra, extra));
    feed(&mut e, "grid", T0, T0 + H, 1300.0);
    feed(&mut e, "it", T0, T0 + H, 1000.0);
    feed(&mut e, "pv", T0, T0 + H, 100.0);
    feed_register(&mut e, "water", T0, T0 + H, 1.8);
    feed_register(&mut e, "heat", T0, T0 + H, 200.0);
    e
}

#[test]
fn each_kpi_follows_its_formula() {
    // January has 744 hours: 744 MWh of certificates are 1000 kWh in each hour of it.
    let certs = "[[facility.certificate]]\nmonth = \"2026-01\"\nmwh = 744\n";
    let mut e = full_hour(certs, "[policy]\ngrid_emission_factor = 0.5\n");
    let s = snap(&mut e, T0 + H);
    let pv = s.facilities[0]
        .meters
        .iter()
        .find(|m| m.id == "pv")
        .unwrap();
    assert_eq!(
        pv.renewable_kind,
        Some(crate::config::RenewableKind::Onsite)
    );
    let v = w(&s, "1h");
    assert!(close(v.pue, 1.3));
    assert!((v.kpi.water_m3 - 1.8).abs() < 1e-9);
    assert!((v.kpi.reused_heat_kwh - 200.0).abs() < 1e-9);
    assert!((v.kpi.certificate_kwh - 1000.0).abs() < 1e-6);
    assert!(close(v.kpi.wue, 1000.0 * 1.8 / 1000.0), "{:?}", v.kpi);
    assert!(close(v.kpi.erf, 200.0 / 1300.0), "{:?}", v.kpi);
    assert!(close(v.kpi.ref_, (100.0 + 1000.0) / 1300.0), "{:?}", v.kpi);
    assert!(close(v.kpi.cue, (1300.0 - 100.0 - 1000.0) * 0.5 / 1000.0));
    // The 15m window: a quarter of everything, the same ratios.
    let q = w(&s, "15m");
    assert!(close(q.kpi.wue, 1.8));
    assert!((q.kpi.certificate_kwh - 250.0).abs() < 1e-6);
    // Never enough coverage on the 365d window: every KPI null.
    let y = w(&s, "365d");
    assert_eq!(
        (y.kpi.wue, y.kpi.erf, y.kpi.ref_, y.kpi.cue),
        (None, None, None, None)
    );
    // The JSON carries them under their contract names.
    let j = serde_json::to_value(v).unwrap();
    for k in ["wue", "erf", "ref", "cue"] {
        assert!(j[k].is_f64(), "{k}: {j}");
    }
    assert!(serde_json::to_value(y).unwrap()["ref"].is_null());
}

#[test]
fn ref_is_capped_at_one_and_cue_clamped_at_zero() {
    let certs = "[[facility.certificate]]\nmonth = \"2026-01\"\nmwh = 7440\n";
    let mut e = full_hour(certs, "[policy]\ngrid_emission_factor = 0.5\n");
    let s = snap(&mut e, T0 + H);
    let v = w(&s, "1h");
    assert_eq!(v.kpi.ref_, Some(1.0));
    assert_eq!(v.kpi.cue, Some(0.0));
}

#[test]
fn a_missing_input_is_null_not_zero() {
    // No certificates, no emission factor, no water, heat or renewable meter.
    let mut e = Engine::new(&cfg("", "", ""));
    feed(&mut e, "grid", T0, T0 + H, 1300.0);
    feed(&mut e, "it", T0, T0 + H, 1000.0);
    let s = snap(&mut e, T0 + H);
    let v = w(&s, "1h");
    assert!(close(v.pue, 1.3));
    assert_eq!(
        (v.kpi.wue, v.kpi.erf, v.kpi.ref_, v.kpi.cue),
        (None, None, None, None)
    );
    // Only an emission factor: CUE counts all grid energy, REF stays null.
    let mut e = Engine::new(&cfg("", "", "[policy]\ngrid_emission_factor = 0.6\n"));
    feed(&mut e, "grid", T0, T0 + H, 1300.0);
    feed(&mut e, "it", T0, T0 + H, 1000.0);
    let s = snap(&mut e, T0 + H);
    assert!(close(w(&s, "1h").kpi.cue, 1300.0 * 0.6 / 1000.0));
    assert_eq!(w(&s, "1h").kpi.ref_, None);
    // Only certificates, no renewable meter: REF from the certificates alone.
    let certs = "[[facility.certificate]]\nmonth = \"2026-01\"\nmwh = 744\n";
    let mut e = Engine::new(&cfg("", certs, ""));
    feed(&mut e, "grid", T0, T0 + H, 1300.0);
    feed(&mut e, "it", T0, T0 + H, 1000.0);
    let s = snap(&mut e, T0 + H);
    assert!(close(w(&s, "1h").kpi.ref_, 1000.0 / 1300.0));
}

#[test]
fn an_input_covering_too_little_is_null() {
    let meters = format!("{WATER}{HEAT}{PV}");
    let mut e = Engine::new(&cfg(&meters, "", "[policy]\ngrid_emission_factor = 0.5\n"));
    feed(&mut e, "grid", T0, T0 + H, 1300.0);
    feed(&mut e, "it", T0, T0 + H, 1000.0);
    // PV silent for 20 of the 60 minutes (default max_gap 5m): REF and CUE null.
    feed(&mut e, "pv", T0, T0 + 20 * M, 100.0);
    feed(&mut e, "pv", T0 + 40 * M, T0 + H, 100.0);
    // Water silent for 30 minutes: WUE null. Heat complete: ERF there.
    feed_register(&mut e, "water", T0, T0 + 15 * M, 1.8);
    feed_register(&mut e, "water", T0 + 45 * M, T0 + H, 1.8);
    feed_register(&mut e, "heat", T0, T0 + H, 200.0);
    let s = snap(&mut e, T0 + H);
    let v = w(&s, "1h");
    assert_eq!(v.kpi.wue, None);
    assert_eq!(v.kpi.ref_, None);
    assert_eq!(v.kpi.cue, None);
    assert!(close(v.kpi.erf, 200.0 / 1300.0));
    // The water drawn across the silence was measured: it is in the window's volume.
    assert!((v.kpi.water_m3 - 1.8).abs() < 1e-9);
    // PUE untouched by the KPI meters.
    assert!(close(v.pue, 1.3));
    assert!((v.coverage - 1.0).abs() < 1e-12);
}

#[test]
fn a_certificate_counts_for_the_part_of_its_month_in_the_window() {
    let tz = chrono_tz::Asia::Shanghai;
    let c = crate::config::CertificateConfig {
        month: "2026-01".into(),
        mwh: 744.0,
    };
    let ctx = KpiContext {
        certificates: vec![c.span_in(&tz).unwrap()],
        grid_emission_factor: None,
    };
    let (start, end, _) = ctx.certificates[0];
    // Half an hour before the month and half an hour into it: half an hour's share.
    assert!((ctx.certificate_kwh(start - H / 2, start + H / 2) - 500.0).abs() < 1e-6);
    // A window around the whole month and more: all of it.
    assert!((ctx.certificate_kwh(start - 10 * H, end + 10 * H) - 744_000.0).abs() < 1e-6);
    // Outside: nothing.
    assert_eq!(ctx.certificate_kwh(end, end + H), 0.0);
    // Two entries of the same month add up.
    let two = KpiContext {
        certificates: vec![ctx.certificates[0], ctx.certificates[0]],
        grid_emission_factor: None,
    };
    assert!((two.certificate_kwh(start, start + H) - 2000.0).abs() < 1e-6);
    // The month starts at local midnight: 2026-01-01T00:00+08:00.
    assert_eq!(start, T0 - 8 * H);
}

#[test]
fn a_water_meter_takes_only_its_register() {
    let mut e = Engine::new(&cfg(WATER, "", ""));
    let m = e.lookup("f", "water").unwrap();
    assert_eq!(
        e.ingest(m, power(T0, 5.0), WALL),
        Verdict::Rejected(crate::engine::Reason::Malformed)
    );
    assert_eq!(e.ingest(m, energy(T0, 5.0), WALL), Verdict::Accepted);
    assert_eq!(e.register(m), crate::engine::reading::Register::VolumeM3);
    feed(&mut e, "grid", T0, T0 + 2 * M, 1300.0);
    feed(&mut e, "it", T0, T0 + 2 * M, 1000.0);
    let s = snap(&mut e, T0 + 2 * M);
    let wm = s.facilities[0]
        .meters
        .iter()
        .find(|m| m.id == "water")
        .unwrap();
    assert_eq!((wm.last_volume_m3, wm.last_energy_kwh), (Some(5.0), None));
    assert_eq!(wm.renewable_kind, None);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn slot(total: bool, it: bool, renewable: bool, water: bool, heat: bool) -> MeterSlot {
        let cfg = cfg("", "", "");
        let e = Engine::new(&cfg);
        let mut m = e.facility_state(0).meters[0].clone();
        m.total = total;
        m.it = it;
        m.renewable = renewable;
        m.water = water;
        m.reused_heat = heat;
        m
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Whatever the sums (negative ones from sub-meters included), coverage and certificates:
        /// every KPI is finite, REF within [0, 1], CUE never negative for a non-negative factor.
        #[test]
        fn kpis_are_finite_and_ref_within_bounds(
            sums in proptest::collection::vec(-1e9f64..1e9, 5),
            zero in proptest::collection::vec(any::<bool>(), 5),
            cov in proptest::collection::vec(0i64..=3_600_000, 5),
            cert in proptest::option::of((0i64..10 * 3_600_000, 1i64..10 * 3_600_000, 0.0f64..1e9)),
            grid in proptest::option::of(0.0f64..10.0),
            min_cov in 0.0f64..=1.0,
        ) {
            let meters = vec![
                slot(true, false, false, false, false),
                slot(false, true, false, false, false),
                slot(false, false, true, false, false),
                slot(false, false, false, true, false),
                slot(false, false, false, false, true),
            ];
            let s: Vec<f64> = sums.iter().zip(&zero).map(|(&x, &z)| if z { 0.0 } else { x }).collect();
            let a = Agg {
                total: s[0],
                it: s[1],
                renewable: s[2],
                water: s[3],
                reused_heat: s[4],
                meter_ms: cov.clone(),
                ..Default::default()
            };
            let ctx = KpiContext {
                certificates: cert.map(|(st, len, kwh)| (st, st + len, kwh)).into_iter().collect(),
                grid_emission_factor: grid,
            };
            let k = kpis(&meters, &a, 0, H, min_cov, &ctx);
            for x in [k.wue, k.erf, k.ref_, k.cue].into_iter().flatten() {
                prop_assert!(x.is_finite(), "{:?}", k);
            }
            if let Some(r) = k.ref_ {
                prop_assert!((0.0..=1.0).contains(&r), "{:?}", k);
            }
            if let Some(c) = k.cue {
                prop_assert!(c >= 0.0, "{:?}", k);
            }
            prop_assert!(k.certificate_kwh.is_finite() && k.certificate_kwh >= 0.0);
            // Null whenever an input covers too little.
            if (cov[3] as f64) < min_cov * H as f64 || (cov[1] as f64) < min_cov * H as f64 {
                prop_assert_eq!(k.wue, None);
            }
            if (cov[2] as f64) < min_cov * H as f64 {
                prop_assert_eq!(k.ref_, None);
                prop_assert_eq!(k.cue, None);
            }
        }
    }
}
