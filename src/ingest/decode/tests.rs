use super::*;
use proptest::prelude::*;

/// 2026-11-28T03:00:00+08:00 = 2026-11-27T19:00:00Z
const T0: i64 = 1_795_806_000_000;

fn one(payload: &str) -> Result<Reading, (Reason, String)> {
    let v = decode_payload(payload.as_bytes()).expect("payload-level verdict");
    assert_eq!(v.len(), 1, "{payload}");
    v.into_iter().next().unwrap()
}

fn rejected(payload: &str) -> (Reason, String) {
    match one(payload) {
        Ok(r) => panic!("{payload} was taken as {r:?}"),
        Err(e) => e,
    }
}

/// Asserts that the one reading of `payload` is refused for `reason` with a message holding each
/// of `parts`; a failure names the payload.
#[track_caller]
fn assert_rejected(payload: &str, reason: Reason, parts: &[&str]) {
    let (r, m) = rejected(payload);
    assert_eq!(r, reason, "{payload}: {m}");
    for part in parts {
        assert!(m.contains(part), "{payload}: {m:?} lacks {part:?}");
    }
}

fn whole(payload: &[u8]) -> (Reason, String) {
    match decode_payload(payload) {
        Ok(v) => panic!("{:?} decoded to {v:?}", String::from_utf8_lossy(payload)),
        Err(e) => e,
    }
}

#[test]
fn topic_three_levels() {
    assert_eq!(
        parse_topic("dc", "dc/nanchang-1/grid-in"),
        Some(("nanchang-1", "grid-in"))
    );
    assert_eq!(parse_topic("a/b", "a/b/f/m"), Some(("f", "m")));
    for bad in [
        "dc/nanchang-1",
        "dc/nanchang-1/grid-in/x",
        "dc//m",
        "dc/f/",
        "dcx/f/m",
        "xx/f/m",
        "dc",
        "dc/",
        "/dc/f/m",
        "",
    ] {
        assert_eq!(parse_topic("dc", bad), None, "{bad}");
    }
}

