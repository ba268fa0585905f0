//! The series parameters: bounds checked before any arithmetic, each error naming its parameter.

use super::*;

fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const TO: i64 = 1_767_225_600_000;
const D: i64 = 86_400_000;

fn err(pairs: &[(&str, &str)]) -> String {
    SeriesParams::parse(&q(pairs), TO)
        .expect_err("should be rejected")
        .to_string()
}

#[test]
fn defaults_and_honest_requests_are_unchanged() {
    let p = SeriesParams::parse(&q(&[]), TO).unwrap();
    assert_eq!(
        (p.window_name.as_str(), p.window_ms, p.from, p.to, p.step),
        ("24h", D, TO - D, TO, 7 * 60_000)
    );
    let p = SeriesParams::parse(&q(&[("window", "397d"), ("step", "5h")]), TO).unwrap();
    assert_eq!((p.from, p.to, p.step), (TO - 397 * D, TO, 5 * 3_600_000));
    let p = SeriesParams::parse(
        &q(&[
            ("window", "1h"),
            ("from", "2026-01-01T00:00:00+08:00"),
            ("to", "1767225600000"),
            ("step", "30m"),
        ]),
        0,
    )
    .unwrap();
    assert_eq!((p.from, p.to), (TO - 8 * 3_600_000, TO));
}

#[test]
fn a_window_longer_than_the_history_kept_is_a_400_naming_window() {
    for w in [
        "99999999999d",
        "100000d",
        "398d",
        "30s",
        "-1h",
        "1y",
        "9223372036854775807ms",
    ] {
        let m = err(&[("window", w)]);
        assert!(m.starts_with(&format!("window {w:?}")), "{m}");
        assert!(m.contains("397d"), "{m}");
    }
    assert!(SeriesParams::parse(&q(&[("window", "397d"), ("step", "5h")]), TO).is_ok());
}

#[test]
fn times_out_of_range_are_a_400_naming_the_parameter_not_an_overflow() {
    for (name, v) in [
        ("to", "9223372036854775807"),
        ("to", "-1"),
        ("to", "253402300800000"),
        ("to", "yesterday"),
        ("from", "-9223372036854775808"),
        ("from", "2026-13-01T00:00:00Z"),
    ] {
        let m = err(&[(name, v)]);
        assert!(m.starts_with(&format!("{name} {v:?}")), "{m}");
    }
    // The last millisecond of 9999 is fine.
    let p = SeriesParams::parse(&q(&[("to", "253402300799999"), ("step", "397d")]), TO).unwrap();
    assert_eq!(p.to, MAX_TIME_MS);
    let m = err(&[("from", "2000"), ("to", "1000")]);
    assert!(m.contains("from") && m.contains("after to"), "{m}");
}

#[test]
fn steps_are_bounded_and_points_counted_without_overflow() {
    let m = err(&[
        ("to", "9223372036854775807"),
        ("step", "9223372036854775807ms"),
    ]);
    assert!(m.starts_with("to "), "{m}");
    for st in ["9223372036854775807ms", "59s", "0m", "398d", "5"] {
        let m = err(&[("step", st)]);
        assert!(m.starts_with(&format!("step {st:?}")), "{m}");
    }
    let m = err(&[("window", "397d"), ("step", "1m")]);
    assert!(
        m.starts_with("step 1m:") && m.contains("at most 2000"),
        "{m}"
    );
    // From 1970 to 9999 with the default step: about 200 points, no overflow.
    let p = SeriesParams::parse(&q(&[("from", "0"), ("to", "253402300799999")]), TO).unwrap();
    assert!((p.to - p.from) / p.step <= 200, "{p:?}");
}
