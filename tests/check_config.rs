//! `dcpue check-config` runs every check `serve` runs at start: a config it passes starts, and a
//! config `serve` rejects is rejected by it too, with the same error naming the file and line.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

/// A config whose `[storage]` and `[http]` are harmless (temp dir, any port), `front` first,
/// then `facility`.
fn config_with(dir: &Path, front: &str, facility: &FacilityToml) -> String {
    format!(
        "{front}\n[storage]\ndir = {:?}\n{facility}",
        dir.join("state").display().to_string()
    )
}

/// [`config_with`] facility `a-1`, with a `grid` (total) and an `it` meter.
fn config(dir: &Path, front: &str) -> String {
    config_with(dir, front, &facility("a-1").name("A").grid_and_it())
}

fn check_config(file: &Path) -> (bool, String) {
    let out = Command::new(dcpue_bin())
        .arg("check-config")
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `serve` on `file` until it exits (at most 30 s); its exit status and stderr.
fn serve(file: &Path, dir: &Path) -> (Option<i32>, String) {
    let log = dir.join("serve.err");
    let mut p = Proc::spawn(
        "dcpue serve",
        Command::new(dcpue_bin())
            .args(["serve", "--config"])
            .arg(file)
            // A port of its own, should it start (the file's value is checked first).
            .env("DCPUE_HTTP_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap()),
    );
    let code = eventually(Duration::from_secs(30), || {
        p.child.try_wait().ok().flatten().map(|s| s.code())
    });
    let err = std::fs::read_to_string(&log).unwrap_or_default();
    (code.unwrap_or(None), err)
}

#[test]
fn check_config_rejects_what_serve_rejects_with_the_same_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let missing = dir.join("missing").display().to_string();
    // A broker address nothing listens on, on purpose: the config is rejected before any
    // connection, and a broker there would change nothing.
    let unused_broker = format!("mqtt://127.0.0.1:{}", free_port());
    let cases = [
        (
            "password_file missing",
            format!("[mqtt]\nurl = {unused_broker:?}\nusername = \"u\"\npassword_file = {missing:?}\n"),
            4,
        ),
        (
            "ca_file missing",
            format!("[mqtt]\nurl = \"mqtts://127.0.0.1:8883\"\nca_file = {missing:?}\n"),
            3,
        ),
        (
            "client certificate missing",
            format!(
                "[mqtt]\nurl = \"mqtts://127.0.0.1:8883\"\nclient_cert_file = {missing:?}\nclient_key_file = {missing:?}\n"
            ),
            3,
        ),
        (
            "influxdb token_file missing",
            format!(
                "[mqtt]\nurl = {unused_broker:?}\n[influxdb]\nurl = \"http://127.0.0.1:8086\"\norg = \"o\"\nbucket = \"b\"\ntoken_file = {missing:?}\n"
            ),
            7,
        ),
        ("empty client_id", "[mqtt]\nclient_id = \"\"\n".to_string(), 2),
        (
            "listen not an address",
            "[http]\nlisten = \"not-an-addr\"\n".to_string(),
            2,
        ),
        (
            "topic_prefix with a wildcard",
            format!("[mqtt]\nurl = {unused_broker:?}\ntopic_prefix = \"p5/#\"\n"),
            3,
        ),
        (
            "a gateway source mapping a meter its facility does not have",
            format!(
                "[mqtt]\nurl = {unused_broker:?}\n[[source]]\nname = \"gw\"\nformat = \"neuron\"\n\
                 topic = \"/neuron/a-1/#\"\nfacility = \"a-1\"\n[[source.map]]\nkey = \"n/g/t\"\n\
                 meter = \"ups-9\"\nfield = \"energy_kwh\"\n"
            ),
            10,
        ),
        (
            "zero max_gap",
            format!("[mqtt]\nurl = {unused_broker:?}\n[engine]\nmax_gap = \"0m\"\n"),
            4,
        ),
    ];
    for (what, front, line) in cases {
        let file = dir.join("dcpue.toml");
        std::fs::write(&file, config(dir, &front)).unwrap();
        let at = format!("{}:{line}:", file.display());
        let (ok, err) = check_config(&file);
        assert!(!ok, "{what}: check-config passes it");
        assert!(err.contains(&at), "{what}: check-config names {at}: {err}");
        let (code, serve_err) = serve(&file, dir);
        assert!(
            matches!(code, Some(c) if c != 0),
            "{what}: serve rejects it at start ({code:?}): {serve_err}"
        );
        let first = err.lines().next().unwrap_or_default();
        assert!(
            serve_err.contains(first),
            "{what}: serve gives the same error {first:?}: {serve_err}"
        );
    }
}

#[test]
fn a_config_check_config_passes_is_served() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let pw = dir.join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let file = dir.join("dcpue.toml");
    // The broker: an address nothing listens on, on purpose (serve is healthy without it).
    // HTTP on port 0: the port it bound is read from its log.
    std::fs::write(
        &file,
        config(
            dir,
            &format!(
                "[mqtt]\nurl = \"mqtt://127.0.0.1:{}\"\nusername = \"u\"\npassword_file = {:?}\n[http]\nlisten = \"127.0.0.1:0\"\n",
                free_port(),
                pw.display().to_string()
            ),
        ),
    )
    .unwrap();
    let (ok, err) = check_config(&file);
    assert!(ok, "{err}");
    let mut p = Proc::spawn(
        "dcpue serve",
        Command::new(dcpue_bin())
            .args(["serve", "--config"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("serve.log")).unwrap()),
    );
    let log = || std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
    let port = eventually(Duration::from_secs(30), || serving_port(&log()))
        .unwrap_or_else(|| panic!("serve starts on a config check-config passed: {}", log()));
    let healthy = eventually(Duration::from_secs(30), || {
        http_get(&format!("http://127.0.0.1:{port}/healthz")).filter(|(s, _)| *s == 200)
    });
    assert!(
        healthy.is_some(),
        "serve starts on a config check-config passed"
    );
    assert_eq!(p.terminate(Duration::from_secs(20)), Some(0));
}