#[test]
fn rfc3339_object_with_both_values() {
    let r = one(r#"{"ts":"2026-11-28T03:00:00+08:00","power_kw":1200.5,"energy_kwh":345678.25}"#)
        .unwrap();
    assert_eq!(
        r,
        Reading {
            ts: T0,
            power_kw: Some(1200.5),
            energy_kwh: Some(345678.25),
            quality: Default::default(),
        }
    );
}

#[test]
fn rfc3339_forms() {
    assert_eq!(
        one(r#"{"ts":"2026-11-27T19:00:00Z","power_kw":1}"#)
            .unwrap()
            .ts,
        T0
    );
    assert_eq!(
        one(r#"{"ts":"2026-11-27T19:00:00.123Z","power_kw":1}"#)
            .unwrap()
            .ts,
        T0 + 123
    );
    assert_eq!(
        one(r#"{"ts":"2026-11-27T20:30:00+01:30","power_kw":1}"#)
            .unwrap()
            .ts,
        T0
    );
}

#[test]
fn epoch_milliseconds() {
    let r = one(&format!(r#"{{"ts":{T0},"energy_kwh":10}}"#)).unwrap();
    assert_eq!(
        r,
        Reading {
            ts: T0,
            power_kw: None,
            energy_kwh: Some(10.0),
            quality: Default::default(),
        }
    );
}

#[test]
fn integer_values_and_zero_are_taken() {
    let r = one(&format!(r#"{{"ts":{T0},"power_kw":0,"energy_kwh":-0.0}}"#)).unwrap();
    assert_eq!(r.power_kw, Some(0.0));
    assert!(r.energy_kwh.unwrap().is_sign_positive());
}

#[test]
fn unknown_fields_are_ignored() {
    let r = one(&format!(
        r#"{{"meta":{{"gw":"x","list":[1,2,{{"a":null}}]}},"ts":{T0},"voltage":230.1,"power_kw":5,"flag":true,"note":"ok"}}"#
    ))
    .unwrap();
    assert_eq!(
        r,
        Reading {
            ts: T0,
            power_kw: Some(5.0),
            energy_kwh: None,
            quality: Default::default(),
        }
    );
}

#[test]
fn array_elements_are_judged_each_on_its_own() {
    let payload = format!(
        r#"[{{"ts":{T0},"power_kw":1}}, 7, {{"power_kw":1}}, {{"ts":{T0},"power_kw":-1}}, [1], {{"ts":{},"energy_kwh":2}}]"#,
        T0 + 60_000
    );
    let v = decode_payload(payload.as_bytes()).unwrap();
    assert_eq!(v.len(), 6);
    assert_eq!(
        v[0],
        Ok(Reading {
            ts: T0,
            power_kw: Some(1.0),
            energy_kwh: None,
            quality: Default::default(),
        })
    );
    assert_eq!(v[1].as_ref().unwrap_err().0, Reason::Malformed);
    assert!(
        v[1].as_ref()
            .unwrap_err()
            .1
            .contains("must be a JSON object"),
        "{:?}",
        v[1]
    );
    assert_eq!(v[2].as_ref().unwrap_err().0, Reason::Malformed);
    assert!(v[2].as_ref().unwrap_err().1.contains("no \"ts\""));
    assert_eq!(v[3].as_ref().unwrap_err().0, Reason::InvalidValue);
    assert_eq!(v[4].as_ref().unwrap_err().0, Reason::Malformed);
    assert_eq!(
        v[5],
        Ok(Reading {
            ts: T0 + 60_000,
            power_kw: None,
            energy_kwh: Some(2.0),
            quality: Default::default(),
        })
    );
}

#[test]
fn empty_array_is_no_readings() {
    assert_eq!(decode_payload(b"[]").unwrap(), vec![]);
    assert_eq!(decode_payload(b" [ ] \n").unwrap(), vec![]);
}

#[test]
fn too_large() {
    let mut p = format!(r#"{{"ts":{T0},"power_kw":1,"pad":""#).into_bytes();
    p.resize(MAX_PAYLOAD + 1 - 2, b'x');
    p.extend_from_slice(b"\"}");
    assert_eq!(p.len(), MAX_PAYLOAD + 1);
    let (reason, msg) = whole(&p);
    assert_eq!(reason, Reason::TooLarge);
    assert!(msg.contains("65537"), "{msg}");
    // exactly 64 KiB is still taken
    p.remove(p.len() - 3);
    assert_eq!(p.len(), MAX_PAYLOAD);
    assert!(one(std::str::from_utf8(&p).unwrap()).is_ok());
}

#[test]
fn not_json_is_malformed_whole_message() {
    for p in [
        &b""[..],
        b"hello",
        b"{",
        b"{\"ts\":1",
        b"[{\"ts\":1},",
        b"{\"ts\":NaN}",
        b"\xff\xfe",
        b"{} {}",
        b"{\"power_kw\":Infinity}",
    ] {
        let (reason, msg) = whole(p);
        assert_eq!(reason, Reason::Malformed, "{p:?}");
        assert!(msg.starts_with("payload is not JSON"), "{msg}");
    }
}

/// A payload that is not UTF-8 is judged as before the one UTF-8 check of the whole payload:
/// invalid bytes in a string that is read (a field name, `ts`, `quality`) make it not JSON; in
/// the value of a field that is skipped they are not looked at, and the reading is taken.
#[test]
fn invalid_utf8_is_judged_where_it_is_read() {
    // `\u{1}` marks where the byte 0xff (never UTF-8) goes.
    let bytes = |p: String| -> Vec<u8> {
        p.into_bytes()
            .into_iter()
            .map(|b| if b == 1 { 0xff } else { b })
            .collect()
    };
    let v = decode_payload(&bytes(format!(
        "{{\"ts\":{T0},\"power_kw\":2,\"note\":\"\u{1}\"}}"
    )))
    .expect("taken");
    assert_eq!(v[0].as_ref().map(|r| r.power_kw), Ok(Some(2.0)));
    for bad in [
        format!("{{\"ts\":{T0},\"power_kw\":2,\"n\u{1}\":1}}"),
        format!("{{\"ts\":{T0},\"power_kw\":2,\"quality\":\"m\u{1}\"}}"),
        "{\"ts\":\"2026-11-28T03:00:00+08:00\u{1}\",\"power_kw\":2}".to_string(),
    ] {
        let (reason, msg) = whole(&bytes(bad));
        assert_eq!(reason, Reason::Malformed, "{msg}");
        assert!(msg.starts_with("payload is not JSON"), "{msg}");
    }
}

#[test]
fn json_that_is_neither_object_nor_array_is_malformed_whole_message() {
    for (p, kind) in [
        ("42", "a number"),
        ("\"x\"", "a string"),
        ("null", "null"),
        ("true", "a boolean"),
    ] {
        let (reason, msg) = whole(p.as_bytes());
        assert_eq!(reason, Reason::Malformed, "{p}");
        assert!(msg.ends_with(kind), "{p}: {msg}");
    }
}

#[test]
fn missing_ts() {
    assert_rejected(r#"{"power_kw":1}"#, Reason::Malformed, &["no \"ts\""]);
}

#[test]
fn ts_of_wrong_type() {
    for (ts, kind) in [
        ("true", "a boolean"),
        ("null", "null"),
        ("[1]", "an array"),
        ("{}", "an object"),
        ("1.5e12", "fraction"),
    ] {
        let p = format!(r#"{{"ts":{ts},"power_kw":1}}"#);
        assert_rejected(&p, Reason::Malformed, &[kind]);
    }
}

#[test]
fn ts_text_not_rfc3339_with_offset() {
    for ts in [
        "2026-11-28T03:00:00",
        "2026-11-28",
        "yesterday",
        "",
        "2026-13-01T00:00:00Z",
        "1764270000000",
    ] {
        let p = format!(r#"{{"ts":"{ts}","power_kw":1}}"#);
        assert_rejected(&p, Reason::Malformed, &["RFC 3339"]);
    }
}

#[test]
fn ts_before_2000_is_malformed_epoch_seconds_hint() {
    let p = r#"{"ts":1764270000,"power_kw":1}"#;
    assert_rejected(p, Reason::Malformed, &["epoch seconds sent by mistake?"]);
    assert_rejected(r#"{"ts":-5,"power_kw":1}"#, Reason::Malformed, &[]);
    let p = r#"{"ts":"1999-12-31T23:59:59.999Z","power_kw":1}"#;
    assert_rejected(p, Reason::Malformed, &[]);
    // the bound itself is taken
    assert_eq!(
        one(r#"{"ts":"2000-01-01T00:00:00Z","power_kw":1}"#)
            .unwrap()
            .ts,
        MIN_TS_MS
    );
    assert_eq!(
        one(&format!(r#"{{"ts":{MIN_TS_MS},"power_kw":1}}"#))
            .unwrap()
            .ts,
        MIN_TS_MS
    );
}

#[test]
fn ts_out_of_range_is_malformed() {
    for ts in [
        "18446744073709551615",
        "9223372036854775807",
        "123456789012345678901234567890",
        "1e999",
    ] {
        assert_rejected(
            &format!(r#"{{"ts":{ts},"power_kw":1}}"#),
            Reason::Malformed,
            &[],
        );
    }
}

#[test]
fn future_timestamps_are_left_to_the_engine() {
    assert!(one(r#"{"ts":"2099-01-01T00:00:00Z","power_kw":1}"#).is_ok());
}

#[test]
fn no_value_is_malformed() {
    for p in [
        format!(r#"{{"ts":{T0}}}"#),
        format!(r#"{{"ts":{T0},"power_kw":null,"energy_kwh":null}}"#),
        format!(r#"{{"ts":{T0},"power":1}}"#),
    ] {
        assert_rejected(&p, Reason::Malformed, &["neither"]);
    }
}

#[test]
fn value_of_wrong_type_is_malformed() {
    for v in [r#""12""#, "true", "[12]", r#"{"v":12}"#] {
        for field in ["power_kw", "energy_kwh"] {
            let p = format!(r#"{{"ts":{T0},"{field}":{v}}}"#);
            assert_rejected(&p, Reason::Malformed, &[field, "must be a number"]);
        }
    }
}

#[test]
fn wrong_type_wins_over_invalid_value() {
    let (r, _) = rejected(&format!(r#"{{"ts":{T0},"power_kw":"1","energy_kwh":-1}}"#));
    assert_eq!(r, Reason::Malformed);
    let (r, _) = rejected(r#"{"power_kw":-1}"#);
    assert_eq!(r, Reason::Malformed);
}

#[test]
fn negative_value_is_invalid() {
    for field in ["power_kw", "energy_kwh"] {
        let p = format!(r#"{{"ts":{T0},"{field}":-0.5}}"#);
        assert_rejected(&p, Reason::InvalidValue, &[field, "negative"]);
    }
    // one bad value refuses the whole reading
    let (r, _) = rejected(&format!(r#"{{"ts":{T0},"power_kw":3,"energy_kwh":-1}}"#));
    assert_eq!(r, Reason::InvalidValue);
}

#[test]
fn out_of_range_number_is_invalid_value() {
    for v in ["1e999", "-1e999", "1E400"] {
        let p = format!(r#"{{"ts":{T0},"energy_kwh":{v}}}"#);
        assert_rejected(&p, Reason::InvalidValue, &["not a finite number"]);
    }
    // in a batch, only that element
    let p = format!(
        r#"[{{"ts":{T0},"power_kw":1e999,"s":"1e999 \" 1e999"}},{{"ts":{T0},"power_kw":2.5e3}}]"#
    );
    let v = decode_payload(p.as_bytes()).unwrap();
    assert_eq!(v[0].as_ref().unwrap_err().0, Reason::InvalidValue);
    assert_eq!(
        v[1],
        Ok(Reading {
            ts: T0,
            power_kw: Some(2500.0),
            energy_kwh: None,
            quality: Default::default(),
        })
    );
    // a huge top-level number is still neither object nor array
    assert_eq!(whole(b"1e999").0, Reason::Malformed);
    assert_eq!(whole(b"[1e999, {").0, Reason::Malformed);
}

#[test]
fn duplicate_field_is_malformed() {
    let p = format!(r#"{{"ts":{T0},"power_kw":1,"power_kw":2}}"#);
    assert_rejected(&p, Reason::Malformed, &["twice"]);
}

#[test]
fn escaped_field_names_and_strings() {
    let r = one(r#"{"t\u0073":"2026-11-27T19:00:00\u005a","power\u005fkw":1}"#).unwrap();
    assert_eq!(r.ts, T0);
}

#[test]
fn large_batch_at_the_limit() {
    let mut items = Vec::new();
    let mut len = 2;
    let mut i = 0;
    loop {
        let item = format!(
            r#"{{"ts":{},"power_kw":{}.25,"energy_kwh":{}}}"#,
            T0 + i * 60_000,
            1000 + i,
            5000 + i
        );
        if len + item.len() + 1 > MAX_PAYLOAD {
            break;
        }
        len += item.len() + 1;
        items.push(item);
        i += 1;
    }
    let p = format!("[{}]", items.join(","));
    assert!(p.len() <= MAX_PAYLOAD && p.len() > MAX_PAYLOAD - 100);
    let v = decode_payload(p.as_bytes()).unwrap();
    assert_eq!(v.len(), items.len());
    for (k, r) in v.iter().enumerate() {
        let k = k as i64;
        assert_eq!(
            r,
            &Ok(Reading {
                ts: T0 + k * 60_000,
                power_kw: Some(1000.25 + k as f64),
                energy_kwh: Some(5000.0 + k as f64),
                quality: Default::default(),
            })
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_payload(&bytes);
    }

    #[test]
    fn never_panics_on_json_like_text(s in r#"[\[\]{}",:0-9eE.+\-a-z_\\ ]{0,200}"#) {
        let _ = decode_payload(s.as_bytes());
    }

    #[test]
    fn good_readings_round_trip(ts in MIN_TS_MS..4_000_000_000_000i64, p in 0.0f64..1e9, e in 0.0f64..1e12) {
        let payload = format!(r#"{{"ts":{ts},"power_kw":{p},"energy_kwh":{e}}}"#);
        let r = one(&payload).unwrap();
        prop_assert_eq!(r, Reading { ts, power_kw: Some(p), energy_kwh: Some(e), quality: Default::default() });
    }
}

#[test]
fn a_water_meter_reads_volume_m3_with_the_energy_rules() {
    let water = |p: &str| {
        let v = decode_payload_for(p.as_bytes(), Register::VolumeM3).expect("payload");
        v.into_iter().next().unwrap()
    };
    let r = water(&format!(
        r#"{{"ts": {T0}, "volume_m3": 48213.7, "power_kw": 5}}"#
    ))
    .unwrap();
    assert_eq!(
        r,
        Reading {
            ts: T0,
            power_kw: None,
            energy_kwh: Some(48213.7),
            quality: Default::default(),
        }
    );
    for (p, reason) in [
        (
            format!(r#"{{"ts": {T0}, "energy_kwh": 1}}"#),
            Reason::Malformed,
        ),
        (
            format!(r#"{{"ts": {T0}, "volume_m3": "1"}}"#),
            Reason::Malformed,
        ),
        (
            format!(r#"{{"ts": {T0}, "volume_m3": -1}}"#),
            Reason::InvalidValue,
        ),
        (
            format!(r#"{{"ts": {T0}, "volume_m3": 1e999}}"#),
            Reason::InvalidValue,
        ),
        (
            format!(r#"{{"ts": {T0}, "volume_m3": 1, "volume_m3": 2}}"#),
            Reason::Malformed,
        ),
    ] {
        assert_eq!(water(&p).unwrap_err().0, reason, "{p}");
    }
    // Arrays: each element judged as a water reading.
    let v = decode_payload_for(
        format!(r#"[{{"ts": {T0}, "volume_m3": 1}}, 3, {{"ts": {T0}, "power_kw": 1}}]"#).as_bytes(),
        Register::VolumeM3,
    )
    .unwrap();
    assert!(v[0].is_ok() && v[1].is_err() && v[2].is_err(), "{v:?}");
    // Other meters ignore volume_m3: alone it is no value.
    assert_eq!(
        rejected(&format!(r#"{{"ts": {T0}, "volume_m3": 1}}"#)).0,
        Reason::Malformed
    );
}

#[test]
fn quality_defaults_to_metered_and_takes_the_three_names() {
    let q = |p: &str| one(p).map(|r| r.quality);
    assert_eq!(
        q(r#"{"ts":1795806000000,"energy_kwh":1}"#),
        Ok(Quality::Metered)
    );
    for (name, want) in [
        ("metered", Quality::Metered),
        ("estimated", Quality::Estimated),
        ("manual", Quality::Manual),
    ] {
        let p = format!(r#"{{"ts":1795806000000,"energy_kwh":1,"quality":"{name}"}}"#);
        assert_eq!(q(&p), Ok(want), "{p}");
    }
    // a water meter's reading carries it too
    let v = decode_payload_for(
        br#"{"ts":1795806000000,"volume_m3":3,"quality":"manual"}"#,
        Register::VolumeM3,
    )
    .unwrap();
    assert_eq!(v[0].as_ref().map(|r| r.quality).ok(), Some(Quality::Manual));
}

#[test]
fn any_other_quality_is_malformed() {
    for bad in [
        r#""Estimated""#,
        r#""measured""#,
        r#""""#,
        "1",
        "true",
        "null",
        "[]",
        "{}",
    ] {
        let p = format!(r#"{{"ts":1795806000000,"energy_kwh":1,"quality":{bad}}}"#);
        assert_rejected(&p, Reason::Malformed, &["quality"]);
    }
    let (reason, _) =
        rejected(r#"{"ts":1795806000000,"energy_kwh":1,"quality":"manual","quality":"manual"}"#);
    assert_eq!(reason, Reason::Malformed, "a field given twice");
}
