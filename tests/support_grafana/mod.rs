//! Grafana-dashboard helpers for integration tests: run every PromQL expression of a dashboard
//! (template variables filled in) through a real Prometheus-API server, and start real
//! Prometheus / VictoriaMetrics servers on free loopback ports.
//!
//! Use from a test file that also declares the shared helpers:
//! ```ignore
//! mod support;
//! mod support_grafana;
//! ```
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{eventually, http_get, http_request, start_listening, which, Proc};

/// The repository root (where `dashboards/` and `deploy/` live).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Reads and parses a dashboard JSON file.
pub fn load_dashboard(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every panel of a dashboard, rows' nested (collapsed) panels included, rows themselves too.
pub fn all_panels(dash: &Value) -> Vec<&Value> {
    fn walk<'a>(panels: &'a Value, out: &mut Vec<&'a Value>) {
        if let Some(list) = panels.as_array() {
            for p in list {
                out.push(p);
                if let Some(nested) = p.get("panels") {
                    walk(nested, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&dash["panels"], &mut out);
    out
}

/// The template variables of a dashboard.
pub fn variables(dash: &Value) -> Vec<&Value> {
    dash["templating"]["list"]
        .as_array()
        .map(|l| l.iter().collect())
        .unwrap_or_default()
}

/// A variable's query text (a string, or an object with a `query` field).
pub fn variable_query(var: &Value) -> Option<String> {
    match &var["query"] {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("query").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

/// Grafana's built-in interval variables, as a dashboard over the last hour would fill them.
const BUILTINS: [(&str, &str); 6] = [
    ("__rate_interval", "5m"),
    ("__interval", "5m"),
    ("__interval_ms", "300000"),
    ("__range", "1h"),
    ("__range_s", "3600"),
    ("__range_ms", "3600000"),
];

/// The value each template variable takes: `vars` first, else the dashboard's saved current
/// value ("All" → the variable's allValue or `.*`; several values → `(a|b)`, as Grafana formats a
/// multi-value variable for Prometheus), else Grafana's built-ins.
pub fn variable_values(dash: &Value, vars: &HashMap<&str, &str>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for v in variables(dash) {
        let Some(name) = v["name"].as_str() else {
            continue;
        };
        if v["type"] == "datasource" {
            continue;
        }
        let value = if let Some(given) = vars.get(name) {
            given.to_string()
        } else {
            let all = v["allValue"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or(".*")
                .to_string();
            let cur = &v["current"]["value"];
            let vals: Vec<String> = match cur {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                _ => match &v["query"] {
                    Value::String(s) if v["type"] != "query" => vec![s.clone()],
                    _ => vec![],
                },
            };
            if vals.is_empty() || vals.iter().any(|s| s == "$__all") {
                all
            } else if vals.len() == 1 {
                vals[0].clone()
            } else {
                format!("({})", vals.join("|"))
            }
        };
        out.push((name.to_string(), value));
    }
    for (name, default) in BUILTINS {
        let value = vars
            .get(name)
            .map(|s| s.to_string())
            .unwrap_or_else(|| default.to_string());
        out.push((name.to_string(), value));
    }
    // Longest names first, so `$__range_s` is not taken for `$__range` + "_s".
    out.sort_by_key(|v| std::cmp::Reverse(v.0.len()));
    out
}

/// Replaces `${name}`, `${name:format}`, `[[name]]` and `$name` by the variables' values.
pub fn substitute(text: &str, values: &[(String, String)]) -> String {
    let mut s = text.to_string();
    for (name, value) in values {
        s = s.replace(&format!("[[{name}]]"), value);
        s = s.replace(&format!("${{{name}}}"), value);
        // ${name:fmt}
        let prefix = format!("${{{name}:");
        while let Some(start) = s.find(&prefix) {
            let Some(len) = s[start..].find('}') else {
                break;
            };
            s.replace_range(start..start + len + 1, value);
        }
        // $name not followed by an identifier character
        let token = format!("${name}");
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(pos) = rest.find(&token) {
            let after = &rest[pos + token.len()..];
            let boundary = !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
            out.push_str(&rest[..pos]);
            out.push_str(if boundary { value } else { &token });
            rest = after;
        }
        out.push_str(rest);
        s = out;
    }
    s
}

/// Percent-encodes a query-string value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An instant query through the Prometheus HTTP API (`/api/v1/query`) of Prometheus or
/// VictoriaMetrics: the result (vector elements, or one element for a scalar), or the error.
pub fn prom_query(base_url: &str, expr: &str) -> Result<Vec<Value>, String> {
    let url = format!(
        "{}/api/v1/query?query={}",
        base_url.trim_end_matches('/'),
        url_encode(expr)
    );
    let (status, body) = http_get(&url).ok_or_else(|| format!("no answer from {base_url}"))?;
    let v: Value = serde_json::from_str(&body)
        .map_err(|e| format!("HTTP {status}: not JSON ({e}): {body}"))?;
    if v["status"] != "success" {
        return Err(format!("HTTP {status}: {}", v["error"]));
    }
    match &v["data"]["result"] {
        Value::Array(a) => Ok(a.clone()),
        Value::Null => Ok(vec![]),
        other => Ok(vec![other.clone()]),
    }
}

/// A `label_values(...)` variable query as PromQL whose result has one series per value.
pub fn label_values_as_promql(q: &str) -> Option<String> {
    let inner = q.trim().strip_prefix("label_values(")?.strip_suffix(')')?;
    match inner.rsplit_once(',') {
        Some((selector, label)) => {
            Some(format!("count by ({}) ({})", label.trim(), selector.trim()))
        }
        None => Some(format!("count by ({0}) ({{{0}!=\"\"}})", inner.trim())),
    }
}

/// Runs every PromQL expression of `dashboard` (each panel target's `expr`, and each
/// `label_values` query variable, reported as "variable NAME") through the Prometheus HTTP API
/// at `prom_base_url` (`/api/v1/query`, evaluated now), with the template variables filled in by
/// [`variable_values`] (`vars` overrides the dashboard's saved values and the built-ins
/// `__rate_interval`, `__interval`, `__range`).
/// Returns (panel title, expression as run, number of result series) in dashboard order.
/// Panics on a query the server rejects, or a template variable left unfilled.
pub fn run_panel_queries(
    prom_base_url: &str,
    dashboard: &Path,
    vars: &HashMap<&str, &str>,
) -> Vec<(String, String, usize)> {
    panel_query_results(prom_base_url, dashboard, vars)
        .into_iter()
        .map(|(title, expr, result)| (title, expr, result.len()))
        .collect()
}

/// As [`run_panel_queries`], with each query's result (its series or scalar).
pub fn panel_query_results(
    prom_base_url: &str,
    dashboard: &Path,
    vars: &HashMap<&str, &str>,
) -> Vec<(String, String, Vec<Value>)> {
    let dash = load_dashboard(dashboard);
    let values = variable_values(&dash, vars);
    let mut out = Vec::new();
    let mut run = |title: String, raw: &str| {
        let expr = substitute(raw, &values);
        if let Some(pos) = expr.find('$') {
            panic!(
                "{}: panel {title:?}: unfilled template variable at {:?} in {expr}",
                dashboard.display(),
                &expr[pos..]
            );
        }
        let result = prom_query(prom_base_url, &expr).unwrap_or_else(|e| {
            panic!(
                "{}: panel {title:?}: query {expr} failed: {e}",
                dashboard.display()
            )
        });
        out.push((title, expr, result));
    };
    for v in variables(&dash) {
        if v["type"] != "query" {
            continue;
        }
        if let Some(promql) = variable_query(v)
            .as_deref()
            .and_then(label_values_as_promql)
        {
            run(
                format!("variable {}", v["name"].as_str().unwrap_or("?")),
                &promql,
            );
        }
    }
    for p in all_panels(&dash) {
        let title = p["title"].as_str().unwrap_or("").to_string();
        for t in p["targets"].as_array().into_iter().flatten() {
            if t["hide"] == true {
                continue;
            }
            if let Some(expr) = t["expr"].as_str() {
                run(title.clone(), expr);
            }
        }
    }
    out
}

/// Prints the results of [`run_panel_queries`] (shown with `--nocapture` or on failure).
pub fn print_results(label: &str, results: &[(String, String, usize)]) {
    eprintln!("--- {label}: {} queries", results.len());
    for (title, expr, n) in results {
        eprintln!("{n:>3}  {title}  |  {expr}");
    }
}

/// Fails, listing them, if any query of [`run_panel_queries`] returned no series.
pub fn assert_all_have_data(label: &str, results: &[(String, String, usize)]) {
    let empty: Vec<_> = results.iter().filter(|r| r.2 == 0).collect();
    assert!(empty.is_empty(), "{label}: panels without data: {empty:#?}");
}

/// A real Prometheus server (Debian package `prometheus`) on a free loopback port, its TSDB in a
/// temp dir; killed on drop.
pub struct Prometheus {
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub proc: Proc,
}

impl Prometheus {
    /// Starts Prometheus with `config` (the prometheus.yml text; relative rule-file paths are
    /// resolved against the temp dir, so pass absolute ones) and waits until it is ready.
    pub fn start(config: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("prometheus.yml");
        std::fs::write(&conf, config).expect("write prometheus.yml");
        let (port, proc) = start_listening(
            "prometheus",
            |port| {
                let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
                let mut c = Command::new(which("prometheus"));
                c.arg(format!("--config.file={}", conf.display()))
                    .arg(format!(
                        "--storage.tsdb.path={}",
                        dir.path().join("data").display()
                    ))
                    .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                    .current_dir(dir.path())
                    .stdout(Stdio::null())
                    .stderr(log);
                c
            },
            Duration::from_secs(30),
        );
        let p = Prometheus { port, dir, proc };
        let ready = eventually(Duration::from_secs(30), || {
            http_get(&format!("{}/-/ready", p.url()))
                .filter(|(s, _)| *s == 200)
                .map(|_| ())
        });
        assert!(ready.is_some(), "prometheus not ready: {}", p.log());
        p
    }
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

/// A real VictoriaMetrics (Debian package `victoria-metrics`) on a free loopback port; killed on
/// drop. It takes InfluxDB line protocol on `/api/v2/write` (as dcpue's sink sends) and answers
/// PromQL on `/api/v1/query`.
pub struct VictoriaMetrics {
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub proc: Proc,
}

impl VictoriaMetrics {
    pub fn start() -> VictoriaMetrics {
        VictoriaMetrics::start_with(&[])
    }
    /// With more command-line flags (e.g. `-search.maxStalenessInterval=15m`).
    pub fn start_with(flags: &[&str]) -> VictoriaMetrics {
        let dir = tempfile::tempdir().expect("tempdir");
        let (port, proc) = start_listening(
            "victoria-metrics",
            |port| {
                let log = std::fs::File::create(dir.path().join("vm.log")).expect("log");
                let mut c = Command::new(which("victoria-metrics"));
                c.arg(format!("-httpListenAddr=127.0.0.1:{port}"))
                    .arg(format!(
                        "-storageDataPath={}",
                        dir.path().join("data").display()
                    ))
                    .arg("-dedup.minScrapeInterval=1ms")
                    .args(flags)
                    .current_dir(dir.path())
                    .stdout(Stdio::null())
                    .stderr(log);
                c
            },
            Duration::from_secs(30),
        );
        let vm = VictoriaMetrics { port, dir, proc };
        let ready = eventually(Duration::from_secs(30), || {
            http_get(&format!("{}/health", vm.url()))
                .filter(|(s, _)| *s == 200)
                .map(|_| ())
        });
        assert!(
            ready.is_some(),
            "victoria-metrics not healthy: {}",
            vm.log()
        );
        vm
    }
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("vm.log")).unwrap_or_default()
    }
    /// Writes line protocol (millisecond timestamps) as an InfluxDB v2 client would.
    pub fn write_lines(&self, org: &str, bucket: &str, lines: &str) {
        let url = format!(
            "{}/api/v2/write?org={org}&bucket={bucket}&precision=ms",
            self.url()
        );
        let (status, body) = http_request("POST", &url, Some(lines)).expect("POST /api/v2/write");
        assert!(
            (200..300).contains(&status),
            "/api/v2/write: HTTP {status}: {body}"
        );
    }
    /// Makes everything written so far visible to queries.
    pub fn flush(&self) {
        let (status, body) =
            http_get(&format!("{}/internal/force_flush", self.url())).expect("force_flush");
        assert_eq!(status, 200, "/internal/force_flush: {body}");
    }
}

/// A tiny HTTP server on a free loopback port answering every request with `body(n)` as
/// Prometheus text format, n = 0, 1, 2, … per request (so counters can grow between scrapes).
/// Stops when dropped.
pub struct MetricsServer {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    pub fn start(body: impl Fn(u64) -> String + Send + 'static) -> MetricsServer {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                        // Read the request head.
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 1024];
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            match s.read(&mut chunk) {
                                Ok(0) | Err(_) => break,
                                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                            }
                        }
                        let text = body(n);
                        n += 1;
                        let _ = write!(
                            s,
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                            text.len(),
                            text
                        );
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        MetricsServer {
            port,
            stop,
            thread: Some(thread),
        }
    }
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/metrics", self.port)
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs a program to completion: (success, stdout + stderr).
pub fn run_tool(prog: &str, args: &[&str], cwd: &Path) -> (bool, String) {
    let out = Command::new(which(prog))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {prog}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