#[test]
fn a_value_from_the_environment_is_checked_and_named() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let file = dir.join("dcpue.toml");
    std::fs::write(&file, config(dir, "")).unwrap();
    let not_dir = dir.join("plain");
    std::fs::write(&not_dir, "").unwrap();
    let out = Command::new(dcpue_bin())
        .arg("check-config")
        .arg(&file)
        .env("DCPUE_STORAGE_DIR", not_dir.join("state"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("DCPUE_STORAGE_DIR") && err.contains("storage dir"),
        "{err}"
    );
}

/// `dcpue check-config FILE | head -1`: the reader goes away after one line; check-config
/// ends quietly (no panic, no "Broken pipe" message), as other command-line tools do.
#[test]
fn check_config_piped_into_head_ends_quietly() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/jiangxi.toml");
    let mut child = Command::new(dcpue_bin())
        .arg("check-config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run dcpue check-config");
    // Read nothing and close the pipe at once: every line it prints meets a closed pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
}

/// check-config lists each facility's KPI inputs (CONTRACT §14) and targets.
#[test]
fn check_config_lists_kpi_inputs_and_targets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kpi.toml");
    let kpi_facility = facility("a-1")
        .name("A")
        .key("wue_target = 1.4")
        .key("ref_target = 0.3")
        .raw("  [[facility.certificate]]\n  month = \"2026-05\"\n  mwh = 1200")
        .grid_and_it()
        .meter("cooling-water", "water")
        .meter("heat-out", "reused_heat")
        .meter_with("ppa", "renewable", "renewable_kind = \"ppa\"");
    let text = config_with(
        dir.path(),
        "[policy]\ngrid_emission_factor = 0.5703\n",
        &kpi_facility,
    );
    std::fs::write(&file, text).unwrap();
    let out = Command::new(dcpue_bin())
        .arg("check-config")
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for part in [
        "water: cooling-water",
        "reused_heat: heat-out",
        "renewable: ppa (ppa)",
        "certificates: 1 entries, 1200 MWh",
        "0.5703 kg CO2/kWh",
        "WUE ≤ 1.4 L/kWh",
        "REF ≥ 30%",
    ] {
        assert!(stdout.contains(part), "{part}:\n{stdout}");
    }
}
