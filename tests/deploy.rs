//! The files in deploy/ are what operators install: they must be accepted by the real tools.

mod support;

use std::process::Command;

use support::{dcpue_bin, which};

/// `systemd-analyze verify` accepts the shipped unit (with ExecStart pointing at the built
/// binary, since verify checks that it exists) and prints no warning: an unknown or misplaced
/// key is only a warning to systemd, silently dropping that piece of hardening.
#[test]
fn systemd_unit_verifies_without_warnings() {
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd/dcpue.service"),
    )
    .expect("read deploy/systemd/dcpue.service");
    for key in [
        "User=dcpue",
        "ProtectSystem=strict",
        "StateDirectory=dcpue",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
    ] {
        assert!(unit.lines().any(|l| l == key), "unit lacks {key}");
    }
    let exec = "/usr/local/bin/dcpue";
    assert!(unit.contains(&format!("ExecStart={exec} serve --config ")));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("dcpue.service");
    std::fs::write(
        &path,
        unit.replace(exec, &dcpue_bin().display().to_string()),
    )
    .expect("write unit");
    let out = Command::new(which("systemd-analyze"))
        .arg("verify")
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
}
