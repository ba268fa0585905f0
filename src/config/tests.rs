use super::*;

pub(crate) const MINIMAL: &str = r#"
[[facility]]
id = "a-1"
name = "A"
city = "Nanchang"
tier = "core"
class = "large"
commissioned = "2023-06-01"
  [[facility.meter]]
  id = "grid"
  role = "total"
  [[facility.meter]]
  id = "it"
  role = "it"
"#;

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
