//! Who may publish and who may read (CONTRACT §11), against real servers started here on free
//! loopback ports, with certificates made by `openssl`:
//! - Mosquitto with `password_file`, the `acl_file` printed by `dcpue broker-acl`, and TLS
//!   listeners: a facility's gateway cannot put a reading into another facility's topics, and
//!   dcpue connects over TLS with its own user (and a client certificate);
//! - `dcpue serve` with a Prometheus web config (TLS, bcrypt users) and `[http.access]`: every row
//!   of §11 checked with `curl --cacert`, a real Prometheus scraping `/metrics` over TLS with
//!   `basic_auth`, and headless Chromium loading the page as a scoped operator.

#[path = "support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{current_user, dcpue_bin, eventually, metric_value, which, Proc, TEST_FACILITIES};

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A test CA, a server certificate for 127.0.0.1 and a client certificate, made by openssl.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn make(dir: &Path) -> Certs {
        let dir = dir.join("pki");
        std::fs::create_dir_all(&dir).expect("pki dir");
        support::make_certs(
            &dir,
            &[
                (
                    "server",
                    "server",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
                ),
                ("client", "client", "extendedKeyUsage=clientAuth\n"),
            ],
        );
        Certs { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

// ---------------------------------------------------------------------------------------------
// MQTT: Mosquitto with password_file, dcpue's acl_file and TLS.

/// Mosquitto as `deploy/mosquitto/mosquitto.conf` ships it (TLS listener `port`, password_file,
/// acl_file, no anonymous access, the no-loss settings), plus a second TLS listener `cert_port`
/// that requires a client certificate (signed by the test CA) on top of the password.
struct SecureBroker {
    cert_port: u16,
    port: u16,
    dir: PathBuf,
    _proc: Proc,
}

impl SecureBroker {
    fn start(dir: &Path, certs: &Certs, users: &[(&str, &str)], acl: &str) -> SecureBroker {
        let passwd = dir.join("passwd");
        for (i, (user, password)) in users.iter().enumerate() {
            let mut cmd = Command::new(which("mosquitto_passwd"));
            if i == 0 {
                cmd.arg("-c");
            }
            run(cmd.arg("-b").arg(&passwd).arg(user).arg(password));
        }
        std::fs::write(dir.join("acl"), acl).expect("acl");
        let tls = format!(
            "cafile {}\ncertfile {}\nkeyfile {}\n",
            certs.path("ca.crt").display(),
            certs.path("server.crt").display(),
            certs.path("server.key").display()
        );
        // The shipped sample (deploy/mosquitto/mosquitto.conf), its paths and port made local;
        // plus a second TLS listener that also requires a client certificate.
        let sample = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/mosquitto/mosquitto.conf"),
        )
        .expect("read deploy/mosquitto/mosquitto.conf");
        // Started once it listens on both ports itself, on new ones when it could not bind.
        let (ports, proc) = support::start_listening_on(
            "mosquitto",
            2,
            |ports: &[u16]| {
                let (port, cert_port) = (ports[0], ports[1]);
                let mut conf = format!("user {}\nlog_dest stderr\n{sample}", current_user());
                for (from, to) in [
                    ("/etc/mosquitto/passwd", passwd.display().to_string()),
                    (
                        "/etc/mosquitto/dcpue.acl",
                        dir.join("acl").display().to_string(),
                    ),
                    (
                        "/etc/mosquitto/certs/ca.crt",
                        certs.path("ca.crt").display().to_string(),
                    ),
                    (
                        "/etc/mosquitto/certs/server.crt",
                        certs.path("server.crt").display().to_string(),
                    ),
                    (
                        "/etc/mosquitto/certs/server.key",
                        certs.path("server.key").display().to_string(),
                    ),
                    ("/var/lib/mosquitto/", format!("{}/", dir.display())),
                    ("listener 8883\n", format!("listener {port} 127.0.0.1\n")),
                ] {
                    assert!(
                        conf.contains(from),
                        "the sample mosquitto.conf has no {from:?}"
                    );
                    conf = conf.replace(from, &to);
                }
                conf.push_str(&format!(
                    "\nlistener {cert_port} 127.0.0.1\n{tls}require_certificate true\n"
                ));
                std::fs::write(dir.join("mosquitto.conf"), conf).expect("conf");
                let log = std::fs::File::create(dir.join("mosquitto.log")).expect("log");
                let mut c = Command::new(which("mosquitto"));
                c.arg("-c")
                    .arg(dir.join("mosquitto.conf"))
                    .stdout(Stdio::null())
                    .stderr(log);
                c
            },
            Duration::from_secs(10),
        );
        let (port, cert_port) = (ports[0], ports[1]);
        SecureBroker {
            cert_port,
            port,
            dir: dir.to_path_buf(),
            _proc: proc,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }

    /// mosquitto_pub over TLS as `user` (MQTT 5, so a refused publish is reported, not
    /// swallowed); returns its output.
    fn publish(
        &self,
        certs: &Certs,
        user: &str,
        password: &str,
        topic: &str,
        payload: &str,
    ) -> Output {
        Command::new(which("mosquitto_pub"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("--cafile")
            .arg(certs.path("ca.crt"))
            .args(["-u", user, "-P", password, "-V", "mqttv5", "-q", "1"])
            .args(["-t", topic, "-m", payload])
            .output()
            .expect("mosquitto_pub")
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339()
}

/// A plain (no-auth) HTTP GET of a dcpue on 127.0.0.1.
fn metrics_of(http_port: u16) -> String {
    support::http_get(&format!("http://127.0.0.1:{http_port}/metrics"))
        .map(|(_, b)| b)
        .unwrap_or_default()
}

fn sum_of(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

#[test]
fn a_facility_cannot_publish_into_another_facilitys_topics() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let certs = Certs::make(tmp.path());
    let client_id = format!("dcpue-acl-{}", support::unique());
    std::fs::write(tmp.path().join("dcpue.pass"), "dcpue-secret\n").expect("pass");

    // The dcpue config first: `broker-acl` reads it (dcpue's user is its [mqtt] username).
    let config = tmp.path().join("dcpue.toml");
    let write_config = |broker_port: u16| {
        let text = format!(
            "[mqtt]\nurl = \"mqtts://127.0.0.1:{broker_port}\"\nclient_id = \"{client_id}\"\n\
             topic_prefix = \"dc\"\nqos = 1\nusername = \"dcpue\"\npassword_file = \"{pass}\"\n\
             ca_file = \"{ca}\"\nclient_cert_file = \"{cc}\"\nclient_key_file = \"{ck}\"\n\n\
             [http]\nlisten = \"127.0.0.1:0\"\n\n[storage]\ndir = \"{state}\"\n\n{TEST_FACILITIES}",
            pass = tmp.path().join("dcpue.pass").display(),
            ca = certs.path("ca.crt").display(),
            cc = certs.path("client.crt").display(),
            ck = certs.path("client.key").display(),
            state = tmp.path().join("state").display(),
        );
        std::fs::write(&config, text).expect("config");
    };
    write_config(1);
    let acl = run(Command::new(dcpue_bin())
        .args(["broker-acl", "--config"])
        .arg(&config));
    let acl = String::from_utf8(acl.stdout).expect("utf-8 acl");
    assert!(acl.contains("user f1\ntopic write dc/f1/#"), "{acl}");

    let broker = SecureBroker::start(
        tmp.path(),
        &certs,
        &[
            ("dcpue", "dcpue-secret"),
            ("f1", "f1-secret"),
            ("f2", "f2-secret"),
        ],
        &acl,
    );
    // dcpue on the listener that wants a client certificate and its password.
    write_config(broker.cert_port);
    let log = std::fs::File::create(tmp.path().join("dcpue.log")).expect("log");
    let _dcpue = Proc::spawn(
        "dcpue",
        Command::new(dcpue_bin())
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log),
    );
    let dcpue_log = || std::fs::read_to_string(tmp.path().join("dcpue.log")).unwrap_or_default();
    // Port 0: the port it bound, from its log.
    let http_port = eventually(Duration::from_secs(30), || {
        support::serving_port(&dcpue_log())
    })
    .unwrap_or_else(|| panic!("dcpue did not serve: {}\n{}", dcpue_log(), broker.log()));
    let ready = eventually(Duration::from_secs(30), || {
        support::http_get(&format!("http://127.0.0.1:{http_port}/readyz"))
            .filter(|(s, _)| *s == 200)
    });
    assert!(
        ready.is_some(),
        "dcpue did not subscribe over TLS as its own user: {}\n{}",
        dcpue_log(),
        broker.log()
    );
    assert_eq!(
        metric_value(&metrics_of(http_port), "dcpue_mqtt_connected"),
        Some(1.0)
    );

    // f1's credentials, f2's topic: the broker refuses it.
    let reading = format!(r#"{{"ts":"{}","energy_kwh":100.0}}"#, now_rfc3339());
    let out = broker.publish(&certs, "f1", "f1-secret", "dc/f2/grid", &reading);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("Not authorized"),
        "broker took f1's publish into f2: {said}"
    );
    // f1 into its own topic: accepted. It went after the refused one, on the same broker, so once
    // dcpue has it, the refused one would have arrived before it.
    let out = broker.publish(&certs, "f1", "f1-secret", "dc/f1/grid", &reading);
    assert!(out.status.success(), "{out:?}");
    let accepted = eventually(Duration::from_secs(20), || {
        metric_value(
            &metrics_of(http_port),
            r#"dcpue_readings_accepted_total{facility="f1"}"#,
        )
        .filter(|v| *v >= 1.0)
    });
    assert_eq!(accepted, Some(1.0), "f1's own reading: {}", dcpue_log());
    let m = metrics_of(http_port);
    assert_eq!(
        sum_of(&m, r#"dcpue_readings_accepted_total{facility="f2"}"#),
        0.0,
        "f2's accepted counter moved:\n{m}"
    );
    assert_eq!(
        sum_of(&m, "dcpue_readings_rejected_total{"),
        0.0,
        "a rejected counter moved:\n{m}"
    );
    // And a wrong password is no way in either.
    let out = broker.publish(&certs, "f1", "wrong", "dc/f1/grid", &reading);
    assert!(!out.status.success(), "a wrong password was let in");
}

// ---------------------------------------------------------------------------------------------
// HTTP: TLS and users from a Prometheus web config, scopes from [http.access].

const REGULATOR: (&str, &str) = ("regulator", "reg-pass-1");
const OPERATOR: (&str, &str) = ("op-nanchang", "op-pass-2");

/// `dcpue serve` on the seven facilities of config/jiangxi.toml, with a web config (TLS and two
/// users) and the operator scoped to nanchang-1. The broker is a plain Mosquitto: this part is
/// about HTTP.
struct SecureDcpue {
    port: u16,
    dir: tempfile::TempDir,
    certs: Certs,
    _broker: support::Mosquitto,
    _proc: Proc,
}

impl SecureDcpue {
    fn start() -> SecureDcpue {
        SecureDcpue::start_with("")
    }

    /// `tls_extra`: more `tls_server_config` lines (indented two spaces).
    fn start_with(tls_extra: &str) -> SecureDcpue {
        SecureDcpue::start_full(tls_extra, "")
    }

    /// `http_extra`: more `[http]` lines.
    fn start_full(tls_extra: &str, http_extra: &str) -> SecureDcpue {
        let dir = tempfile::tempdir().expect("tempdir");
        let certs = Certs::make(dir.path());
        let broker = support::Mosquitto::start();
        // Port 0: the port it bound is read from its log.
        let port = 0;
        // Paths in the web config are relative to it, as for node_exporter.
        std::fs::write(
            dir.path().join("web.yml"),
            format!(
                "tls_server_config:\n  cert_file: pki/server.crt\n  key_file: pki/server.key\n\
                 {tls_extra}basic_auth_users:\n  {}: '{}'\n  {}: '{}'\n",
                REGULATOR.0,
                bcrypt::hash(REGULATOR.1, 6).expect("bcrypt"),
                OPERATOR.0,
                bcrypt::hash(OPERATOR.1, 6).expect("bcrypt"),
            ),
        )
        .expect("web.yml");
        let layout = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("config/jiangxi.toml"),
        )
        .expect("config/jiangxi.toml");
        let text = layout
            .replacen(
                "url = \"mqtt://127.0.0.1:1883\"",
                &format!("url = \"{}\"", broker.url()),
                1,
            )
            .replacen(
                "client_id = \"dcpue-jiangxi-1\"",
                &format!("client_id = \"dcpue-auth-{}\"", support::unique()),
                1,
            )
            .replacen(
                "listen = \"127.0.0.1:9184\"",
                &format!(
                    "listen = \"127.0.0.1:{port}\"\nweb_config_file = \"{}\"\n{http_extra}",
                    dir.path().join("web.yml").display()
                ),
                1,
            )
            .replacen(
                "dir = \"data\"",
                &format!("dir = \"{}\"", dir.path().join("state").display()),
                1,
            )
            + &format!("\n[http.access]\n\"{}\" = [\"nanchang-1\"]\n", OPERATOR.0);
        assert!(
            text.contains(&format!("127.0.0.1:{port}")),
            "layout changed"
        );
        let config = dir.path().join("dcpue.toml");
        std::fs::write(&config, text).expect("config");
        let log = std::fs::File::create(dir.path().join("dcpue.log")).expect("log");
        let proc = Proc::spawn(
            "dcpue",
            Command::new(dcpue_bin())
                .args(["serve", "--config"])
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(log),
        );
        let log = || std::fs::read_to_string(dir.path().join("dcpue.log")).unwrap_or_default();
        let port = eventually(Duration::from_secs(30), || support::serving_port(&log()))
            .unwrap_or_else(|| panic!("dcpue did not serve: {}", log()));
        let d = SecureDcpue {
            port,
            dir,
            certs,
            _broker: broker,
            _proc: proc,
        };
        assert!(
            eventually(Duration::from_secs(30), || (d
                .curl_with(None, "/readyz", &d.client_cert_args())
                .0
                == 200)
                .then_some(()))
            .is_some(),
            "dcpue did not serve https: {}",
            d.log()
        );
        d
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dcpue.log")).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// curl's arguments to offer the test client certificate (when the server asks for one).
    fn client_cert_args(&self) -> Vec<std::ffi::OsString> {
        vec![
            "--cert".into(),
            self.certs.path("client.crt").into(),
            "--key".into(),
            self.certs.path("client.key").into(),
        ]
    }

    /// `curl --cacert` (the test CA: the certificate is checked) → (status, headers, body).
    fn curl_full(&self, user: Option<(&str, &str)>, path: &str) -> (u16, String, String) {
        self.curl_with(user, path, &[])
    }

    /// As `curl_full`, with more curl arguments; status 0 when no HTTP answer came.
    fn curl_with(
        &self,
        user: Option<(&str, &str)>,
        path: &str,
        extra: &[std::ffi::OsString],
    ) -> (u16, String, String) {
        let headers = self
            .dir
            .path()
            .join(format!("headers-{}", support::unique()));
        let mut cmd = Command::new(which("curl"));
        cmd.args(["-sS", "--max-time", "20", "-o", "-", "-D"])
            .arg(&headers)
            .args(["-w", "\n%{http_code}"])
            .arg("--cacert")
            .arg(self.certs.path("ca.crt"));
        if let Some((u, p)) = user {
            cmd.args(["-u", &format!("{u}:{p}")]);
        }
        cmd.args(extra);
        let out = cmd.arg(self.url(path)).output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        let head = std::fs::read_to_string(&headers).unwrap_or_default();
        let _ = std::fs::remove_file(&headers);
        (code.trim().parse().unwrap_or(0), head, body.to_string())
    }

    fn curl(&self, user: Option<(&str, &str)>, path: &str) -> (u16, String) {
        let (code, _, body) = self.curl_full(user, path);
        (code, body)
    }

    fn json(&self, user: (&str, &str), path: &str) -> Value {
        let (code, body) = self.curl(Some(user), path);
        assert_eq!(code, 200, "GET {path} as {}: {body}", user.0);
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    fn auth_failures(&self) -> Option<f64> {
        let (code, body) = self.curl(Some(REGULATOR), "/metrics");
        assert_eq!(code, 200, "{body}");
        metric_value(&body, "dcpue_http_auth_failures_total")
    }
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .filter_map(|f| f["id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn http_users_and_scopes_as_contract_section_11_says() {
    let d = SecureDcpue::start();

    // No credentials: 401 with the Basic challenge (probes stay open).
    let (code, head, _) = d.curl_full(None, "/api/v1/facilities");
    assert_eq!(code, 401);
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: basic realm=\"dcpue\""),
        "{head}"
    );
    for path in [
        "/",
        "/metrics",
        "/api/v1/alerts",
        "/api/v1/facilities/nanchang-1",
    ] {
        assert_eq!(d.curl(None, path).0, 401, "{path}");
    }
    assert_eq!(d.curl(None, "/healthz").0, 200);

    // Wrong password (and an unknown user): 401, counted.
    assert_eq!(d.auth_failures(), Some(0.0));
    assert_eq!(
        d.curl(Some((REGULATOR.0, "nope")), "/api/v1/facilities").0,
        401
    );
    assert_eq!(d.curl(Some(("mallory", REGULATOR.1)), "/metrics").0, 401);
    assert_eq!(d.auth_failures(), Some(2.0));

    // The regulator sees all seven facilities, and /metrics.
    let all = ids(&d.json(REGULATOR, "/api/v1/facilities"));
    assert_eq!(all.len(), 7, "{all:?}");
    assert!(all.contains(&"jiujiang-1".to_string()));
    assert_eq!(
        d.json(REGULATOR, "/api/v1/facilities/jiujiang-1")["id"],
        "jiujiang-1"
    );

    // The operator sees only nanchang-1: 404 on another facility's paths, 403 on /metrics.
    assert_eq!(ids(&d.json(OPERATOR, "/api/v1/facilities")), ["nanchang-1"]);
    assert_eq!(
        d.json(OPERATOR, "/api/v1/facilities/nanchang-1")["id"],
        "nanchang-1"
    );
    for path in [
        "/api/v1/facilities/jiujiang-1",
        "/api/v1/facilities/jiujiang-1/series?window=24h",
    ] {
        assert_eq!(d.curl(Some(OPERATOR), path).0, 404, "{path}");
    }
    assert_eq!(
        d.curl(
            Some(OPERATOR),
            "/api/v1/facilities/nanchang-1/series?window=24h"
        )
        .0,
        200
    );
    assert_eq!(d.curl(Some(OPERATOR), "/metrics").0, 403);
    assert!(d.json(OPERATOR, "/api/v1/alerts").is_array());
    assert!(d.json(OPERATOR, "/api/v1/alerts/history").is_array());
    assert_eq!(d.curl(Some(OPERATOR), "/").0, 200);
    // A right login is not a failure.
    assert_eq!(d.auth_failures(), Some(2.0));

    // Plain HTTP on the TLS port gets nothing.
    let plain = support::http_get(&format!("http://127.0.0.1:{}/healthz", d.port));
    assert!(
        plain.as_ref().is_none_or(|(code, _)| *code != 200),
        "served plain HTTP: {plain:?}"
    );
}

#[test]
fn prometheus_scrapes_over_tls_with_basic_auth() {
    let d = SecureDcpue::start();
    let prom_dir = d.dir.path().join("prometheus");
    std::fs::create_dir_all(&prom_dir).expect("prometheus dir");
    let scrape = |name: &str, user: (&str, &str)| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    scrape_interval: 1s\n    \
             basic_auth:\n      username: {}\n      password: {}\n    tls_config:\n      \
             ca_file: {}\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            user.0,
            user.1,
            d.certs.path("ca.crt").display(),
            d.port
        )
    };
    std::fs::write(
        prom_dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n{}{}",
            scrape("dcpue", REGULATOR),
            scrape("scoped", OPERATOR)
        ),
    )
    .expect("prometheus.yml");
    // Started once it listens itself, on a new port when it could not bind.
    let (port, _prom) = support::start_listening(
        "prometheus",
        |port| {
            let mut c = Command::new(which("prometheus"));
            c.arg(format!(
                "--config.file={}",
                prom_dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                prom_dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
            c
        },
        Duration::from_secs(30),
    );
    let health = |job: &str| {
        let (_, body) = support::http_get(&format!("http://127.0.0.1:{port}/api/v1/targets"))
            .unwrap_or_default();
        let v: Value = serde_json::from_str(&body).ok()?;
        v["data"]["activeTargets"]
            .as_array()?
            .iter()
            .find(|t| t["labels"]["job"] == job)
            .and_then(|t| {
                let h = t["health"].as_str()?;
                let err = t["lastError"].as_str()?.to_string();
                (h != "unknown").then(|| (h.to_string(), err))
            })
    };
    let up = eventually(Duration::from_secs(60), || {
        health("dcpue").filter(|(h, _)| h == "up")
    });
    assert!(
        up.is_some(),
        "target not up: {:?}\n{}",
        health("dcpue"),
        d.log()
    );
    // A scoped user's scrape is refused (403), so Prometheus reports the target down.
    let scoped = eventually(Duration::from_secs(30), || health("scoped"));
    let (h, err) = scoped.expect("scoped target scraped");
    assert_eq!(h, "down", "{err}");
    assert!(err.contains("403"), "{err}");
}

/// Headless Chromium dumps the page's DOM after its scripts ran (`--virtual-time-budget`).
fn page_dom(url: &str, profile: &Path) -> String {
    let out = Command::new(which("chromium"))
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--ignore-certificate-errors",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .stderr(Stdio::null())
        .output()
        .expect("chromium");
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn cards(dom: &str) -> Vec<String> {
    dom.split("data-testid=\"facility-card\" data-facility=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next().map(str::to_string))
        .collect()
}

#[test]
fn the_page_behind_basic_auth_shows_only_what_its_user_may_see() {
    let d = SecureDcpue::start();
    let with = |(u, p): (&str, &str)| format!("https://{u}:{p}@127.0.0.1:{}/", d.port);
    let profile = tempfile::tempdir().expect("profile");
    let dom = page_dom(&with(REGULATOR), profile.path());
    let seen = cards(&dom);
    assert_eq!(seen.len(), 7, "the regulator's page: {seen:?}\n{dom}");

    let profile = tempfile::tempdir().expect("profile");
    let dom = page_dom(&with(OPERATOR), profile.path());
    assert_eq!(cards(&dom), ["nanchang-1"], "the operator's page:\n{dom}");
}

#[test]
fn check_config_loads_the_web_config_and_warns_beyond_loopback() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let certs = Certs::make(tmp.path());
    let check = |listen: &str, web: Option<&str>| {
        let mut http = format!("listen = \"{listen}\"\n");
        if let Some(w) = web {
            std::fs::write(tmp.path().join("web.yml"), w).expect("web.yml");
            http += &format!(
                "web_config_file = \"{}\"\n",
                tmp.path().join("web.yml").display()
            );
        }
        let config = tmp.path().join("c.toml");
        std::fs::write(&config, format!("[http]\n{http}\n{TEST_FACILITIES}")).expect("config");
        let out = Command::new(dcpue_bin())
            .arg("check-config")
            .arg(&config)
            .output()
            .expect("check-config");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (ok, err) = check("0.0.0.0:9184", None);
    assert!(ok, "{err}");
    assert!(
        err.contains("warning: http listens on 0.0.0.0:9184, beyond loopback, without basic_auth_users and without TLS"),
        "{err}"
    );
    let (ok, err) = check("127.0.0.1:9184", None);
    assert!(ok && !err.contains("warning"), "{err}");

    let cert = certs.path("server.crt");
    let key = certs.path("server.key");
    let hash = bcrypt::hash("pw", 4).expect("bcrypt");
    let full = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  a: '{hash}'\n",
        cert.display(),
        key.display()
    );
    let (ok, err) = check("0.0.0.0:9184", Some(&full));
    assert!(ok && !err.contains("warning"), "{err}");
    let (ok, err) = check(
        "0.0.0.0:9184",
        Some(&format!("basic_auth_users:\n  a: '{hash}'\n")),
    );
    assert!(ok && err.contains("without TLS"), "{err}");
    // A verified client certificate is proof of who a client is, too.
    let certs_only = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_ca_file: {}\n  \
         client_auth_type: RequireAndVerifyClientCert\n",
        cert.display(),
        key.display(),
        certs.path("ca.crt").display()
    );
    let (ok, err) = check("0.0.0.0:9184", Some(&certs_only));
    assert!(ok && !err.contains("warning"), "{err}");

    // A broken file stops it, naming the file and what is wrong.
    let (ok, err) = check(
        "127.0.0.1:9184",
        Some("basic_auth_users:\n  a: plaintext\n"),
    );
    assert!(
        !ok && err.contains("web.yml") && err.contains("not a bcrypt hash"),
        "{err}"
    );
    let (ok, err) = check(
        "127.0.0.1:9184",
        Some(&format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: missing.key\n",
            cert.display()
        )),
    );
    assert!(!ok && err.contains("missing.key"), "{err}");
}

#[test]
fn http_client_certificates_as_in_exporter_toolkit() {
    let d = SecureDcpue::start_with(
        "  client_ca_file: pki/ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n",
    );
    let with_cert = d.client_cert_args();
    let (code, _, body) = d.curl_with(Some(REGULATOR), "/api/v1/facilities", &with_cert);
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(ids(&v).len(), 7);
    // Still Basic auth on top of the certificate.
    assert_eq!(d.curl_with(None, "/api/v1/facilities", &with_cert).0, 401);
    // No certificate: the TLS handshake fails, no HTTP answer at all.
    assert_eq!(d.curl(Some(REGULATOR), "/healthz").0, 0);
}

/// A client that opens a connection and never starts (or never finishes) its TLS handshake is
/// dropped within `[http] header_timeout`, as one that never sends its headers (CONTRACT §10),
/// and holds no one else up meanwhile.
#[test]
fn a_stalled_tls_handshake_is_dropped_within_the_header_timeout() {
    use std::io::Read;
    let d = SecureDcpue::start_full("", "header_timeout = \"2s\"");
    let mut idle = std::net::TcpStream::connect(("127.0.0.1", d.port)).expect("connect");
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    let started = std::time::Instant::now();
    // Others are served while it stalls.
    assert_eq!(d.curl(Some(REGULATOR), "/api/v1/facilities").0, 200);
    let mut buf = [0u8; 1];
    let n = idle.read(&mut buf);
    let waited = started.elapsed();
    assert!(
        matches!(n, Ok(0)) || n.is_err() && waited < Duration::from_secs(15),
        "the server closed the stalled connection: {n:?} after {waited:?}"
    );
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(15),
        "closed after the 2 s header_timeout, not before and not never: {waited:?}"
    );
}
