//! The InfluxDB sink end to end: readings through a real Mosquitto into `dcpue serve`, points in
//! a real InfluxDB v2 write-API server (VictoriaMetrics), also across a server outage and a
//! dcpue crash while the server is down.

mod support;

use std::time::Duration;

use support::*;

const H: i64 = 3_600_000;
const M: i64 = 60_000;

fn lines(from: i64, minutes: i64, kw: f64) -> Vec<String> {
    (0..minutes)
        .map(|k| format!(r#"{{"ts": {}, "power_kw": {kw}}}"#, from + k * M))
        .collect()
}

fn config(vm: &VictoriaMetrics, token: &std::path::Path) -> String {
    format!(
        r#"
[engine]
windows = ["15m", "1h"]
compliance_window = "1h"

[influxdb]
url = "{}"
org = "jiangxi"
bucket = "dcpue"
token_file = "{}"
window_every = "5m"

{TEST_FACILITIES}
"#,
        vm.url(),
        token.display()
    )
}

/// Points of one measurement field for facility f2 (VictoriaMetrics names them
/// `<measurement>_<field>`).
fn series(vm: &VictoriaMetrics, name: &str) -> Vec<(String, Vec<(i64, f64)>)> {
    vm.export(&format!("{{__name__=\"{name}\",facility=\"f2\"}}"))
        .into_iter()
        .map(|((_, l), v)| (l, v))
        .collect()
}

#[test]
fn readings_and_window_points_arrive_across_an_outage_and_a_crash() {
    let token_dir = tempfile::tempdir().unwrap();
    let token = token_dir.path().join("influx.token");
    std::fs::write(&token, "secret-token\n").unwrap();
    let mut vm = VictoriaMetrics::start();
    let broker = Mosquitto::start();
    let mut d = Dcpue::start(&broker.url(), &config(&vm, &token));
    let t0 = (chrono::Utc::now().timestamp_millis() - 5 * H) / H * H;

    // Part 1: 30 minutes with the server up.
    broker.publish_lines("dc/f2/grid", &lines(t0, 30, 1300.0), 1);
    broker.publish_lines("dc/f2/it", &lines(t0, 30, 1000.0), 1);
    let got = eventually(Duration::from_secs(30), || {
        let s = series(&vm, "dcpue_reading_power_kw");
        (s.iter().map(|(_, v)| v.len()).sum::<usize>() == 60).then_some(s)
    })
    .unwrap_or_else(|| panic!("60 reading points; log:\n{}", d.log()));
    let grid = got
        .iter()
        .find(|(l, _)| l.contains("meter=grid"))
        .expect("grid series");
    assert!(grid.0.contains("role=total"), "{}", grid.0);
    assert_eq!(
        grid.1[0],
        (t0, 1300.0),
        "value at the reading's ts, to the millisecond"
    );

    // Part 2: the server goes away for the next 30 minutes of readings, then comes back.
    vm.stop();
    broker.publish_lines("dc/f2/grid", &lines(t0 + 30 * M, 30, 1300.0), 1);
    broker.publish_lines("dc/f2/it", &lines(t0 + 30 * M, 30, 1000.0), 1);
    let accepted = eventually(Duration::from_secs(30), || {
        (d.metric(r#"dcpue_readings_accepted_total{facility="f2"}"#) == Some(120.0)).then_some(())
    });
    assert!(
        accepted.is_some(),
        "ingest goes on while the sink's server is down"
    );
    std::thread::sleep(Duration::from_secs(1));
    vm.restart();
    let all = eventually(Duration::from_secs(60), || {
        let s = series(&vm, "dcpue_reading_power_kw");
        (s.iter().map(|(_, v)| v.len()).sum::<usize>() == 120).then_some(s)
    });
    assert!(
        all.is_some(),
        "every reading point after the outage; log:\n{}",
        d.log()
    );

    // Part 3: the server goes away again and dcpue crashes (SIGKILL) with points spooled.
    vm.stop();
    broker.publish_lines("dc/f2/grid", &lines(t0 + H, 30, 1300.0), 1);
    broker.publish_lines("dc/f2/it", &lines(t0 + H, 30, 1000.0), 1);
    let accepted = eventually(Duration::from_secs(30), || {
        (d.metric(r#"dcpue_readings_accepted_total{facility="f2"}"#) == Some(180.0)).then_some(())
    });
    assert!(accepted.is_some());
    d.kill();
    vm.restart();
    d.restart();
    let all = eventually(Duration::from_secs(60), || {
        let s = series(&vm, "dcpue_reading_power_kw");
        (s.iter().map(|(_, v)| v.len()).sum::<usize>() == 180).then_some(s)
    })
    .unwrap_or_else(|| {
        panic!(
            "the spooled points arrive after the crash; log:\n{}",
            d.log()
        )
    });
    for (labels, points) in &all {
        let mut ts: Vec<i64> = points.iter().map(|p| p.0).collect();
        ts.dedup();
        assert_eq!(ts.len(), 90, "one point per series and timestamp: {labels}");
    }

    // Window points: every 5 minutes of event time, with the window's values.
    let pue = series(&vm, "dcpue_window_pue");
    let h1 = pue
        .iter()
        .find(|(l, _)| l.contains("window=1h"))
        .unwrap_or_else(|| panic!("1h window PUE points: {pue:?}"));
    assert!(h1.0.contains("tier=backup"), "{}", h1.0);
    assert!(h1.1.iter().all(|p| (p.1 - 1.3).abs() < 1e-9), "{:?}", h1.1);
    assert!(
        h1.1.windows(2).all(|w| w[1].0 - w[0].0 >= 5 * M),
        "at most one point per window_every"
    );
    let last = h1.1.last().unwrap().0;
    assert_eq!(
        last,
        t0 + H + 29 * M - (t0 + H + 29 * M) % (5 * M),
        "points follow the watermark"
    );
    let cov = series(&vm, "dcpue_window_coverage");
    assert!(!cov.is_empty());
    assert!(
        !d.log().contains("secret-token"),
        "the token is never logged"
    );
}

/// Readings of one meter at every minute from `from`, constant power, `quality` "estimated" from
/// minute `estimated_from` on (metered before).
fn lines_with_quality(from: i64, minutes: i64, kw: f64, estimated_from: i64) -> Vec<String> {
    (0..minutes)
        .map(|k| {
            let q = if k >= estimated_from {
                "estimated"
            } else {
                "metered"
            };
            format!(
                r#"{{"ts": {}, "power_kw": {kw}, "quality": "{q}"}}"#,
                from + k * M
            )
        })
        .collect()
}

#[test]
fn window_points_carry_the_estimated_share_of_the_readings() {
    let token_dir = tempfile::tempdir().unwrap();
    let token = token_dir.path().join("influx.token");
    std::fs::write(&token, "secret-token\n").unwrap();
    let vm = VictoriaMetrics::start();
    let broker = Mosquitto::start();
    let d = Dcpue::start(&broker.url(), &config(&vm, &token));
    let t0 = (chrono::Utc::now().timestamp_millis() - 5 * H) / H * H;

    // f2: grid 1300 kW with estimated readings from minute 49 on, IT 1000 kW from minute 39 on.
    let (grid_kw, it_kw, grid_est, it_est) = (1300.0, 1000.0, 49, 39);
    broker.publish_lines(
        "dc/f2/grid",
        &lines_with_quality(t0, 60, grid_kw, grid_est),
        1,
    );
    broker.publish_lines("dc/f2/it", &lines_with_quality(t0, 60, it_kw, it_est), 1);

    // By hand: the energy of the minute starting at minute b is kW/60 per meter (trapezoid of a
    // constant power); that minute is non-metered when the reading at either end is estimated,
    // i.e. from the minute before the first estimated reading on. A window of n minutes ending at
    // minute m holds the minutes [m - n, m) that have data (from minute 0 on).
    let expected = |m: i64, n: i64| -> Option<f64> {
        let minutes: Vec<i64> = ((m - n).max(0)..m).collect();
        if minutes.is_empty() {
            return None;
        }
        let est: f64 = minutes
            .iter()
            .map(|&b| {
                let g = if b + 1 >= grid_est { grid_kw } else { 0.0 };
                let i = if b + 1 >= it_est { it_kw } else { 0.0 };
                (g + i) / 60.0
            })
            .sum();
        Some(est / ((grid_kw + it_kw) / 60.0 * minutes.len() as f64))
    };

    let last = t0 + 55 * M; // the last watermark on the 5-minute grid
    let got = eventually(Duration::from_secs(30), || {
        let s = series(&vm, "dcpue_window_estimated_share");
        let done = ["window=15m", "window=1h"].iter().all(|w| {
            s.iter()
                .any(|(l, v)| l.contains(w) && v.iter().any(|p| p.0 == last))
        });
        done.then_some(s)
    })
    .unwrap_or_else(|| {
        panic!(
            "estimated_share window points up to minute 55: {:?}\nlog:\n{}",
            series(&vm, "dcpue_window_estimated_share"),
            d.log()
        )
    });
    for (labels, points) in &got {
        let n = if labels.contains("window=15m") {
            15
        } else {
            60
        };
        for &(ts, v) in points {
            let m = (ts - t0) / M;
            let want = expected(m, n).unwrap_or(f64::NAN);
            assert!(
                (v - want).abs() < 1e-9,
                "{labels} at minute {m}: estimated_share {v}, by hand {want}"
            );
        }
    }
    // The figures the check above covered, spelled out for the last point.
    let at_last = |w: &str| {
        got.iter()
            .find(|(l, _)| l.contains(w))
            .and_then(|(_, v)| v.iter().find(|p| p.0 == last))
            .map(|p| p.1)
    };
    // 15m at 55: minutes 40..55, IT all 15 non-metered, grid 7 (48..55: the minute ending at
    // the first estimated reading too).
    let w15 = at_last("window=15m").unwrap_or(f64::NAN);
    assert!(
        (w15 - (7.0 * 1300.0 + 15.0 * 1000.0) / (15.0 * 2300.0)).abs() < 1e-9,
        "{w15}"
    );
    // 1h at 55: minutes 0..55 with data, IT 17 non-metered (38..55), grid 7.
    let h1 = at_last("window=1h").unwrap_or(f64::NAN);
    assert!(
        (h1 - (7.0 * 1300.0 + 17.0 * 1000.0) / (55.0 * 2300.0)).abs() < 1e-9,
        "{h1}"
    );
    // Wholly metered windows carry 0, not a missing field.
    let w15_at_30 = got
        .iter()
        .find(|(l, _)| l.contains("window=15m"))
        .and_then(|(_, v)| v.iter().find(|p| p.0 == t0 + 30 * M))
        .map(|p| p.1);
    assert_eq!(w15_at_30, Some(0.0));
}
