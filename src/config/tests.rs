use super::*;
use chrono::NaiveDate;

pub(crate) use crate::config::fixture::MINIMAL;

#[test]
fn minimal_config_gets_contract_defaults() {
    let c = Config::parse(MINIMAL, "t.toml").unwrap();
    assert_eq!(c.mqtt.topic_prefix, "dc");
    assert_eq!(c.mqtt.qos, 1);
    assert_eq!(c.http.listen, "127.0.0.1:9184");
    assert_eq!(c.engine.min_coverage, 0.9);
    let names: Vec<_> = c.windows().into_iter().map(|w| w.name).collect();
    assert_eq!(names, ["15m", "1h", "24h", "30d", "365d"]);
    assert_eq!(c.compliance_window(), "365d");
    assert_eq!(c.ceiling(&c.facilities[0]), 1.3);
}

#[test]
fn ceiling_by_policy_date_and_class() {
    let mut c = Config::parse(MINIMAL, "t.toml").unwrap();
    let mut f = c.facilities[0].clone();
    f.commissioned = NaiveDate::from_ymd_opt(2022, 1, 29).unwrap();
    assert_eq!(c.ceiling(&f), 1.5, "existing facility: grade-3 bound");
    f.commissioned = NaiveDate::from_ymd_opt(2022, 1, 30).unwrap();
    assert_eq!(c.ceiling(&f), 1.3, "new on the policy date");
    f.class = Class::Medium;
    assert_eq!(c.ceiling(&f), 1.5, "medium is not held to 1.3");
    f.pue_ceiling = Some(1.25);
    assert_eq!(c.ceiling(&f), 1.25);
    c.policy.new_large_ceiling = 1.25;
    f.pue_ceiling = None;
    f.class = Class::UltraLarge;
    assert_eq!(c.ceiling(&f), 1.25, "ceiling lives in config");
    assert_eq!(c.grade(1.2), Some(1));
    assert_eq!(c.grade(1.3), Some(2));
    assert_eq!(c.grade(1.5), Some(3));
    assert_eq!(c.grade(1.51), None);
}

fn err_of(text: &str) -> String {
    Config::parse(text, "bad.toml").unwrap_err().to_string()
}

#[test]
fn errors_name_file_line_and_problem() {
    let dup = MINIMAL.replace("id = \"it\"", "id = \"grid\"");
    let e = err_of(&dup);
    assert!(e.starts_with("bad.toml:13:"), "{e}");
    assert!(e.contains("used twice"), "{e}");

    let e = err_of(&MINIMAL.replace("role = \"it\"", "role = \"cooling\""));
    assert!(e.starts_with("bad.toml:14:"), "{e}");

    let e = err_of(&MINIMAL.replace("role = \"it\"", "role = \"renewable\""));
    assert!(e.contains("no meter with role \"it\""), "{e}");
    assert!(e.starts_with("bad.toml:3:"), "{e}");

    let e = err_of(&format!(
        "[engine]\nwindows = [\"15m\", \"800d\"]\ncompliance_window = \"15m\"\n{MINIMAL}"
    ));
    assert!(
        e.starts_with("bad.toml:2:") && e.contains("longer than"),
        "{e}"
    );

    let e = err_of(&format!("[engine]\nmax_gap = \"5 minutes\"\n{MINIMAL}"));
    assert!(e.starts_with("bad.toml:2:"), "{e}");

    let e = err_of(&MINIMAL.replace("a-1", "A 1"));
    assert!(e.contains("[a-z0-9_-]+"), "{e}");

    let e = err_of(&format!("{MINIMAL}\n[[alert]]\nname = \"PueTooHigh\"\n"));
    assert!(e.contains("unknown alert"), "{e}");
}

