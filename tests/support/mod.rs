//! Shared helpers for integration tests: real servers started as child processes (killed when
//! dropped) on loopback ports, and waiting for them. Each test gets its own servers.
//!
//! Ports: `dcpue serve` listens on `127.0.0.1:0` and the test reads the port it bound from its
//! log. An external server that must be given a port (Mosquitto, VictoriaMetrics, Alertmanager,
//! Prometheus) is started by [`start_listening`] ([`start_listening_on`] for several ports): on
//! a port found free, and again on another one when the server could not bind it (another
//! process took it meanwhile); it counts as started only once *its own* process listens on the
//! port (checked in /proc), never because something answers.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A TCP port on 127.0.0.1 free a moment ago (bound on port 0, then released): another process
/// may take it before it is used. Two legitimate uses only: the candidate port of
/// [`start_listening`] (which checks that the server itself got it, else tries another), and a
/// port meant to have nothing listening (a dead broker or Alertmanager). A server of ours binds
/// port 0 and reports the port it bound instead.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// Waits until something accepts TCP connections on `port`.
pub fn wait_port(port: u16, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Whether process `pid` has a TCP socket listening on 127.0.0.1:`port` (or on every address),
/// read from /proc: something answering on the port could be another process.
pub fn listens(pid: u32, port: u16) -> bool {
    dcpue::sim::broker::listening_ports(Some(pid)).is_some_and(|(ours, _)| ours.contains(&port))
}

/// Starts `cmd(port)` and waits until its process listens on `port`. None when it exited first
/// (it could not bind the port: another process holds it). Panics after `timeout`.
pub fn start_on_port(
    name: &str,
    port: u16,
    cmd: &mut dyn FnMut(u16) -> Command,
    timeout: Duration,
) -> Option<Proc> {
    start_on_ports(name, &[port], &mut |p: &[u16]| cmd(p[0]), timeout)
}

/// As [`start_on_port`] for a server given several ports (e.g. two listeners): started once
/// its process listens on every one of them.
pub fn start_on_ports(
    name: &str,
    ports: &[u16],
    cmd: &mut dyn FnMut(&[u16]) -> Command,
    timeout: Duration,
) -> Option<Proc> {
    let mut p = Proc::spawn(name, &mut cmd(ports));
    let end = Instant::now() + timeout;
    loop {
        if ports.iter().all(|port| listens(p.pid(), *port)) {
            return Some(p);
        }
        if let Ok(Some(_)) = p.child.try_wait() {
            return None;
        }
        assert!(
            Instant::now() < end,
            "{name} did not listen on {ports:?} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts an external server that must be given its port (see the module): on a free port,
/// again on a new one each time it could not bind. Returns the port and the process.
pub fn start_listening(
    name: &str,
    mut cmd: impl FnMut(u16) -> Command,
    timeout: Duration,
) -> (u16, Proc) {
    let (ports, p) = start_listening_on(name, 1, |p: &[u16]| cmd(p[0]), timeout);
    (ports[0], p)
}

/// As [`start_listening`] for a server given `n` ports: on `n` free ports, again on new ones
/// each time it could not bind one of them.
pub fn start_listening_on(
    name: &str,
    n: usize,
    mut cmd: impl FnMut(&[u16]) -> Command,
    timeout: Duration,
) -> (Vec<u16>, Proc) {
    for _ in 0..20 {
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        if let Some(p) = start_on_ports(name, &ports, &mut cmd, timeout) {
            return (ports, p);
        }
    }
    panic!("{name} could not bind {n} ports in 20 tries")
}

/// Starts an external server again on the port it had (clients know that port): it may still be
/// held a moment (a socket closing), so tries for up to 10 s.
pub fn restart_on_port(
    name: &str,
    port: u16,
    mut cmd: impl FnMut(u16) -> Command,
    timeout: Duration,
) -> Proc {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(p) = start_on_port(name, port, &mut cmd, timeout) {
            return p;
        }
        assert!(
            Instant::now() < end,
            "{name} could not bind its port {port} again"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A child process killed (SIGKILL) and reaped on drop.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e} (run scripts/setup.sh)"));
        Proc {
            child,
            name: name.to_string(),
        }
    }
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
    /// SIGKILL, as a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
    /// SIGTERM and wait up to `timeout` for a clean exit; returns the exit status code.
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The user running the tests: Mosquitto started as root would otherwise switch to the
/// `mosquitto` user, which cannot write a private temp dir (persistence would silently fail).
pub fn current_user() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "root".into())
}

/// Finds a program on PATH or in /usr/sbin, /usr/bin.
pub fn which(prog: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain([
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
    ]) {
        let p = Path::new(dir).join(prog);
        if p.is_file() {
            return p;
        }
    }
    panic!("{prog} is not installed: run scripts/setup.sh")
}

/// Makes, with openssl in `dir`, a test CA (`ca.crt`, `ca.key`) and for each `(name, subject
/// CN, extensions)` a key `{name}.key` and a certificate `{name}.crt` the CA signed with those
/// extensions (the text of `{name}.ext`), valid for two days.
pub fn make_certs(dir: &Path, certs: &[(&str, &str, &str)]) {
    let run = |args: &[&str]| {
        let out = Command::new(which("openssl"))
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let days = ["-days", "2"];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.crt"],
        &days,
        &["-subj", "/CN=dcpue test CA"],
    ]
    .concat());
    for (name, cn, ext) in certs {
        let (key, csr, crt, extf) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        std::fs::write(dir.join(&extf), ext).expect("write extensions");
        let subject = format!("/CN={cn}");
        run(&[
            &["req"][..],
            &ec,
            &["-keyout", &key, "-out", &csr, "-subj", &subject],
        ]
        .concat());
        run(&[
            &["x509", "-req", "-in", &csr][..],
            &["-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial"],
            &["-out", &crt],
            &days,
            &["-extfile", &extf],
        ]
        .concat());
    }
}

/// A real Mosquitto broker on a free loopback port, with persistence in its own temp dir
/// (as in production) and the CONTRACT §9 settings: a large queue and 64 KiB+ messages.
pub struct Mosquitto {
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub proc: Option<Proc>,
    extra: String,
}

impl Mosquitto {
    pub fn start() -> Mosquitto {
        Mosquitto::start_with("")
    }
    /// `extra`: more mosquitto.conf lines.
    pub fn start_with(extra: &str) -> Mosquitto {
        let dir = tempfile::tempdir().expect("tempdir");
        let (port, p) = start_listening(
            "mosquitto",
            |port| Mosquitto::command(dir.path(), port, extra),
            Duration::from_secs(10),
        );
        Mosquitto {
            port,
            dir,
            proc: Some(p),
            extra: extra.to_string(),
        }
    }
    /// The broker on `port`, persisting in `dir`.
    pub fn command(dir: &Path, port: u16, extra: &str) -> Command {
        let conf = dir.join("mosquitto.conf");
        let text = format!(
            "listener {} 127.0.0.1\nallow_anonymous true\nuser {}\npersistence true\npersistence_location {}/\nautosave_interval 1\nmax_queued_messages 0\nmax_inflight_messages 0\nmessage_size_limit 0\n{}\n",
            port,
            current_user(),
            dir.display(),
            extra
        );
        std::fs::write(&conf, text).expect("write mosquitto.conf");
        let log = std::fs::File::create(dir.join("mosquitto.log")).expect("log");
        let mut c = Command::new(which("mosquitto"));
        c.arg("-c").arg(&conf).stdout(Stdio::null()).stderr(log);
        c
    }
    /// (Re)starts the broker on the same port and persistence directory.
    pub fn restart(&mut self) {
        let (dir, extra) = (self.dir.path().to_path_buf(), self.extra.clone());
        self.proc = Some(restart_on_port(
            "mosquitto",
            self.port,
            |port| Mosquitto::command(&dir, port, &extra),
            Duration::from_secs(10),
        ));
    }
    /// SIGTERM: mosquitto saves its persistence file on a clean stop.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.terminate(Duration::from_secs(10));
        }
    }
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
    /// Publishes one message with mosquitto_pub.
    pub fn publish(&self, topic: &str, payload: &str, qos: u8) {
        let st = Mosquitto::publish_command(self.port, topic, payload, qos)
            .status()
            .expect("mosquitto_pub");
        assert!(st.success(), "mosquitto_pub failed");
    }
    /// The mosquitto_pub command publishing one message to the broker on `port`.
    pub fn publish_command(port: u16, topic: &str, payload: &str, qos: u8) -> Command {
        let mut c = Command::new(which("mosquitto_pub"));
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-q",
            &qos.to_string(),
            "-t",
            topic,
            "-m",
            payload,
        ]);
        c
    }
    /// Publishes many messages (one per line of `lines`: "topic payload") with one
    /// mosquitto_pub per topic via -l (reads payload lines from stdin).
    pub fn publish_lines(&self, topic: &str, payloads: &[String], qos: u8) {
        use std::io::Write;
        let mut child = Command::new(which("mosquitto_pub"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-q",
                &qos.to_string(),
                "-t",
                topic,
                "-l",
            ])
            .stdin(Stdio::piped())
            .spawn()
            .expect("mosquitto_pub");
        {
            let stdin = child.stdin.as_mut().expect("stdin");
            for p in payloads {
                writeln!(stdin, "{p}").expect("write");
            }
        }
        let st = child.wait().expect("wait mosquitto_pub");
        assert!(st.success(), "mosquitto_pub -l failed");
    }
    /// Publishes one payload of `size` bytes (`x`s) at QoS 1, with mosquitto_pub from a file
    /// (too long for the command line).
    pub fn publish_big(&self, topic: &str, size: usize) {
        let file = self.dir.path().join(format!("big-{size}"));
        std::fs::write(&file, vec![b'x'; size]).expect("write payload file");
        let st = Command::new(which("mosquitto_pub"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q", "1"])
            .args(["-t", topic, "-f"])
            .arg(&file)
            .status()
            .expect("mosquitto_pub");
        assert!(st.success(), "mosquitto_pub -f failed");
    }
}

/// Polls `f` until it returns Some or `timeout` passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// GET a URL on loopback and return (status, body), with a plain std TcpStream (HTTP/1.0).
pub fn http_get(url: &str) -> Option<(u16, String)> {
    http_request("GET", url, None)
}

pub fn http_request(method: &str, url: &str, body: Option<&str>) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut s = TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Path of the built `dcpue` binary for this test run.
pub fn dcpue_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dcpue"))
}

