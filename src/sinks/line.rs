//! InfluxDB line protocol for the points of CONTRACT §8: pure formatting, no I/O.
//!
//! Timestamps are epoch milliseconds (written with `precision=ms`). Floats use Rust's shortest
//! round-trip formatting, so the same value always gives the same text and a redelivered point
//! is identical to the first one (idempotent on a server that keeps one point per series and time).

use std::fmt::Write as _;

use crate::duration::Span;
use crate::engine::{Reading, WindowValues};

/// Escapes a measurement name: commas and spaces.
fn escape_measurement(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            ',' | ' ' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            _ => out.push(c),
        }
    }
}

/// Escapes a tag key, tag value or field key: commas, equals signs and spaces. Line breaks
/// cannot be escaped in line protocol; they become spaces (escaped).
fn escape_key(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            ',' | '=' | ' ' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push_str("\\ "),
            _ => out.push(c),
        }
    }
}

/// Builds one line: measurement, tags (empty values left out: line protocol has no empty tag),
/// float fields (non-finite ones left out), timestamp. None when no field is left.
fn build(
    measurement: &str,
    tags: &[(&str, &str)],
    fields: &[(&str, Option<f64>)],
    ts_ms: i64,
) -> Option<String> {
    let mut out = String::with_capacity(160);
    escape_measurement(measurement, &mut out);
    for (k, v) in tags {
        if v.is_empty() {
            continue;
        }
        out.push(',');
        escape_key(k, &mut out);
        out.push('=');
        escape_key(v, &mut out);
    }
    let mut first = true;
    for (k, v) in fields {
        let Some(v) = v.filter(|v| v.is_finite()) else {
            continue;
        };
        out.push(if first { ' ' } else { ',' });
        first = false;
        escape_key(k, &mut out);
        out.push('=');
        // `{}` on f64 is the shortest text that parses back to the same value, never an
        // exponent; without an `i` suffix line protocol reads it as a float.
        let _ = write!(out, "{v}");
    }
    if first {
        return None;
    }
    let _ = write!(out, " {ts_ms}");
    Some(out)
}

/// `dcpue_reading,facility=F,meter=M,role=R power_kw=…,energy_kwh=… <ts_ms>` with the fields
/// present in the reading. `role` as given (a meter with two roles: "total+renewable").
/// None only for a reading without any finite value (the engine never accepts one).
pub fn reading_line(facility: &str, meter: &str, role: &str, r: &Reading) -> Option<String> {
    build(
        "dcpue_reading",
        &[("facility", facility), ("meter", meter), ("role", role)],
        &if role == "water" {
            // A water meter's register (m³) rides in the reading's `energy_kwh` slot.
            [("volume_m3", r.energy_kwh), ("power_kw", None)]
        } else {
            [("power_kw", r.power_kw), ("energy_kwh", r.energy_kwh)]
        },
        r.ts,
    )
}

/// `dcpue_window,facility=F,tier=T,window=W pue=…,coverage=…,renewable_share=…,
/// energy_total_kwh=…,energy_it_kwh=…,energy_renewable_kwh=…,wue=…,erf=…,ref=…,cue=…,
/// estimated_share=… <ts_ms>`, null fields left out
/// (coverage and the energies are always there). None only if every value is non-finite.
pub fn window_line(
    facility: &str,
    tier: &str,
    window: &str,
    ts_ms: i64,
    v: &WindowValues,
) -> Option<String> {
    build(
        "dcpue_window",
        &[("facility", facility), ("tier", tier), ("window", window)],
        &[
            ("pue", v.pue),
            ("coverage", Some(v.coverage)),
            ("renewable_share", v.renewable_share),
            ("energy_total_kwh", Some(v.energy_kwh.total)),
            ("energy_it_kwh", Some(v.energy_kwh.it)),
            ("energy_renewable_kwh", Some(v.energy_kwh.renewable)),
            ("wue", v.kpi.wue),
            ("erf", v.kpi.erf),
            ("ref", v.kpi.ref_),
            ("cue", v.kpi.cue),
            ("estimated_share", v.estimated_share),
        ],
        ts_ms,
    )
}