#[test]
fn env_overrides_deployment_settings() {
    let mut c = Config::parse(MINIMAL, "t.toml").unwrap();
    c.apply_env(|k| match k {
        "DCPUE_MQTT_URL" => Some("mqtts://broker:8883".into()),
        "DCPUE_HTTP_LISTEN" => Some("0.0.0.0:9999".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(c.mqtt.url, "mqtts://broker:8883");
    assert_eq!(c.http.listen, "0.0.0.0:9999");
}

#[test]
fn checkpoint_every_from_the_file_or_the_environment() {
    let c = Config::parse(MINIMAL, "t.toml").unwrap();
    assert_eq!(c.storage.checkpoint_every.ms(), 600_000, "default 10m");

    let text = format!("[storage]\ncheckpoint_every = \"15m\"\n{MINIMAL}");
    let mut c = Config::parse(&text, "t.toml").unwrap();
    assert_eq!(c.storage.checkpoint_every.ms(), 900_000);
    c.apply_env(|k| (k == "DCPUE_STORAGE_CHECKPOINT_EVERY").then(|| "90s".to_string()))
        .unwrap();
    assert_eq!(c.storage.checkpoint_every.ms(), 90_000);

    let e = c
        .apply_env(|k| (k == "DCPUE_STORAGE_CHECKPOINT_EVERY").then(|| "ten".to_string()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("DCPUE_STORAGE_CHECKPOINT_EVERY") && e.contains("\"ten\""),
        "{e}"
    );
    assert_eq!(c.storage.checkpoint_every.ms(), 90_000, "unchanged");

    let text = format!("[storage]\ncheckpoint_every = \"500ms\"\n{MINIMAL}");
    let e = Config::parse(&text, "bad.toml").unwrap_err().to_string();
    assert!(e.starts_with("bad.toml:2:") && e.contains("1s"), "{e}");
}

#[test]
fn two_roles_for_on_site_pv() {
    let text = MINIMAL.replace("role = \"total\"", "role = [\"total\", \"renewable\"]");
    let c = Config::parse(&text, "t.toml").unwrap();
    assert!(c.facilities[0].meters[0].has_role(Role::Renewable));
    assert!(c.facilities[0].meters[0].has_role(Role::Total));
}

#[test]
fn http_access_names_known_facilities_and_needs_a_web_config() {
    let with = |http: &str| format!("[http]\n{http}\n{MINIMAL}");
    let ok = Config::parse(
        &with("web_config_file = \"web.yml\"\n[http.access]\n\"op\" = [\"a-1\"]\n"),
        "t.toml",
    )
    .unwrap();
    assert_eq!(ok.http.access["op"], ["a-1"]);
    let e = err_of(&with(
        "web_config_file = \"web.yml\"\n[http.access]\n\"op\" = [\"b-9\"]\n",
    ));
    assert_eq!(
        e,
        "bad.toml:4: [http.access] \"op\": unknown facility \"b-9\""
    );
    let e = err_of(&with("[http.access]\n\"op\" = [\"a-1\"]\n"));
    assert!(
        e.starts_with("bad.toml:3: [http.access] needs [http] web_config_file"),
        "{e}"
    );
}

/// `text` with `extra` (TOML tables) in front of the facility; the error it gives.
fn err_with(extra: &str) -> String {
    err_of(&format!("{extra}\n{MINIMAL}"))
}

#[test]
fn topic_prefix_with_a_wildcard_or_an_empty_level_is_an_error_naming_the_key() {
    for bad in ["p5/#", "p5/+", "#", "+/dc", "", "a//b", "/dc", "dc/"] {
        let e = err_with(&format!(
            "[mqtt]\nclient_id = \"x\"\ntopic_prefix = {bad:?}\n"
        ));
        assert!(
            e.starts_with("bad.toml:3:") && e.contains("mqtt.topic_prefix"),
            "{bad:?}: {e}"
        );
    }
    for good in ["dc", "site/jiangxi", "dc-2_b"] {
        let text = format!("[mqtt]\ntopic_prefix = {good:?}\n{MINIMAL}");
        assert_eq!(
            Config::parse(&text, "t.toml").unwrap().mqtt.topic_prefix,
            good
        );
    }
}

#[test]
fn a_zero_duration_is_an_error_naming_the_key_and_its_line() {
    let cases = [
        ("[engine]\nmin_coverage = 0.9\nmax_gap = \"0m\"\n", 3, "engine.max_gap"),
        ("[engine]\nmax_lag = \"0s\"\n", 2, "engine.max_lag"),
        ("[engine]\nstale_after = \"0ms\"\n", 2, "engine.stale_after"),
        ("[alerting]\nresend_every = \"0s\"\n", 2, "alerting.resend_every"),
        (
            "[influxdb]\nurl = \"http://i:8086\"\norg = \"o\"\nbucket = \"b\"\nwindow_every = \"0s\"\n",
            5,
            "influxdb.window_every",
        ),
    ];
    for (extra, line, key) in cases {
        let e = err_with(extra);
        assert!(
            e.starts_with(&format!("bad.toml:{line}:"))
                && e.contains(key)
                && e.contains("longer than 0"),
            "{key}: {e}"
        );
    }
    // A meter's own: the line of its key, in the right facility.
    let e = err_of(&MINIMAL.replace("  role = \"it\"\n", "  role = \"it\"\n  max_gap = \"0m\"\n"));
    assert!(
        e.starts_with("bad.toml:15:") && e.contains("max_gap"),
        "{e}"
    );
    // Where 0 means something it is taken: no lateness, an alert firing at once.
    let text = format!(
        "[engine]\nallowed_lateness = \"0m\"\n{MINIMAL}\n[[alert]]\nname = \"PueAboveCeiling\"\nwindow = \"24h\"\nfor = \"0m\"\n"
    );
    let c = Config::parse(&text, "t.toml").unwrap();
    assert_eq!(c.engine.allowed_lateness.ms(), 0);
    // Nor longer than the history kept.
    let e = err_with("[engine]\nmax_gap = \"400d\"\n");
    assert!(e.starts_with("bad.toml:2:") && e.contains("397d"), "{e}");
}

#[test]
fn ids_names_and_counts_are_bounded() {
    let long = "a".repeat(100_000);
    let e = err_of(&MINIMAL.replace("a-1", &long));
    assert!(
        e.starts_with("bad.toml:3:") && e.contains("at most 64"),
        "{}",
        &e[..200.min(e.len())]
    );
    assert!(
        e.len() < 300,
        "the error quotes a bounded part of the id: {} bytes",
        e.len()
    );
    let e = err_of(&MINIMAL.replace("\"grid\"", &format!("{:?}", "g".repeat(65))));
    assert!(
        e.starts_with("bad.toml:10:") && e.contains("meter id"),
        "{e}"
    );
    let ok = MINIMAL.replace("\"grid\"", &format!("{:?}", "g".repeat(64)));
    Config::parse(&ok, "t.toml").unwrap();

    let e = err_of(&MINIMAL.replace("name = \"A\"", &format!("name = {:?}", "南".repeat(257))));
    assert!(e.starts_with("bad.toml:4:") && e.contains("name"), "{e}");
    let e = err_of(&MINIMAL.replace("city = \"Nanchang\"", "city = \"Nan\\u0007chang\""));
    assert!(e.starts_with("bad.toml:5:") && e.contains("control"), "{e}");

    let facility = |i: usize| MINIMAL.replace("a-1", &format!("f{i}"));
    let many: String = (0..=limits::FACILITIES).map(facility).collect();
    let e = err_of(&many);
    assert!(e.contains("more than 256 [[facility]]"), "{e}");
    let fine: String = (0..limits::FACILITIES).map(facility).collect();
    assert_eq!(
        Config::parse(&fine, "t.toml").unwrap().facilities.len(),
        256
    );

    let meters: String = (0..=limits::METERS_PER_FACILITY)
        .map(|i| format!("  [[facility.meter]]\n  id = \"m{i}\"\n  role = \"it\"\n"))
        .collect();
    let e = err_of(&format!("{MINIMAL}{meters}"));
    assert!(e.contains("more than 256 meters"), "{e}");

    let windows: Vec<String> = (1..=17).map(|i| format!("\"{i}m\"")).collect();
    let e = err_with(&format!(
        "[engine]\ncompliance_window = \"1m\"\nwindows = [{}]\n",
        windows.join(", ")
    ));
    assert!(
        e.starts_with("bad.toml:3:") && e.contains("more than 16"),
        "{e}"
    );
}

#[test]
fn mqtt_and_http_settings_serve_rejects_are_errors_here() {
    let e = err_with("[mqtt]\nclient_id = \"\"\n");
    assert!(
        e.starts_with("bad.toml:2:") && e.contains("client_id"),
        "{e}"
    );
    let e = err_with("[http]\nlisten = \"not-an-addr\"\n");
    assert!(
        e.starts_with("bad.toml:2:") && e.contains("http.listen"),
        "{e}"
    );
    let e = err_with("[mqtt]\nurl = \"mqtt://broker:99999\"\n");
    assert!(e.starts_with("bad.toml:2:") && e.contains("port"), "{e}");
    let e =
        err_with("[alerting]\nwebhooks = [\n  \"https://ops.example/a\",\n  \"https://\",\n]\n");
    assert!(e.starts_with("bad.toml:4:"), "{e}");
    let e = err_with("[influxdb]\nurl = \"influx:8086\"\norg = \"o\"\nbucket = \"b\"\n");
    assert!(
        e.starts_with("bad.toml:2:") && e.contains("influxdb url"),
        "{e}"
    );
    for good in [
        "127.0.0.1:0",
        "[::1]:9184",
        "localhost:9184",
        "0.0.0.0:9184",
    ] {
        let text = format!("[http]\nlisten = {good:?}\n{MINIMAL}");
        Config::parse(&text, "t.toml").unwrap();
    }
}

#[test]
fn errors_point_at_the_key_not_the_first_place_its_name_appears() {
    // Two tables with a `url`: the mqtt one is wrong.
    let e = err_with(
        "[influxdb]\nurl = \"http://influx:8086\"\norg = \"o\"\nbucket = \"b\"\n\n[mqtt]\nurl = \"tcp://broker:1883\"\n",
    );
    assert!(e.starts_with("bad.toml:7:") && e.contains("mqtt"), "{e}");
    // The key's name in a comment above it.
    let e = err_with("# qos: 0, 1 or 2\n[mqtt]\nqos = 3\n");
    assert!(e.starts_with("bad.toml:3:"), "{e}");
    let e = err_with(
        "[engine]\n# min_coverage below 1: a little missing data is fine\nmin_coverage = 1.5\n",
    );
    assert!(e.starts_with("bad.toml:3:"), "{e}");
    // Two facilities with a meter of the same id: the second one's key.
    let two = format!(
        "{MINIMAL}{}",
        MINIMAL
            .replace("a-1", "b-1")
            .replace("  role = \"it\"\n", "  role = \"it\"\n  weight = 0.0\n")
    );
    let e = err_of(&two);
    assert!(e.starts_with("bad.toml:29:") && e.contains("weight"), "{e}");
    // Keys written inline or dotted.
    let e = err_with("mqtt = { url = \"mqtt://b\", qos = 7 }\n");
    assert!(e.starts_with("bad.toml:1:") && e.contains("qos"), "{e}");
    let e = err_with("[engine]\nwindows = [\n  \"15m\",\n  \"90s\",\n]\n");
    assert!(e.starts_with("bad.toml:4:"), "{e}");
}

#[test]
fn environment_values_are_checked_as_the_file_values_are() {
    let mut c = Config::parse(MINIMAL, "t.toml").unwrap();
    for (var, v) in [
        ("DCPUE_MQTT_URL", "http://broker"),
        ("DCPUE_MQTT_CLIENT_ID", ""),
        ("DCPUE_HTTP_LISTEN", "not-an-addr"),
    ] {
        let e = c
            .apply_env(|k| (k == var).then(|| v.to_string()))
            .unwrap_err()
            .to_string();
        assert!(e.contains(var), "{e}");
    }
    assert_eq!(c.mqtt.url, "mqtt://127.0.0.1:1883", "unchanged");
}

#[test]
fn a_bad_value_keeps_its_typed_cause_and_the_same_message() {
    let mut c = Config::parse(MINIMAL, "t.toml").unwrap();
    let e = c
        .apply_env(|k| (k == "DCPUE_MQTT_URL").then(|| "http://x".to_string()))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable DCPUE_MQTT_URL: mqtt url \"http://x\": must start with mqtt:// or mqtts://"
    );
    match &e {
        ConfigError::Env {
            source: ValueError::Url(cause),
            ..
        } => assert!(
            cause.is::<crate::config::broker_url::UrlError>(),
            "{cause:?}"
        ),
        other => panic!("{other:?}"),
    }

    let e = Config::parse(
        &format!("[http]\nheader_timeout = \"2h\"\n{MINIMAL}"),
        "t.toml",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.toml:2: header_timeout 2h must be more than 0 and at most 1h"
    );
    assert!(
        matches!(
            e,
            ConfigError::Value {
                line: 2,
                source: ValueError::HeaderTimeout(_),
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn engine_max_power_kw_defaults_to_a_gigawatt_and_must_be_positive() {
    let c = Config::parse(MINIMAL, "t.toml").unwrap();
    assert_eq!(c.engine.max_power_kw, 1_000_000.0);
    let c = Config::parse(
        &format!("[engine]\nmax_power_kw = 5000\n{MINIMAL}"),
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.engine.max_power_kw, 5000.0);
    for bad in ["0", "-1", "inf", "nan"] {
        let e = err_of(&format!("[engine]\nmax_power_kw = {bad}\n{MINIMAL}"));
        assert!(
            e.starts_with("bad.toml:2:") && e.contains("max_power_kw"),
            "{bad}: {e}"
        );
    }
}