/// A `dcpue serve` child process with its own config, state dir and HTTP port.
pub struct Dcpue {
    pub proc: Option<Proc>,
    /// The port it listens on: the one it bound (its config may say port 0), read from its log
    /// at every (re)start.
    pub http_port: u16,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

/// `[[facility]]` tables as config text (`facility("f1").meter("grid", "total")…`): the builder
/// of the crate's unit tests, this same file compiled again here.
#[path = "../../src/config/fixture/facility_toml.rs"]
mod facility_toml;
#[allow(unused_imports)] // not every test file writes a facility table
pub(crate) use facility_toml::{facility, FacilityToml};

/// Facilities of a small test layout: f1 (core, large, new: ceiling 1.3) with a total meter,
/// two IT meters; f2 (backup, existing: ceiling 1.5) with a total and an IT meter.
pub const TEST_FACILITIES: &str = r#"
[[facility]]
id = "f1"
name = "测试一"
city = "Nanchang"
tier = "core"
class = "large"
commissioned = "2023-06-01"
  [[facility.meter]]
  id = "grid"
  role = "total"
  [[facility.meter]]
  id = "it-a"
  role = "it"
  [[facility.meter]]
  id = "it-b"
  role = "it"
  [[facility.meter]]
  id = "pv"
  role = ["total", "renewable"]

[[facility]]
id = "f2"
name = "测试二"
city = "Yingtan"
tier = "backup"
class = "medium"
commissioned = "2019-03-01"
  [[facility.meter]]
  id = "grid"
  role = "total"
  max_power_kw = 5000
  [[facility.meter]]
  id = "it"
  role = "it"
"#;

impl Dcpue {
    /// Config text for a broker URL: `[mqtt]`, `[http]`, `[storage]` filled in, then `rest`.
    pub fn config_text(
        broker_url: &str,
        http_port: u16,
        state_dir: &Path,
        client_id: &str,
        rest: &str,
    ) -> String {
        format!(
            "[mqtt]\nurl = \"{broker_url}\"\nclient_id = \"{client_id}\"\ntopic_prefix = \"dc\"\nqos = 1\n\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n\n[storage]\ndir = \"{}\"\n\n{rest}",
            state_dir.display()
        )
    }