/// The event-time grid of window points (CONTRACT §8, §15): a facility's step gets points when
/// it is a whole multiple of `window_every` since the epoch (rounded up to whole minutes, the
/// engine's steps). The grid depends on event time alone, so two replicas, or one replica before
/// and after a restart, write their points at the same times and a server that keeps one point
/// per series and time holds each once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowGrid {
    every_ms: i64,
}

impl WindowGrid {
    const MINUTE_MS: i64 = 60_000;

    pub fn new(every: Span) -> WindowGrid {
        let m = Self::MINUTE_MS;
        WindowGrid {
            every_ms: (every.ms().max(1) + m - 1) / m * m,
        }
    }

    /// Whether the step (epoch ms) carries window points.
    pub fn on_grid(&self, step_ms: i64) -> bool {
        step_ms.rem_euclid(self.every_ms) == 0
    }
}

/// The role tag of each meter for its reading points (`total+renewable` for two roles), by
/// facility and meter.
pub fn role_tags(cfg: &crate::config::Config) -> Vec<Vec<String>> {
    cfg.facilities
        .iter()
        .map(|f| {
            f.meters
                .iter()
                .map(|mc| {
                    mc.roles()
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join("+")
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Energies;

    fn wv(pue: Option<f64>, share: Option<f64>) -> WindowValues {
        WindowValues {
            pue,
            coverage: 0.95,
            renewable_share: share,
            energy_kwh: Energies {
                total: 1234.5,
                it: 1000.0,
                renewable: 0.1,
            },
            covered_energy_kwh: None,
            kpi: Default::default(),
            start_ms: 0,
            end_ms: 0,
            estimated_share: None,
        }
    }

    #[test]
    fn reading_with_both_fields() {
        let r = Reading {
            ts: 1_764_300_000_123,
            power_kw: Some(812.25),
            energy_kwh: Some(1_000_000.5),
            quality: Default::default(),
        };
        assert_eq!(
            reading_line("nanchang-1", "grid-in", "total+renewable", &r).as_deref(),
            Some("dcpue_reading,facility=nanchang-1,meter=grid-in,role=total+renewable power_kw=812.25,energy_kwh=1000000.5 1764300000123")
        );
    }

    #[test]
    fn reading_with_one_field_and_none() {
        let r = Reading {
            ts: 1,
            power_kw: None,
            energy_kwh: Some(3.0),
            quality: Default::default(),
        };
        assert_eq!(
            reading_line("f", "m", "it", &r).as_deref(),
            Some("dcpue_reading,facility=f,meter=m,role=it energy_kwh=3 1")
        );
        let r = Reading {
            ts: 1,
            power_kw: None,
            energy_kwh: None,
            quality: Default::default(),
        };
        assert_eq!(reading_line("f", "m", "it", &r), None);
        let r = Reading {
            ts: 1,
            power_kw: Some(f64::NAN),
            energy_kwh: None,
            quality: Default::default(),
        };
        assert_eq!(reading_line("f", "m", "it", &r), None);
    }

    #[test]
    fn window_all_fields_and_nulls_left_out() {
        let full = window_line(
            "yingtan-1",
            "backup",
            "24h",
            42,
            &wv(Some(1.2875), Some(0.3)),
        )
        .unwrap_or_default();
        assert_eq!(
            full,
            "dcpue_window,facility=yingtan-1,tier=backup,window=24h pue=1.2875,coverage=0.95,renewable_share=0.3,energy_total_kwh=1234.5,energy_it_kwh=1000,energy_renewable_kwh=0.1 42"
        );
        let nulls =
            window_line("yingtan-1", "backup", "24h", 42, &wv(None, None)).unwrap_or_default();
        assert_eq!(
            nulls,
            "dcpue_window,facility=yingtan-1,tier=backup,window=24h coverage=0.95,energy_total_kwh=1234.5,energy_it_kwh=1000,energy_renewable_kwh=0.1 42"
        );
    }

    #[test]
    fn window_kpis_and_water_readings() {
        let mut v = wv(Some(1.2875), None);
        v.kpi.wue = Some(1.75);
        v.kpi.ref_ = Some(0.5);
        v.kpi.cue = Some(0.25);
        assert_eq!(
            window_line("yingtan-1", "backup", "24h", 42, &v).unwrap_or_default(),
            "dcpue_window,facility=yingtan-1,tier=backup,window=24h pue=1.2875,coverage=0.95,energy_total_kwh=1234.5,energy_it_kwh=1000,energy_renewable_kwh=0.1,wue=1.75,ref=0.5,cue=0.25 42"
        );
        let r = Reading {
            ts: 7,
            power_kw: None,
            energy_kwh: Some(48213.5),
            quality: Default::default(),
        };
        assert_eq!(
            reading_line("f", "w", "water", &r).unwrap_or_default(),
            "dcpue_reading,facility=f,meter=w,role=water volume_m3=48213.5 7"
        );
    }

    #[test]
    fn window_estimated_share_is_a_field_and_left_out_while_null() {
        let mut v = wv(Some(1.2875), None);
        v.estimated_share = Some(0.125);
        assert_eq!(
            window_line("yingtan-1", "backup", "24h", 42, &v).unwrap_or_default(),
            "dcpue_window,facility=yingtan-1,tier=backup,window=24h pue=1.2875,coverage=0.95,energy_total_kwh=1234.5,energy_it_kwh=1000,energy_renewable_kwh=0.1,estimated_share=0.125 42"
        );
        // Wholly metered is 0, a value, not a null.
        v.estimated_share = Some(0.0);
        let line = window_line("yingtan-1", "backup", "24h", 42, &v).unwrap_or_default();
        assert!(line.ends_with(",estimated_share=0 42"), "{line}");
        v.estimated_share = None;
        let line = window_line("yingtan-1", "backup", "24h", 42, &v).unwrap_or_default();
        assert!(!line.contains("estimated_share"), "{line}");
    }

    #[test]
    fn escaping() {
        let r = Reading {
            ts: 5,
            power_kw: Some(1.0),
            energy_kwh: None,
            quality: Default::default(),
        };
        assert_eq!(
            reading_line("a b", "c,d", "e=f", &r).as_deref(),
            Some("dcpue_reading,facility=a\\ b,meter=c\\,d,role=e\\=f power_kw=1 5")
        );
        // An empty tag value is not valid line protocol: the tag is left out.
        assert_eq!(
            reading_line("a", "", "it", &r).as_deref(),
            Some("dcpue_reading,facility=a,role=it power_kw=1 5")
        );
        let line = reading_line("a\nb", "m", "it", &r).unwrap_or_default();
        assert!(!line.contains('\n'), "{line}");
    }

    #[test]
    fn floats_round_trip_and_are_deterministic() {
        for v in [
            0.1 + 0.2,
            1.0 / 3.0,
            1e-9,
            123_456_789.123_456_78,
            1e21,
            5e-324,
            f64::MAX,
        ] {
            let r = Reading {
                ts: 0,
                power_kw: Some(v),
                energy_kwh: None,
                quality: Default::default(),
            };
            let a = reading_line("f", "m", "it", &r).unwrap_or_default();
            let b = reading_line("f", "m", "it", &r).unwrap_or_default();
            assert_eq!(a, b);
            let text = a
                .split_once("power_kw=")
                .map(|x| x.1)
                .and_then(|x| x.split_once(' '))
                .map(|x| x.0);
            let back: f64 = text.and_then(|t| t.parse().ok()).unwrap_or(f64::NAN);
            assert_eq!(back.to_bits(), v.to_bits(), "{a}");
            assert!(!text.unwrap_or("e").contains('e'), "no exponent: {a}");
        }
    }

    #[test]
    fn window_grid_is_event_time_multiples_of_window_every() {
        let g = WindowGrid::new(Span(5 * 60_000));
        let t0 = 1_772_331_600_000; // a whole hour
        let on: Vec<i64> = (0..16)
            .map(|k| t0 + k * 60_000)
            .filter(|&t| g.on_grid(t))
            .map(|t| (t - t0) / 60_000)
            .collect();
        assert_eq!(on, vec![0, 5, 10, 15]);
        // Where a replica starts makes no difference: the same steps are on the grid.
        assert!(!g.on_grid(t0 + 7 * 60_000));
        // Less than a minute is a minute; 90 s is 2 minutes (steps are whole minutes).
        assert!(WindowGrid::new(Span(1)).on_grid(t0 + 60_000));
        let g90 = WindowGrid::new(Span(90_000));
        assert!(g90.on_grid(t0 + 2 * 60_000) && !g90.on_grid(t0 + 3 * 60_000));
    }
}
