//! The regulators' dashboard in a real browser: headless Chromium driven over W3C WebDriver
//! (`/usr/bin/chromedriver`), against a server that serves the embedded page (`page::routes()`)
//! and the JSON API. `check_dashboard` asserts what a regulator would check and is meant to be
//! run against a real `dcpue` too (pass the base URL and its `/api/v1/facilities` body).
//! Screenshots of every view go to `target/test-artifacts/`.

#[path = "support/mod.rs"]
mod support;

#[path = "support_grafana/live.rs"]
mod live;

#[path = "../src/http/page.rs"]
#[allow(dead_code)]
mod page;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use serde_json::{json, Value};

use support::{eventually, which, Proc};

// ---------------------------------------------------------------------------------------------
// A tiny W3C WebDriver client over async reqwest.

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Chromium flags that matter on a closed network: no background traffic, no QUIC, and every
/// host name but 127.0.0.1 unresolvable, so nothing can leave loopback even by mistake.
fn chrome_args(profile: &Path) -> Vec<String> {
    vec![
        "--headless=new".into(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1".into(),
        format!("--user-data-dir={}", profile.display()),
        "--window-size=1600,1000".into(),
    ]
}

pub struct Browser {
    http: reqwest::Client,
    driver: String,
    session: String,
    _proc: Proc,
    _profile: tempfile::TempDir,
    pub artifacts: PathBuf,
}

impl Browser {
    pub async fn start(artifacts: &Path) -> Browser {
        std::fs::create_dir_all(artifacts).expect("create artifacts dir");
        let log =
            std::fs::File::create(artifacts.join("chromedriver.log")).expect("chromedriver log");
        let out_path = artifacts.join("chromedriver.out");
        let out = std::fs::File::create(&out_path).expect("chromedriver out");
        // Port 0: it binds a free port and prints "... started successfully on port N.".
        let mut proc = Proc::spawn(
            "chromedriver",
            Command::new(which("chromedriver"))
                .arg("--port=0")
                .arg("--allowed-ips=127.0.0.1")
                .stdout(out)
                .stderr(log),
        );
        let port = eventually(Duration::from_secs(20), || {
            if let Ok(Some(st)) = proc.child.try_wait() {
                panic!("chromedriver exited ({st})");
            }
            let out = std::fs::read_to_string(&out_path).unwrap_or_default();
            out.lines().find_map(|l| {
                l.split("started successfully on port ")
                    .nth(1)?
                    .trim_end_matches('.')
                    .trim()
                    .parse::<u16>()
                    .ok()
            })
        })
        .expect("chromedriver prints the port it bound");
        let profile = tempfile::tempdir().expect("profile dir");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        let driver = format!("http://127.0.0.1:{port}");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": which("chromium").display().to_string(),
                "args": chrome_args(profile.path()),
                "prefs": {
                    "download.default_directory": artifacts.display().to_string(),
                    "download.prompt_for_download": false
                }
            },
            "goog:loggingPrefs": {"performance": "ALL", "browser": "ALL"}
        }}});
        let resp: Value = http
            .post(format!("{driver}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session request")
            .json()
            .await
            .expect("new session reply");
        let session = resp["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {resp}"))
            .to_string();
        Browser {
            http,
            driver,
            session,
            _proc: proc,
            _profile: profile,
            artifacts: artifacts.to_path_buf(),
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{}", self.driver, self.session, path);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"));
        let status = resp.status();
        let v: Value = resp
            .json()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {path}: bad reply: {e}"));
        assert!(
            status.is_success(),
            "WebDriver {path} failed ({status}): {v}"
        );
        v["value"].clone()
    }
    async fn post(&self, path: &str, body: Value) -> Value {
        self.cmd(reqwest::Method::POST, path, Some(body)).await
    }
    async fn get(&self, path: &str) -> Value {
        self.cmd(reqwest::Method::GET, path, None).await
    }
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }
    /// Runs `body` as a function body in the page; `arguments[i]` are `args`.
    pub async fn js(&self, body: &str, args: Vec<Value>) -> Value {
        self.post("/execute/sync", json!({ "script": body, "args": args }))
            .await
    }
    /// Waits until `body` returns something truthy, returning it.
    pub async fn wait_js(
        &self,
        what: &str,
        body: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Value {
        let end = Instant::now() + timeout;
        loop {
            let v = self.js(body, args.clone()).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(_) => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() > end {
                self.screenshot(&format!("timeout-{}", what.replace(' ', "-")))
                    .await;
                panic!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
    pub async fn find(&self, css: &str) -> String {
        let v = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        v[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }
    /// A real click (WebDriver moves the pointer to the element and clicks it).
    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.post(&format!("/element/{el}/click"), json!({})).await;
    }
    /// Saves a full-page PNG screenshot as `<artifacts>/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let h = self
            .js("return document.documentElement.scrollHeight", vec![])
            .await
            .as_i64()
            .unwrap_or(1000);
        let h = h.clamp(600, 6000) + 100; // window chrome of the headless window
        self.post("/window/rect", json!({"width": 1600, "height": h}))
            .await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        let b64 = self.get("/screenshot").await;
        let png = base64_decode(b64.as_str().unwrap_or("")).expect("screenshot is base64");
        assert!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        let path = self.artifacts.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        self.post("/window/rect", json!({"width": 1600, "height": 1000}))
            .await;
        path
    }
    /// Every URL the browser requested since the last call (Chrome's performance log).
    pub async fn requested_urls(&self) -> Vec<String> {
        let entries = self.post("/se/log", json!({"type": "performance"})).await;
        let mut urls = Vec::new();
        for e in entries.as_array().cloned().unwrap_or_default() {
            let Some(msg) = e["message"].as_str() else {
                continue;
            };
            let Ok(m) = serde_json::from_str::<Value>(msg) else {
                continue;
            };
            let method = m["message"]["method"].as_str().unwrap_or("");
            if method == "Network.requestWillBeSent" {
                if let Some(u) = m["message"]["params"]["request"]["url"].as_str() {
                    urls.push(u.to_string());
                }
            }
            if method == "Network.webSocketCreated" {
                if let Some(u) = m["message"]["params"]["url"].as_str() {
                    urls.push(u.to_string());
                }
            }
        }
        urls
    }
    pub async fn quit(self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.driver, self.session))
            .send()
            .await;
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// What the page must show, formatted as the page formats it.

/// PUE: three decimals; missing: an em dash.
fn fmt_pue(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{x:.3}"))
        .unwrap_or_else(|| "—".into())
}
/// Coverage: a percentage truncated (never rounded up) to 0.1 %.
fn fmt_cov(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{:.1}%", (x * 1000.0 + 1e-9).floor() / 10.0))
        .unwrap_or_else(|| "—".into())
}
fn fmt_ceiling(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{x:.2}"))
        .unwrap_or_else(|| "—".into())
}

const STATUS_ZH: [(&str, &str); 3] = [
    ("compliant", "达标"),
    ("breach", "超标"),
    ("insufficient_data", "数据不足"),
];
const STATUS_EN: [(&str, &str); 3] = [
    ("compliant", "Compliant"),
    ("breach", "Breach"),
    ("insufficient_data", "Insufficient data"),
];
fn label(table: &[(&str, &str)], key: &str) -> String {
    table
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

/// Reads every facility card as the user sees it.
const READ_CARDS: &str = r#"
  return Array.from(document.querySelectorAll('[data-testid=facility-card]')).map(function (c) {
    var tierEl = c.closest('[data-tier]');
    var txt = function (sel) { var e = c.querySelector(sel); return e ? e.textContent.trim() : null; };
    var win = {};
    c.querySelectorAll('td[data-window] [data-testid=window-pue]').forEach(function (e) {
      win[e.closest('td').getAttribute('data-window')] = e.textContent.trim();
    });
    var cov = {};
    c.querySelectorAll('[data-testid=window-coverage]').forEach(function (e) { cov[e.getAttribute('data-window')] = e.textContent.trim(); });
    var st = c.querySelector('[data-testid=status]');
    var r = st.getBoundingClientRect();
    var est = Array.from(c.querySelectorAll('[data-testid=estimated-mark]')).map(function (e) {
      var td = e.closest('td[data-window]');
      var box = e.getBoundingClientRect();
      return { window: td ? td.getAttribute('data-window') : 'compliance', title: e.getAttribute('title'), visible: box.width > 0 && box.height > 0 };
    });
    return {
      id: c.getAttribute('data-facility'), tier: tierEl ? tierEl.getAttribute('data-tier') : null,
      tierHeading: tierEl ? tierEl.querySelector('h2').textContent.trim() : null,
      status: c.getAttribute('data-status'), statusText: st.textContent.trim(), statusVisible: r.width > 0 && r.height > 0,
      statusIcon: !!st.querySelector('svg'), statusColor: getComputedStyle(st).color,
      name: txt('h3'), pue: txt('[data-testid=pue]'), coverage: txt('[data-testid=coverage]'),
      ceiling: txt('[data-testid=ceiling]'), grade: txt('[data-testid=grade]'), windows: win, windowCoverage: cov,
      stale: c.getAttribute('data-stale') === 'true', staleBadge: !!c.querySelector('[data-testid=stale]'),
      estimated: est
    };
  });
"#;

/// Asserts the dashboard at `base_url` shows what `/api/v1/facilities` (`expected`) says, in a
/// fresh headless Chromium. Screenshots go to `artifacts`.
pub async fn check_dashboard(base_url: &str, expected: &Value, artifacts: &Path) {
    let browser = Browser::start(artifacts).await;
    check_dashboard_in(&browser, base_url, expected).await;
    browser.quit().await;
}

pub async fn check_dashboard_in(b: &Browser, base_url: &str, expected: &Value) {
    let base = base_url.trim_end_matches('/');
    let facilities = expected.as_array().expect("/api/v1/facilities is an array");
    assert_eq!(
        facilities.len(),
        7,
        "the 一核四副两备 layout has seven facilities"
    );
    let breaching: Vec<&Value> = facilities
        .iter()
        .filter(|f| f["status"] == "breach")
        .collect();
    assert!(
        !breaching.is_empty(),
        "the scenario must have a breaching facility"
    );

    // --- overview, in Chinese by default
    b.goto(&format!("{base}/")).await;
    b.wait_js("first data", "return document.documentElement.getAttribute('data-ready') === '1' && document.querySelectorAll('[data-testid=facility-card]').length", vec![], Duration::from_secs(20)).await;
    assert_eq!(
        b.js("return document.documentElement.lang", vec![]).await,
        "zh-CN"
    );
    let h1 = b
        .js("return document.querySelector('h1').textContent", vec![])
        .await;
    assert!(
        h1.as_str().unwrap_or("").contains("数据中心"),
        "Chinese title by default, got {h1}"
    );
    let cards = b.js(READ_CARDS, vec![]).await;
    let cards = cards.as_array().cloned().unwrap_or_default();
    assert_eq!(
        cards.len(),
        facilities.len(),
        "one card per facility: {cards:?}"
    );
    let by_id: HashMap<String, &Value> = cards
        .iter()
        .map(|c| (c["id"].as_str().unwrap_or("").to_string(), c))
        .collect();
    for f in facilities {
        let id = f["id"].as_str().expect("facility id");
        let card = by_id.get(id).unwrap_or_else(|| panic!("no card for {id}"));
        assert_eq!(card["tier"], f["tier"], "{id} under its tier");
        let cw = f["compliance_window"].as_str().unwrap_or("365d");
        let w = &f["windows"][cw];
        assert_eq!(
            card["pue"].as_str(),
            Some(fmt_pue(&w["pue"]).as_str()),
            "{id}: compliance PUE"
        );
        assert_eq!(
            card["coverage"].as_str(),
            Some(fmt_cov(&w["coverage"]).as_str()),
            "{id}: coverage beside the PUE"
        );
        assert_eq!(
            card["ceiling"].as_str(),
            Some(fmt_ceiling(&f["pue_ceiling"]).as_str()),
            "{id}: ceiling"
        );
        // CONTRACT §13: a window not wholly metered carries a visible mark with its share
        let mut want_est: Vec<String> = f["windows"]
            .as_object()
            .map(|ws| {
                ws.iter()
                    .filter(|(_, v)| v["estimated_share"].as_f64().is_some_and(|x| x > 0.0))
                    .map(|(w, _)| {
                        if w == cw {
                            "compliance".to_string()
                        } else {
                            w.clone()
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        want_est.sort();
        let marks = card["estimated"].as_array().cloned().unwrap_or_default();
        let mut got_est: Vec<String> = marks
            .iter()
            .map(|m| m["window"].as_str().unwrap_or("").to_string())
            .collect();
        got_est.sort();
        assert_eq!(got_est, want_est, "{id}: windows marked not wholly metered");
        for m in &marks {
            let title = m["title"].as_str().unwrap_or("");
            assert!(
                m["visible"] == true && title.contains('%') && title.contains("估算"),
                "{id}: {m}"
            );
        }
        let status = f["status"].as_str().unwrap_or("");
        assert_eq!(card["status"].as_str(), Some(status), "{id}: status");
        assert_eq!(
            card["statusText"].as_str(),
            Some(label(&STATUS_ZH, status).as_str()),
            "{id}: status in words"
        );
        assert!(
            card["statusVisible"] == true && card["statusIcon"] == true,
            "{id}: status shown with an icon"
        );
        assert_eq!(card["stale"], f["stale"], "{id}: stale flag");
        assert_eq!(card["staleBadge"], f["stale"], "{id}: stale marker");
        for (name, v) in f["windows"].as_object().expect("windows") {
            if name == cw {
                continue;
            }
            assert_eq!(
                card["windows"][name].as_str(),
                Some(fmt_pue(&v["pue"]).as_str()),
                "{id}: PUE({name})"
            );
            assert_eq!(
                card["windowCoverage"][name].as_str(),
                Some(fmt_cov(&v["coverage"]).as_str()),
                "{id}: coverage({name})"
            );
        }
    }
    // CONTRACT §14: WUE, ERF, REF, CUE of the compliance window on each card (— while null), each
    // beside its target where the facility has one.
    let kpis = b.js("return Array.from(document.querySelectorAll('[data-testid=facility-card]')).map(function(c){var o={id:c.getAttribute('data-facility')};['wue','erf','ref','cue'].forEach(function(k){var e=c.querySelector('[data-testid=kpi-'+k+'] b');var t=c.querySelector('[data-testid=kpi-'+k+'-target]');o[k]=e?e.textContent:null;o[k+'_target']=t?t.textContent:null;});return o;})", vec![]).await;
    let kpis = kpis.as_array().cloned().unwrap_or_default();
    let fixed = |v: &Value, d: usize| v.as_f64().map_or("—".to_string(), |x| format!("{x:.d$}"));
    let pct = |v: &Value| {
        v.as_f64()
            .map_or("—".to_string(), |x| format!("{:.1}%", x * 100.0))
    };
    let mut shown = 0;
    for f in facilities {
        let id = f["id"].as_str().unwrap_or("");
        let k = kpis
            .iter()
            .find(|k| k["id"] == id)
            .unwrap_or_else(|| panic!("{id}: KPIs on its card: {kpis:?}"));
        let w = &f["windows"][f["compliance_window"].as_str().unwrap_or("365d")];
        assert_eq!(
            k["wue"].as_str(),
            Some(fixed(&w["wue"], 2).as_str()),
            "{id}: WUE"
        );
        assert_eq!(
            k["erf"].as_str(),
            Some(pct(&w["erf"]).as_str()),
            "{id}: ERF"
        );
        assert_eq!(
            k["ref"].as_str(),
            Some(pct(&w["ref"]).as_str()),
            "{id}: REF"
        );
        assert_eq!(
            k["cue"].as_str(),
            Some(fixed(&w["cue"], 3).as_str()),
            "{id}: CUE"
        );
        for (key, target, text) in [
            (
                "wue_target",
                &f["wue_target"],
                format!("≤ {}", fixed(&f["wue_target"], 2)),
            ),
            (
                "ref_target",
                &f["ref_target"],
                format!("≥ {}", pct(&f["ref_target"])),
            ),
        ] {
            match k[key].as_str() {
                Some(t) => assert!(
                    target.is_number() && t.ends_with(&text),
                    "{id}: {key} {t:?}, want {text}"
                ),
                None => assert!(target.is_null(), "{id}: {key} {target} not shown"),
            }
        }
        shown += usize::from(w["wue"].is_number()) + usize::from(w["ref"].is_number());
    }
    assert!(shown > 0, "some facility has a WUE or REF: {kpis:?}");
    // the three tiers, in order, with their Chinese headings
    let tiers = b.js("return Array.from(document.querySelectorAll('section.tier')).map(function(s){return [s.getAttribute('data-tier'), s.querySelector('h2').textContent]})", vec![]).await;
    let tiers = tiers.as_array().cloned().unwrap_or_default();
    let order: Vec<&str> = tiers.iter().filter_map(|t| t[0].as_str()).collect();
    assert_eq!(order, ["core", "supplementary", "backup"]);
    assert!(
        tiers[0][1].as_str().unwrap_or("").contains("核心"),
        "core heading: {:?}",
        tiers[0]
    );
    assert!(
        tiers[2][1].as_str().unwrap_or("").contains("备份"),
        "backup heading: {:?}",
        tiers[2]
    );
    // the breaching one is marked, in red, distinct from a compliant one
    for f in &breaching {
        let card = by_id[f["id"].as_str().unwrap_or("")];
        assert_eq!(card["statusText"], "超标");
        if let Some(ok) = cards.iter().find(|c| c["status"] == "compliant") {
            assert_ne!(
                card["statusColor"], ok["statusColor"],
                "breach and compliant look different"
            );
        }
    }
    b.screenshot("overview-zh").await;

    // --- English, remembered across a reload, then back to Chinese
    b.click("[data-testid=lang-switch]").await;
    b.wait_js("English title", "return document.documentElement.lang === 'en' && document.querySelector('h1').textContent.indexOf('Data-Centre') >= 0", vec![], Duration::from_secs(5)).await;
    let cards_en = b.js(READ_CARDS, vec![]).await;
    for c in cards_en.as_array().cloned().unwrap_or_default() {
        let st = c["status"].as_str().unwrap_or("");
        assert_eq!(
            c["statusText"].as_str(),
            Some(label(&STATUS_EN, st).as_str()),
            "English status of {}",
            c["id"]
        );
        let tier_en = match c["tier"].as_str() {
            Some("core") => "Core",
            Some("supplementary") => "Supplementary",
            _ => "Backup",
        };
        assert!(
            c["tierHeading"].as_str().unwrap_or("").contains(tier_en),
            "English tier heading {}",
            c["tierHeading"]
        );
        assert!(!c["tierHeading"].as_str().unwrap_or("").contains("核心"));
    }
    b.screenshot("overview-en").await;
    b.goto(&format!("{base}/")).await;
    b.wait_js("English after reload", "return document.documentElement.getAttribute('data-ready') === '1' && document.documentElement.lang === 'en' && document.querySelector('[data-tier=core] h2').textContent.indexOf('Core') >= 0", vec![], Duration::from_secs(20)).await;
    b.click("[data-testid=lang-switch]").await;
    b.wait_js("Chinese again", "return document.documentElement.lang === 'zh-CN' && document.querySelector('[data-tier=core] h2').textContent.indexOf('核心') >= 0", vec![], Duration::from_secs(5)).await;

    // --- a facility's trend: open the breaching one by clicking its card
    let id = breaching[0]["id"].as_str().unwrap_or("");
    b.click(&format!(
        "[data-facility=\"{id}\"] [data-testid=facility-link]"
    ))
    .await;
    let d = b
        .wait_js(
            "PUE trend chart",
            "var p = document.querySelector('#view-facility:not([hidden]) [data-testid=chart-pue] path[data-testid=series-path]'); return p && /L/.test(p.getAttribute('d') || '') ? p.getAttribute('d') : null",
            vec![],
            Duration::from_secs(20),
        )
        .await;
    assert!(
        d.as_str().unwrap_or("").starts_with('M'),
        "a drawn line: {d}"
    );
    let hash = b.js("return location.hash", vec![]).await;
    assert_eq!(hash.as_str(), Some(format!("#/facility/{id}").as_str()));
    let chart = b.js("var s = document.querySelector('[data-testid=chart-pue]'); var r = s.getBoundingClientRect(); return {w: r.width, h: r.height, ceiling: !!s.querySelector('[data-testid=ref-line]'), cov: s.querySelectorAll('[data-testid=coverage-bars] rect').length, title: document.querySelector('[data-testid=facility-title]').textContent, status: document.querySelector('#fac-head [data-testid=status]').getAttribute('data-status')}", vec![]).await;
    assert!(
        chart["w"].as_f64().unwrap_or(0.0) > 300.0 && chart["h"].as_f64().unwrap_or(0.0) > 100.0,
        "chart is visible: {chart}"
    );
    assert_eq!(chart["ceiling"], true, "ceiling line drawn: {chart}");
    assert!(
        chart["cov"].as_u64().unwrap_or(0) > 1,
        "coverage shown: {chart}"
    );
    assert_eq!(chart["status"], "breach");
    assert_eq!(
        chart["title"].as_str(),
        breaching[0]["name"].as_str(),
        "facility view title"
    );
    // the chart reads out its points from the keyboard (End: the newest point)
    let svg = b.find("[data-testid=chart-pue]").await;
    b.post(
        &format!("/element/{svg}/value"),
        json!({"text": "\u{E010}"}),
    )
    .await;
    let tip = b
        .wait_js(
            "chart read-out",
            "var t = document.querySelector('#pue-chart .tip'); return t && !t.hidden ? t.textContent : null",
            vec![],
            Duration::from_secs(5),
        )
        .await;
    assert!(
        tip.as_str().unwrap_or("").contains("PUE"),
        "read-out of the newest point: {tip}"
    );
    b.screenshot(&format!("facility-{id}-24h")).await;
    // the 12-month range draws too
    b.click("[data-testid=range-12mo]").await;
    b.wait_js("12-month trend", "var b = document.querySelector('[data-testid=range-12mo]'); var p = document.querySelector('[data-testid=chart-pue] path[data-testid=series-path]'); return b.getAttribute('aria-checked') === 'true' && p && (p.getAttribute('d').match(/L/g) || []).length > 10", vec![], Duration::from_secs(20)).await;
    b.screenshot(&format!("facility-{id}-12mo")).await;
    b.click("[data-testid=range-24h]").await;

    // --- the province alert list
    b.click("[data-testid=nav-alerts]").await;
    b.wait_js("alert list", "return !document.getElementById('view-alerts').hidden && (document.querySelector('[data-testid=alerts-active-table], [data-testid=alerts-active-table-empty]') !== null)", vec![], Duration::from_secs(20)).await;
    b.screenshot("alerts").await;

    // --- nothing but the server under test was asked for anything
    let entries = b.js("return performance.getEntriesByType('resource').map(function(e){return e.name}).concat([location.href])", vec![]).await;
    let entries: Vec<String> = entries
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    assert!(
        entries.iter().any(|u| u.contains("/api/v1/facilities")),
        "resource timing saw the API: {entries:?}"
    );
    for u in &entries {
        assert!(
            u.starts_with(base),
            "request left the server under test: {u}"
        );
    }
    // no script error, failed load or CSP violation on the console
    let console = b.post("/se/log", json!({"type": "browser"})).await;
    let severe: Vec<&Value> = console
        .as_array()
        .map(|a| a.iter().filter(|e| e["level"] == "SEVERE").collect())
        .unwrap_or_default();
    assert!(severe.is_empty(), "browser console errors: {severe:?}");
    let urls = b.requested_urls().await;
    assert!(
        urls.iter().any(|u| u.ends_with("/assets/app.js")),
        "performance log works: {urls:?}"
    );
    for u in &urls {
        let scheme = u.split(':').next().unwrap_or("");
        match scheme {
            // browser-internal, never on the network
            "data" | "blob" | "about" | "chrome" | "chrome-untrusted" | "devtools" => {}
            _ => assert!(
                u.starts_with(base),
                "request left the server under test: {u}"
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A server with the embedded page and canned API responses shaped like dcpue's.

fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00")
}
fn rfc(t: DateTime<Utc>) -> String {
    t.with_timezone(&cst())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

struct Canned {
    facilities: Mutex<Value>,
    alerts: Value,
    history: Value,
    hits: Mutex<HashMap<String, usize>>,
}

/// id, name, name_en, city, tier, class, ceiling, annual PUE, coverage, renewable share,
/// renewable target, stale.
type CannedRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    f64,
    Option<f64>,
    f64,
    Option<f64>,
    Option<f64>,
    bool,
);

fn canned_facilities(now: DateTime<Utc>) -> Value {
    // id, name, name_en, city, tier, class, ceiling, annual pue, coverage, renewable, target, stale
    let rows: [CannedRow; 7] = [
        (
            "nanchang-1",
            "南昌核心数据中心",
            "Nanchang Core DC",
            "Nanchang",
            "core",
            "ultra-large",
            1.3,
            Some(1.2481),
            0.9874,
            Some(0.312),
            Some(0.3),
            false,
        ),
        (
            "jiujiang-1",
            "九江数据中心",
            "Jiujiang DC",
            "Jiujiang",
            "supplementary",
            "large",
            1.3,
            Some(1.3423),
            0.9622,
            Some(0.121),
            Some(0.2),
            false,
        ),
        (
            "shangrao-1",
            "上饶数据中心",
            "Shangrao DC",
            "Shangrao",
            "supplementary",
            "large",
            1.3,
            Some(1.2738),
            0.9551,
            Some(0.22),
            None,
            false,
        ),
        (
            "ganzhou-1",
            "赣州数据中心",
            "Ganzhou DC",
            "Ganzhou",
            "supplementary",
            "large",
            1.3,
            Some(1.1912),
            0.9913,
            Some(0.41),
            Some(0.35),
            false,
        ),
        (
            "yichun-1",
            "宜春数据中心",
            "Yichun DC",
            "Yichun",
            "supplementary",
            "large",
            1.3,
            Some(1.2867),
            0.9444,
            None,
            None,
            false,
        ),
        (
            "fuzhou-1",
            "抚州备份数据中心",
            "Fuzhou Backup DC",
            "Fuzhou",
            "backup",
            "medium",
            1.5,
            Some(1.4117),
            0.9302,
            Some(0.05),
            None,
            true,
        ),
        (
            "yingtan-1",
            "鹰潭备份数据中心",
            "Yingtan Backup DC",
            "Yingtan",
            "backup",
            "medium",
            1.5,
            None,
            0.6138,
            None,
            None,
            false,
        ),
    ];
    let windows = ["15m", "1h", "24h", "30d", "365d"];
    let list: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, &(id, name, name_en, city, tier, class, ceiling, pue, cov, share, target, stale))| {
            let ws: serde_json::Map<String, Value> = windows
                .iter()
                .enumerate()
                .map(|(k, w)| {
                    let p = if *w == "365d" { pue } else { pue.map(|p| p + 0.0137 * ((i + k) as f64).sin()) };
                    let c = if *w == "365d" { cov } else { (cov + 0.0071 * k as f64).min(1.0) };
                    (
                        w.to_string(),
                        json!({"pue": p, "coverage": c, "renewable_share": share,
                               "energy_kwh": {"total": 1000.0, "it": 800.0, "renewable": 100.0},
                               "wue": (i % 2 == 0).then_some(0.8 + 0.1 * i as f64 + 0.01 * k as f64),
                               "erf": (i == 0).then_some(0.083),
                               "ref": share.map(|s| s + 0.05),
                               "cue": pue.map(|p| 0.4 * p),
                               "estimated_share": if i == 1 && (k == 1 || k == 4) { json!(0.125) } else if i == 6 { Value::Null } else { json!(0.0) }}),
                    )
                })
                .collect();
            let status = if cov < 0.9 {
                "insufficient_data"
            } else if pue.unwrap_or(0.0) > ceiling {
                "breach"
            } else {
                "compliant"
            };
            let grade = match (status, pue) {
                ("insufficient_data", _) | (_, None) => Value::Null,
                (_, Some(p)) if p <= 1.2 => json!(1),
                (_, Some(p)) if p <= 1.3 => json!(2),
                (_, Some(p)) if p <= 1.5 => json!(3),
                _ => Value::Null,
            };
            let wm = if stale { now - chrono::Duration::hours(3) } else { now - chrono::Duration::seconds(40) };
            json!({"id": id, "name": name, "name_en": name_en, "city": city, "tier": tier, "class": class,
                   "pue_ceiling": ceiling, "renewable_target": target, "watermark": rfc(wm), "stale": stale,
                   "wue_target": (i % 4 == 0).then_some(1.6), "ref_target": target,
                   "compliance_window": "365d", "windows": ws, "status": status, "grade": grade,
                   "accepted_total": 100_000 + i as u64})
        })
        .collect();
    Value::Array(list)
}

fn canned_alerts(now: DateTime<Utc>) -> (Value, Value) {
    let active = json!([
        {"name": "PueAboveCeiling", "labels": {"alertname": "PueAboveCeiling", "facility": "jiujiang-1", "window": "365d", "tier": "supplementary", "severity": "critical"},
         "annotations": {"summary": "Jiujiang DC: PUE(365d) 1.342 above ceiling 1.30", "summary_zh": "九江数据中心：年度 PUE 1.342 超过上限 1.30"},
         "state": "firing", "since": rfc(now - chrono::Duration::days(9)), "value": 1.3423},
        {"name": "MeterStale", "labels": {"alertname": "MeterStale", "facility": "fuzhou-1", "meter": "grid-in", "tier": "backup", "severity": "warning"},
         "annotations": {"summary": "Fuzhou: meter grid-in silent", "summary_zh": "抚州：电表 grid-in 无读数"},
         "state": "pending", "since": rfc(now - chrono::Duration::hours(3)), "value": 10800.0}
    ]);
    let history = json!([
        {"name": "PueAboveCeiling", "labels": {"alertname": "PueAboveCeiling", "facility": "nanchang-1", "window": "24h", "tier": "core", "severity": "warning"},
         "annotations": {"summary": "Nanchang: PUE(24h) above ceiling, \"hot day\"", "summary_zh": "南昌：24 小时 PUE 超过上限"},
         "since": rfc(now - chrono::Duration::days(5)), "resolved_at": rfc(now - chrono::Duration::days(4)), "value": 1.3101},
        {"name": "CoverageBelowMinimum", "labels": {"alertname": "CoverageBelowMinimum", "facility": "shangrao-1", "window": "24h", "tier": "supplementary", "severity": "warning"},
         "annotations": {"summary": "Shangrao: coverage(24h) below 90%", "summary_zh": "上饶：24 小时覆盖率低于 90%"},
         "since": rfc(now - chrono::Duration::days(20)), "resolved_at": rfc(now - chrono::Duration::days(19)), "value": 0.85}
    ]);
    (active, history)
}

#[derive(serde::Deserialize)]
struct SeriesQuery {
    window: Option<String>,
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
}

fn span_ms(s: &str) -> Option<i64> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = n.parse().ok()?;
    Some(
        n * match unit {
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        },
    )
}

async fn series(
    State(st): State<Arc<Canned>>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<SeriesQuery>,
) -> Response {
    let facs = st
        .facilities
        .lock()
        .map(|f| f.clone())
        .unwrap_or(Value::Null);
    let Some(f) = facs
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == id.as_str()))
        .cloned()
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let parse = |s: &Option<String>| {
        s.as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let (Some(from), Some(to), Some(step)) = (
        parse(&q.from),
        parse(&q.to),
        q.step.as_deref().and_then(span_ms),
    ) else {
        return (StatusCode::BAD_REQUEST, "from, to and step are required").into_response();
    };
    let base = f["windows"]["365d"]["pue"].as_f64().unwrap_or(1.3);
    let mut points = Vec::new();
    let mut t = from.timestamp_millis() + step;
    let mut k = 0;
    while t <= to.timestamp_millis() && k < 2000 {
        let x = k as f64;
        let when = Utc.timestamp_millis_opt(t).single().unwrap_or(from);
        // a gap of missing data in the middle, as a meter outage would leave
        let gap = k > 6 && k < 9;
        points.push(json!({"t": rfc(when),
            "pue": if gap { Value::Null } else { json!(base + 0.03 * (x / 4.0).sin()) },
            "coverage": if gap { 0.0 } else { 0.96 + 0.03 * (x / 3.0).cos() },
            "renewable_share": f["windows"]["365d"]["renewable_share"].as_f64().map(|s| s + 0.02 * (x / 5.0).sin())}));
        t += step;
        k += 1;
    }
    Json(json!({"facility": id, "window": q.window, "step": q.step, "ceiling": f["pue_ceiling"], "min_coverage": 0.9, "points": points})).into_response()
}

fn canned_app(st: Arc<Canned>) -> Router {
    let hit = |st: &Arc<Canned>, what: &str| {
        if let Ok(mut h) = st.hits.lock() {
            *h.entry(what.to_string()).or_default() += 1;
        }
    };
    let api = Router::new()
        .route(
            "/api/v1/facilities",
            get(move |State(st): State<Arc<Canned>>| async move {
                hit(&st, "facilities");
                Json(st.facilities.lock().map(|f| f.clone()).unwrap_or(Value::Null))
            }),
        )
        .route(
            "/api/v1/facilities/{id}",
            get(|State(st): State<Arc<Canned>>, UrlPath(id): UrlPath<String>| async move {
                let facs = st.facilities.lock().map(|f| f.clone()).unwrap_or(Value::Null);
                match facs.as_array().and_then(|a| a.iter().find(|f| f["id"] == id.as_str())).cloned() {
                    Some(mut f) => {
                        f["meters"] = json!([
                            {"id": "grid-in", "roles": ["total"], "weight": 1.0, "last_ts": f["watermark"], "last_power_kw": 3120.5,
                             "last_energy_kwh": 18234567.2, "coverage": [["24h", 0.99], ["365d", 0.98]], "holds_watermark": true},
                            {"id": "it-a", "roles": ["it"], "weight": 1.0, "last_ts": f["watermark"], "last_power_kw": 2400.0,
                             "last_energy_kwh": 9234567.0, "coverage": [["24h", 0.99], ["365d", 0.97]], "holds_watermark": true}
                        ]);
                        Json(f).into_response()
                    }
                    None => StatusCode::NOT_FOUND.into_response(),
                }
            }),
        )
        .route("/api/v1/facilities/{id}/series", get(series))
        .route("/api/v1/alerts", get(|State(st): State<Arc<Canned>>| async move { Json(st.alerts.clone()) }))
        .route(
            "/api/v1/alerts/history",
            get(|State(st): State<Arc<Canned>>, Query(q): Query<HashMap<String, String>>| async move {
                let rows: Vec<Value> = st
                    .history
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|a| q.get("facility").is_none_or(|f| f.is_empty() || a["labels"]["facility"] == f.as_str()))
                    .filter(|a| q.get("name").is_none_or(|n| n.is_empty() || a["name"] == n.as_str()))
                    .collect();
                Json(Value::Array(rows))
            }),
        );
    page::routes::<Arc<Canned>>().merge(api).with_state(st)
}

fn artifacts_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("test-artifacts")
        .join(name)
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium() {
    let now = Utc::now();
    let facilities = canned_facilities(now);
    let (alerts, history) = canned_alerts(now);
    let st = Arc::new(Canned {
        facilities: Mutex::new(facilities.clone()),
        alerts,
        history,
        hits: Mutex::new(HashMap::new()),
    });
    let base = serve(canned_app(st.clone())).await;

    // the assets as served: types, caching, and no third-party reference
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    for (path, ctype) in [
        ("/", "text/html"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
    ] {
        let r = http
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("GET asset");
        assert_eq!(r.status(), 200, "{path}");
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        assert!(ct.starts_with(ctype), "{path}: content type {ct}");
        assert!(
            r.headers().get("cache-control").is_some(),
            "{path}: Cache-Control"
        );
        let etag = r.headers().get("etag").cloned().expect("etag");
        let again = http
            .get(format!("{base}{path}"))
            .header("if-none-match", etag)
            .send()
            .await
            .expect("GET again");
        assert_eq!(again.status(), 304, "{path}: revalidation");
    }

    let dir = artifacts_dir("browser-canned");
    let b = Browser::start(&dir).await;
    check_dashboard_in(&b, &base, &facilities).await;

    // live updates without a reload: the API changes, the page follows within a poll or two
    b.click("[data-testid=nav-overview]").await;
    b.wait_js(
        "overview",
        "return document.querySelectorAll('[data-testid=facility-card]').length === 7",
        vec![],
        Duration::from_secs(10),
    )
    .await;
    b.js("window.__notReloaded = true", vec![]).await;
    let polls_before = st
        .hits
        .lock()
        .map(|h| h.get("facilities").copied().unwrap_or(0))
        .unwrap_or(0);
    if let Ok(mut f) = st.facilities.lock() {
        if let Some(arr) = f.as_array_mut() {
            for x in arr.iter_mut().filter(|x| x["id"] == "ganzhou-1") {
                x["windows"]["365d"]["pue"] = json!(1.3561);
                x["status"] = json!("breach");
                x["grade"] = json!(3);
            }
        }
    }
    b.wait_js(
        "live update",
        "var c = document.querySelector('[data-facility=ganzhou-1]'); return window.__notReloaded === true && c.getAttribute('data-status') === 'breach' && c.querySelector('[data-testid=pue]').textContent === '1.356'",
        vec![],
        Duration::from_secs(15),
    )
    .await;
    let polls_after = st
        .hits
        .lock()
        .map(|h| h.get("facilities").copied().unwrap_or(0))
        .unwrap_or(0);
    assert!(polls_after > polls_before, "the page polled the API");
    b.screenshot("overview-live-update").await;

    // CSV of the alert list as filtered on screen
    b.goto(&format!("{base}/#/alerts?facility=jiujiang-1"))
        .await;
    b.wait_js("filtered alerts", "var t = document.querySelector('[data-testid=alerts-active-table]'); return t && t.querySelectorAll('tbody tr').length === 1 && document.getElementById('f-facility').value === 'jiujiang-1'", vec![], Duration::from_secs(10)).await;
    b.click("[data-testid=csv-download]").await;
    let csv = b
        .wait_js(
            "CSV",
            "return window.__dcpueLastCsv || null",
            vec![],
            Duration::from_secs(5),
        )
        .await;
    let csv = csv
        .as_str()
        .unwrap_or("")
        .trim_start_matches('\u{feff}')
        .to_string();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "header and the one alert on screen: {csv}");
    assert!(lines[0].starts_with("state,alertname,"), "{csv}");
    assert!(
        lines[1].starts_with("firing,PueAboveCeiling,") && lines[1].contains("jiujiang-1"),
        "{csv}"
    );
    b.screenshot("alerts-filtered").await;
    b.quit().await;
}

/// The page against the real thing: `dcpue serve` on the Jiangxi layout fed by `dcpue simulate`
/// (tests/support_grafana/live.rs), quiet while the browser looks. What the page shows is what
/// dcpue's own `/api/v1/facilities` says. Screenshots: target/test-artifacts/browser-dcpue/.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_of_a_running_dcpue_in_headless_chromium() {
    let scenario = tokio::task::spawn_blocking(|| live::LiveDcpue::start(None))
        .await
        .expect("scenario");
    let base = scenario.base_url();
    // What the API says now (the scenario is quiet: no reading arrives while the browser looks).
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let facilities: Value = http
        .get(format!("{base}/api/v1/facilities"))
        .send()
        .await
        .expect("GET /api/v1/facilities")
        .json()
        .await
        .expect("facilities JSON");
    assert_eq!(
        facilities, scenario.facilities,
        "the scenario is quiet: the API does not change"
    );
    assert!(
        facilities.as_array().is_some_and(|a| a
            .iter()
            .any(|f| f["id"] == "yingtan-1" && f["status"] == "breach")),
        "yingtan-1 breaches its ceiling: {facilities}"
    );
    let b = Browser::start(&artifacts_dir("browser-dcpue")).await;
    check_dashboard_in(&b, &base, &facilities).await;

    // Honest about data quality on real history: the 12-month trend of the breaching site
    // starts with the 30-day window filling up, drawn as hollow low-coverage points under the
    // minimum-coverage line dcpue's series endpoint gives.
    let series: Value = http
        .get(format!(
            "{base}/api/v1/facilities/yingtan-1/series?window=30d&step=1d&from={}",
            scenario.from_ms
        ))
        .send()
        .await
        .expect("GET series")
        .json()
        .await
        .expect("series JSON");
    assert_eq!(series["min_coverage"], json!(0.9), "series: {series}");
    b.goto(&format!("{base}/#/facility/yingtan-1")).await;
    b.wait_js("facility view", "return document.documentElement.getAttribute('data-ready') === '1' && !document.getElementById('view-facility').hidden", vec![], Duration::from_secs(20)).await;
    b.click("[data-testid=range-12mo]").await;
    let marks = b
        .wait_js(
            "low-coverage points",
            "var s = document.querySelector('[data-testid=chart-pue]'); if (!s) return null; var n = s.querySelectorAll('circle.lowcov').length; return n > 0 && s.querySelector('.covline') ? n : null",
            vec![],
            Duration::from_secs(20),
        )
        .await;
    assert!(marks.as_u64().unwrap_or(0) >= 5, "hollow points: {marks}");
    // A resolved CoverageBelowMinimum (the windows filling up) shows how low coverage was,
    // below the 90 % minimum, not the value that cleared it.
    let worst = b
        .wait_js(
            "coverage alert history",
            "var r = document.querySelector('[data-testid=fac-history] tr[data-alert=CoverageBelowMinimum]'); return r ? r.querySelector('td.num').textContent : null",
            vec![],
            Duration::from_secs(20),
        )
        .await;
    let pct: f64 = worst
        .as_str()
        .and_then(|s| s.trim_end_matches('%').parse().ok())
        .unwrap_or_else(|| panic!("a percentage: {worst}"));
    assert!(pct < 90.0, "worst coverage while active: {worst}");
    b.screenshot("facility-yingtan-1-12mo-coverage").await;
    // The footnote names the compliance window this configuration judges on.
    b.click("[data-testid=nav-overview]").await;
    let note = b
        .wait_js(
            "footnote",
            "var n = document.querySelector('[data-i18n=note]'); return n && n.textContent.indexOf('30d') >= 0 ? n.textContent : null",
            vec![],
            Duration::from_secs(10),
        )
        .await;
    assert!(note.as_str().unwrap_or("").contains("合规"), "{note}");
    // 40 days of a 365-day window: its PUE is shown muted as indicative, not as a breach.
    let cell = b
        .js(
            "var c = document.querySelector('[data-facility=yingtan-1] td[data-window=\"365d\"]'); return c ? c.className : null",
            vec![],
        )
        .await;
    assert_eq!(cell, "low", "yingtan-1's 11 %-covered 365d PUE");
    b.screenshot("overview-zh-30d").await;
    b.quit().await;
    drop(scenario);
}