    /// Starts `dcpue serve` against `broker_url` with `rest` (engine, facilities, ...).
    pub fn start(broker_url: &str, rest: &str) -> Dcpue {
        let mut d = Dcpue::configured(broker_url, rest);
        d.restart();
        d
    }

    /// As [`Dcpue::start`], but not started yet: its config written in a new temporary
    /// directory, with `state` (not created yet) beside it as `storage.dir`.
    pub fn configured(broker_url: &str, rest: &str) -> Dcpue {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("dcpue.toml");
        let client_id = format!("dcpue-test-{}", unique());
        std::fs::write(
            &config,
            Dcpue::config_text(broker_url, 0, &dir.path().join("state"), &client_id, rest),
        )
        .expect("write config");
        Dcpue {
            proc: None,
            http_port: 0,
            dir,
            config,
        }
    }

    /// (Re)starts the process on the same config and state; with `listen` on port 0 it may get
    /// another port: [`Dcpue::url`] follows.
    pub fn restart(&mut self) {
        let log_path = self.dir.path().join("dcpue.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("log");
        let before = log.metadata().map(|m| m.len()).unwrap_or(0) as usize;
        let mut p = Proc::spawn(
            "dcpue",
            Command::new(dcpue_bin())
                .arg("serve")
                .arg("--config")
                .arg(&self.config)
                .stdout(Stdio::null())
                .stderr(log),
        );
        // The address it bound, from the line it logs once serving.
        let bound = eventually(Duration::from_secs(40), || {
            if let Ok(Some(st)) = p.child.try_wait() {
                panic!("dcpue exited ({st}): {}", self.log());
            }
            let log = std::fs::read(&log_path).unwrap_or_default();
            serving_port(&String::from_utf8_lossy(
                log.get(before..).unwrap_or_default(),
            ))
        });
        self.http_port = bound.unwrap_or_else(|| panic!("dcpue did not serve: {}", self.log()));
        self.proc = Some(p);
        // Ready once subscribed.
        let url = self.url("/readyz");
        assert!(
            eventually(Duration::from_secs(20), || http_get(&url)
                .filter(|(s, _)| *s == 200))
            .is_some(),
            "dcpue not ready: {}",
            self.log()
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.http_port, path)
    }

    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let (status, body) =
            http_get(&self.url(path)).unwrap_or_else(|| panic!("GET {path} failed"));
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }

    pub fn metrics(&self) -> String {
        http_get(&self.url("/metrics")).expect("GET /metrics").1
    }

    /// The value of one sample line of /metrics (`name{labels}` exactly as rendered).
    pub fn metric(&self, series: &str) -> Option<f64> {
        metric_value(&self.metrics(), series)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dcpue.log")).unwrap_or_default()
    }

    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    pub fn stop(&mut self) -> Option<i32> {
        self.proc
            .take()
            .and_then(|mut p| p.terminate(Duration::from_secs(20)))
    }
}

/// The wall clock, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A name no other test of this run has (client ids, file names).
pub fn unique() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

/// The HTTP port in the `dcpue serving addr=...` line of a `dcpue serve` log (colours or not).
pub fn serving_port(log: &str) -> Option<u16> {
    log.lines()
        .filter(|l| l.contains("dcpue serving"))
        .find_map(|l| {
            // Without ANSI escapes (ESC [ ... m).
            let mut plain = String::new();
            let mut chars = l.chars();
            while let Some(c) = chars.next() {
                if c == '\u{1b}' {
                    for c in chars.by_ref() {
                        if c == 'm' {
                            break;
                        }
                    }
                } else {
                    plain.push(c);
                }
            }
            let addr = plain.split("addr=").nth(1)?.split_whitespace().next()?;
            addr.parse::<std::net::SocketAddr>().ok().map(|a| a.port())
        })
}

/// The value of `series` (e.g. `dcpue_readings_rejected_total{facility="f1",reason="malformed"}`)
/// in a Prometheus text exposition. Label order as rendered (alphabetical).
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// A real VictoriaMetrics as the InfluxDB v2 write-API server: one point per series and
/// millisecond (`-dedup.minScrapeInterval=1ms`), data in its own temp dir, restartable.
pub struct VictoriaMetrics {
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub proc: Option<Proc>,
    /// More command-line flags, given at every (re)start.
    extra: Vec<String>,
}

impl VictoriaMetrics {
    pub fn start() -> VictoriaMetrics {
        VictoriaMetrics::start_with(&[])
    }

    /// As [`VictoriaMetrics::start`], with `extra` command-line flags
    /// (`-influx.maxLineSize=1000`).
    pub fn start_with(extra: &[&str]) -> VictoriaMetrics {
        let dir = tempfile::tempdir().expect("tempdir");
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (port, p) = start_listening(
            "victoria-metrics",
            |port| VictoriaMetrics::command(dir.path(), port, &extra),
            Duration::from_secs(20),
        );
        let mut vm = VictoriaMetrics {
            port,
            dir,
            proc: Some(p),
            extra,
        };
        vm.wait_healthy();
        vm
    }

    fn command(dir: &Path, port: u16, extra: &[String]) -> Command {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("vm.log"))
            .expect("vm log");
        let mut c = Command::new(which("victoria-metrics"));
        c.arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg(format!("-storageDataPath={}", dir.join("data").display()))
            .arg("-dedup.minScrapeInterval=1ms")
            .arg("-retentionPeriod=100y")
            .args(extra)
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        c
    }

    /// (Re)starts on the same port and data directory.
    pub fn restart(&mut self) {
        let (dir, extra) = (self.dir.path().to_path_buf(), self.extra.clone());
        self.proc = Some(restart_on_port(
            "victoria-metrics",
            self.port,
            |port| VictoriaMetrics::command(&dir, port, &extra),
            Duration::from_secs(20),
        ));
        self.wait_healthy();
    }

    fn wait_healthy(&mut self) {
        let url = format!("{}/health", self.url());
        assert!(
            eventually(Duration::from_secs(20), || http_get(&url)
                .filter(|(s, _)| *s == 200))
            .is_some(),
            "victoria-metrics not healthy"
        );
    }

    /// A clean stop (SIGTERM): what it acknowledged is on disk. Its exit status code; None
    /// when it did not stop within 20 s (killed then) or was not running.
    pub fn stop(&mut self) -> Option<i32> {
        self.proc
            .take()
            .and_then(|mut p| p.terminate(Duration::from_secs(20)))
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every stored sample of series matching `selector` (e.g. `{__name__=~"dcpue_.*"}`):
    /// (labels without __name__ joined, metric name) → [(ts ms, value)].
    pub fn export(
        &self,
        selector: &str,
    ) -> std::collections::BTreeMap<(String, String), Vec<(i64, f64)>> {
        let _ = http_get(&format!("{}/internal/force_flush", self.url()));
        let enc: String = selector
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"_-.".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let (_, body) =
            http_get(&format!("{}/api/v1/export?match[]={enc}", self.url())).unwrap_or_default();
        let mut out = std::collections::BTreeMap::new();
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let m = v["metric"].as_object().cloned().unwrap_or_default();
            let name = m
                .get("__name__")
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_string();
            let labels: Vec<String> = m
                .iter()
                .filter(|(k, _)| *k != "__name__")
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            let ts = v["timestamps"].as_array().cloned().unwrap_or_default();
            let vals = v["values"].as_array().cloned().unwrap_or_default();
            let e: &mut Vec<(i64, f64)> = out.entry((name, labels.join(","))).or_default();
            for (t, x) in ts.iter().zip(vals.iter()) {
                e.push((
                    t.as_i64().unwrap_or_default(),
                    x.as_f64().unwrap_or(f64::NAN),
                ));
            }
            e.sort_by_key(|p| p.0);
        }
        out
    }
}

/// `promtool check metrics` on an exposition: Ok when clean, else what promtool said.
pub fn promtool_check_metrics(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new(which("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("promtool: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("promtool stdin: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("promtool: {e}"))?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && said.trim().is_empty() {
        Ok(())
    } else {
        Err(said)
    }
}

/// A real Alertmanager on a free loopback port with its own storage, clustering off.
pub struct Alertmanager {
    pub port: u16,
    /// The gossip port of a cluster member.
    pub cluster_port: Option<u16>,
    pub dir: tempfile::TempDir,
    pub proc: Proc,
}

impl Alertmanager {
    /// `config`: the alertmanager.yml text.
    pub fn start(config: &str) -> Alertmanager {
        Alertmanager::start_with(config, None)
    }

    /// One member of an Alertmanager cluster (HA, as Prometheus users run it): gossip on a
    /// port of its own (TCP and UDP, [`Alertmanager::cluster_port`]) joining the members at
    /// `peers` (none for the first). Notifications wait until the cluster settles, and the
    /// second member waits `peer_timeout` for the first to send.
    pub fn start_clustered(config: &str, peers: &[u16], peer_timeout: &str) -> Alertmanager {
        Alertmanager::start_with(config, Some((peers, peer_timeout)))
    }

    fn start_with(config: &str, cluster: Option<(&[u16], &str)>) -> Alertmanager {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("alertmanager.yml");
        std::fs::write(&conf, config).expect("write alertmanager.yml");
        // Web and gossip ports: started once it listens on both itself.
        let n = if cluster.is_some() { 2 } else { 1 };
        let (ports, proc) = start_listening_on(
            "alertmanager",
            n,
            |ports: &[u16]| {
                let log = std::fs::File::create(dir.path().join("alertmanager.log")).expect("log");
                let mut c = Command::new(which("prometheus-alertmanager"));
                c.arg(format!("--config.file={}", conf.display()))
                    .arg(format!(
                        "--storage.path={}",
                        dir.path().join("data").display()
                    ))
                    .arg(format!("--web.listen-address=127.0.0.1:{}", ports[0]))
                    .stdout(Stdio::null())
                    .stderr(log);
                match cluster {
                    None => {
                        c.arg("--cluster.listen-address=");
                    }
                    Some((peers, peer_timeout)) => {
                        let cluster_port = ports[1];
                        c.arg(format!("--cluster.listen-address=127.0.0.1:{cluster_port}"))
                            .arg(format!(
                                "--cluster.advertise-address=127.0.0.1:{cluster_port}"
                            ))
                            .arg(format!("--cluster.peer-timeout={peer_timeout}"))
                            .arg("--cluster.settle-timeout=5s")
                            .arg("--cluster.pushpull-interval=2s")
                            .args(
                                peers
                                    .iter()
                                    .map(|p| format!("--cluster.peer=127.0.0.1:{p}")),
                            );
                    }
                }
                c
            },
            Duration::from_secs(20),
        );
        Alertmanager {
            port: ports[0],
            cluster_port: ports.get(1).copied(),
            dir,
            proc,
        }
    }

    /// Alertmanager's own view: its alerts (GET /api/v2/alerts); none while it does not answer
    /// with a JSON list.
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        http_get(&format!("http://127.0.0.1:{}/api/v2/alerts", self.port))
            .and_then(|(_, body)| serde_json::from_str(&body).ok())
            .unwrap_or_default()
    }
}

/// One core facility `f1` (large, commissioned 2023-06-01: ceiling 1.3) with a `grid` (total)
/// and an `it` meter.
pub const F1_GRID_IT: &str = r#"
[[facility]]
id = "f1"
name = "南昌核心"
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

/// JSON bodies a [`start_receiver`] got, with the last path segment they were posted to.
pub type Inbox = std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>;

/// An operator's webhook endpoint on loopback (Alertmanager's or dcpue's webhooks post to
/// `http://127.0.0.1:{port}/{name}`): records every JSON POST. Serves, on the listener it
/// bound, from a thread of its own for as long as the test runs.
pub fn start_receiver() -> (u16, Inbox) {
    use axum::extract::{Path as UrlPath, State};
    let inbox: Inbox = Default::default();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
    let port = listener.local_addr().expect("receiver addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let app = axum::Router::new()
        .route(
            "/{name}",
            axum::routing::post(
                |State(inbox): State<Inbox>, UrlPath(name): UrlPath<String>, body: String| async move {
                    let v = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
                    inbox.lock().unwrap().push((name, v));
                    "ok"
                },
            ),
        )
        .with_state(inbox.clone());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(listener).expect("listener");
            let _ = axum::serve(l, app).await;
        });
    });
    (port, inbox)
}
