//! The Grafana dashboards (dashboards/*.json), the provisioning files and the Prometheus
//! scrape config and rules (deploy/prometheus/):
//! - static checks of the Grafana conventions and of the metric / measurement names used;
//! - promtool check config / check rules / test rules;
//! - LIVE: every PromQL expression of every panel, template variables filled in, run through a
//!   real Prometheus scraping dcpue-shaped /metrics (and evaluating the rules file), and the
//!   history dashboard through a real VictoriaMetrics fed CONTRACT §8 line protocol.
//!
//! - LIVE against the real dcpue (`dashboards_show_data_from_a_running_dcpue`): `dcpue serve` fed
//!   by `dcpue simulate` (tests/support_grafana/live.rs), scraped by a real Prometheus, its
//!   InfluxDB sink writing into a real VictoriaMetrics.
//!
//! `support_grafana::run_panel_queries` is the reusable part.

#[path = "support_grafana/live.rs"]
mod live;
mod support;
mod support_grafana;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use support::eventually;
use support_grafana::*;

const PROVINCE: &str = "dcpue-province.json";
const RENEWABLES: &str = "dcpue-renewables.json";
const HISTORY_PROMQL: &str = "dcpue-history-promql.json";
const HISTORY_FLUX: &str = "dcpue-history-flux.json";

/// (file, uid, data-source plugin type)
const DASHBOARDS: [(&str, &str, &str); 4] = [
    (PROVINCE, "dcpue-province", "prometheus"),
    (RENEWABLES, "dcpue-renewables", "prometheus"),
    (HISTORY_PROMQL, "dcpue-history-promql", "prometheus"),
    (HISTORY_FLUX, "dcpue-history-flux", "influxdb"),
];

/// dcpue's /metrics names (CONTRACT §6 as implemented).
const METRICS: [&str; 26] = [
    "dcpue_pue_ratio",
    "dcpue_coverage_ratio",
    "dcpue_renewable_share_ratio",
    "dcpue_estimated_share_ratio",
    "dcpue_pue_ceiling_ratio",
    "dcpue_renewable_target_ratio",
    "dcpue_facility_status",
    "dcpue_facility_grade",
    "dcpue_facility_info",
    "dcpue_watermark_timestamp_seconds",
    "dcpue_facility_stale",
    "dcpue_energy_kwh",
    "dcpue_alert_active",
    "dcpue_readings_accepted_total",
    "dcpue_readings_rejected_total",
    "dcpue_mqtt_connected",
    "dcpue_mqtt_last_message_age_seconds",
    "dcpue_influx_points_written_total",
    "dcpue_influx_write_errors_total",
    "dcpue_influx_queue_points",
    "dcpue_wue_liters_per_kwh",
    "dcpue_erf_ratio",
    "dcpue_ref_ratio",
    "dcpue_cue_kg_per_kwh",
    "dcpue_wue_target_liters_per_kwh",
    "dcpue_ref_target_ratio",
];

/// CONTRACT §8 points as VictoriaMetrics names them (measurement_field).
const SINK_METRICS: [&str; 9] = [
    "dcpue_window_pue",
    "dcpue_window_coverage",
    "dcpue_window_renewable_share",
    "dcpue_window_estimated_share",
    "dcpue_window_energy_total_kwh",
    "dcpue_window_energy_it_kwh",
    "dcpue_window_energy_renewable_kwh",
    "dcpue_reading_power_kw",
    "dcpue_reading_energy_kwh",
];

/// CONTRACT §8: measurement → (tags, fields).
fn sink_schema() -> BTreeMap<&'static str, (Vec<&'static str>, Vec<&'static str>)> {
    BTreeMap::from([
        (
            "dcpue_window",
            (
                vec!["facility", "tier", "window"],
                vec![
                    "pue",
                    "coverage",
                    "renewable_share",
                    "energy_total_kwh",
                    "energy_it_kwh",
                    "energy_renewable_kwh",
                    "estimated_share",
                ],
            ),
        ),
        (
            "dcpue_reading",
            (
                vec!["facility", "meter", "role"],
                vec!["power_kw", "energy_kwh"],
            ),
        ),
    ])
}

fn dashboard_path(file: &str) -> PathBuf {
    repo_root().join("dashboards").join(file)
}

/// Every PromQL expression / Flux query of a dashboard: (panel title, text).
fn queries(dash: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in all_panels(dash) {
        let title = p["title"].as_str().unwrap_or("").to_string();
        for t in p["targets"].as_array().into_iter().flatten() {
            for key in ["expr", "query"] {
                if let Some(q) = t[key].as_str() {
                    out.push((title.clone(), q.to_string()));
                }
            }
        }
    }
    out
}

/// Every `datasource` value anywhere in the JSON, with its JSON path.
fn datasource_refs(v: &Value, path: String, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                let p = format!("{path}.{k}");
                if k == "datasource" {
                    out.push((p.clone(), x.clone()));
                }
                datasource_refs(x, p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                datasource_refs(x, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Threshold step values of a panel: defaults and overrides.
fn threshold_values(panel: &Value) -> Vec<f64> {
    let mut out = Vec::new();
    let mut steps = |th: &Value| {
        for s in th["steps"].as_array().into_iter().flatten() {
            if let Some(x) = s["value"].as_f64() {
                out.push(x);
            }
        }
    };
    steps(&panel["fieldConfig"]["defaults"]["thresholds"]);
    for o in panel["fieldConfig"]["overrides"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for p in o["properties"].as_array().into_iter().flatten() {
            if p["id"] == "thresholds" {
                steps(&p["value"]);
            }
        }
    }
    out
}

/// Units of a panel: the default and those set by overrides.
fn units(panel: &Value) -> Vec<String> {
    let mut out: Vec<String> = panel["fieldConfig"]["defaults"]["unit"]
        .as_str()
        .map(str::to_string)
        .into_iter()
        .collect();
    for o in panel["fieldConfig"]["overrides"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for p in o["properties"].as_array().into_iter().flatten() {
            if p["id"] == "unit" {
                if let Some(u) = p["value"].as_str() {
                    out.push(u.to_string());
                }
            }
        }
    }
    out
}

/// Words `dcpue_...` in a text.
fn dcpue_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find("dcpue_") {
        let start = i + pos;
        let before_ok = start == 0
            || !(b[start - 1].is_ascii_alphanumeric()
                || b[start - 1] == b'_'
                || b[start - 1] == b':');
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_' || b[end] == b':')
        {
            end += 1;
        }
        if before_ok {
            out.insert(text[start..end].to_string());
        }
        i = end;
    }
    out
}

// ------------------------------------------------------------------------------------ static

#[test]
fn dashboards_follow_grafana_conventions() {
    let mut uids = BTreeSet::new();
    for (file, uid, ds_type) in DASHBOARDS {
        let dash = load_dashboard(&dashboard_path(file));
        let schema = dash["schemaVersion"].as_u64().unwrap_or(0);
        assert!(schema >= 39, "{file}: schemaVersion {schema} < 39");
        assert_eq!(
            dash["uid"], uid,
            "{file}: uid must stay {uid} (links and provisioning use it)"
        );
        assert!(uids.insert(uid.to_string()), "{file}: uid {uid} used twice");
        assert!(
            uid.len() <= 40,
            "{file}: Grafana uids are at most 40 characters"
        );
        assert!(
            dash["id"].is_null(),
            "{file}: a dashboard to import carries no numeric id"
        );
        assert!(
            dash["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("dcpue")),
            "{file}: title"
        );

        // Data source: a template variable of type datasource, referenced by every panel,
        // target and query variable; no hard-coded data-source uid anywhere.
        let vars = variables(&dash);
        let ds_var = vars
            .iter()
            .find(|v| v["type"] == "datasource")
            .unwrap_or_else(|| panic!("{file}: no data-source template variable"));
        assert_eq!(
            ds_var["query"], ds_type,
            "{file}: data-source variable of the wrong plugin type"
        );
        let ds_name = ds_var["name"].as_str().expect("name");
        let mut refs = Vec::new();
        datasource_refs(&dash, String::new(), &mut refs);
        assert!(
            refs.len() > 10,
            "{file}: panels and targets must name their data source"
        );
        for (path, r) in &refs {
            if r["type"] == "grafana" && r["uid"] == "-- Grafana --" {
                continue; // Grafana's built-in annotations, not a data source
            }
            assert_eq!(
                r["uid"],
                format!("${{{ds_name}}}"),
                "{file}{path}: data source must be ${{{ds_name}}}, is {r}"
            );
            assert_eq!(r["type"], ds_type, "{file}{path}: data-source type");
        }
        let text = std::fs::read_to_string(dashboard_path(file)).expect("read");
        for provisioned in [
            "dcpue-prometheus",
            "dcpue-victoriametrics",
            "dcpue-influxdb",
        ] {
            assert!(
                !text.contains(provisioned),
                "{file}: hard-codes the provisioned data-source uid {provisioned}"
            );
        }
        assert!(
            dash.get("__inputs").is_none() || text.contains("${DS_"),
            "{file}: __inputs without ${{DS_…}} use"
        );

        // Facility and tier variables: query variables, facility filtered by the chosen tier.
        let var = |name: &str| -> &Value {
            vars.iter()
                .find(|v| v["name"] == name)
                .unwrap_or_else(|| panic!("{file}: no ${name} variable"))
        };
        for name in ["facility", "tier"] {
            let v = var(name);
            assert_eq!(
                v["type"], "query",
                "{file}: ${name} must be a query variable"
            );
            assert_eq!(
                v["datasource"]["uid"],
                format!("${{{ds_name}}}"),
                "{file}: ${name} data source"
            );
            assert_eq!(v["multi"], true, "{file}: ${name} multi-value");
            assert_eq!(v["includeAll"], true, "{file}: ${name} All option");
            let q = variable_query(v).unwrap_or_default();
            assert!(q.contains(name), "{file}: ${name} query {q}");
            if ds_type == "prometheus" {
                assert!(q.starts_with("label_values("), "{file}: ${name} query {q}");
            }
        }
        let fq = variable_query(var("facility")).unwrap_or_default();
        assert!(
            fq.contains("$tier") || fq.contains("${tier"),
            "{file}: facility values must follow the tier: {fq}"
        );
        assert!(
            var("facility").get("allValue").is_none(),
            "{file}: facility All must expand to the tier's facilities"
        );

        // Panels: units, decimals, thresholds at the ceiling.
        let mut checked = 0;
        for p in all_panels(&dash) {
            if p["type"] == "row" {
                continue;
            }
            checked += 1;
            let title = p["title"].as_str().unwrap_or("");
            assert!(!title.is_empty(), "{file}: panel {} without title", p["id"]);
            assert!(p["id"].as_u64().is_some(), "{file}: {title}: id");
            for k in ["h", "w", "x", "y"] {
                assert!(
                    p["gridPos"][k].as_u64().is_some(),
                    "{file}: {title}: gridPos.{k}"
                );
            }
            let unit = p["fieldConfig"]["defaults"]["unit"].as_str().unwrap_or("");
            assert!(!unit.is_empty(), "{file}: {title}: no unit");
            let us = units(p);
            let qs: Vec<String> = p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["expr"].as_str().or(t["query"].as_str()))
                .map(str::to_string)
                .collect();
            assert!(!qs.is_empty(), "{file}: {title}: no query");
            if title.contains("PUE") {
                assert_eq!(unit, "none", "{file}: {title}: a PUE is a plain ratio");
                let d = p["fieldConfig"]["defaults"]["decimals"]
                    .as_u64()
                    .unwrap_or(0);
                assert!(
                    (2..=3).contains(&d),
                    "{file}: {title}: PUE with {d} decimals"
                );
            }
            if title.contains("overage") || title.contains("share") {
                assert!(
                    us.iter().any(|u| u == "percentunit"),
                    "{file}: {title}: unit {us:?}, want percentunit"
                );
            }
            if title.contains("nergy") && !title.contains("PUE") {
                assert!(
                    us.iter().any(|u| u == "kwatth"),
                    "{file}: {title}: unit {us:?}, want kwatth"
                );
            }
            if title.contains("power") {
                assert!(
                    us.iter().any(|u| u == "kwatt"),
                    "{file}: {title}: unit {us:?}, want kwatt"
                );
            }
            let shows_pue = qs.iter().any(|q| {
                q.contains("dcpue_pue_ratio")
                    || q.contains("dcpue_window_pue")
                    || q.contains("r._field == \"pue\"")
            }) && !title.contains("Alert");
            if shows_pue || title.contains("PUE") {
                let th = threshold_values(p);
                assert!(
                    th.iter().any(|x| (x - 1.3).abs() < 1e-9),
                    "{file}: {title}: PUE without the 1.3 ceiling threshold ({th:?})"
                );
                if p["type"] == "timeseries" {
                    let style = &p["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"];
                    let ceiling_series = qs.iter().any(|q| q.contains("dcpue_pue_ceiling_ratio"));
                    assert!(
                        style != "off" || ceiling_series,
                        "{file}: {title}: ceiling neither drawn as threshold nor as series"
                    );
                }
            }
        }
        assert!(checked >= 7, "{file}: only {checked} panels");
    }
}

#[test]
fn every_shipped_dashboard_is_checked() {
    let mut files: Vec<String> = std::fs::read_dir(repo_root().join("dashboards"))
        .expect("dashboards/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    let mut known: Vec<String> = DASHBOARDS.iter().map(|d| d.0.to_string()).collect();
    known.sort();
    assert_eq!(
        files, known,
        "a dashboard in dashboards/ that the tests do not check"
    );
}

#[test]
fn dashboards_use_only_dcpue_metrics_that_exist() {
    for (file, allowed) in [
        (PROVINCE, &METRICS[..]),
        (RENEWABLES, &METRICS[..]),
        (HISTORY_PROMQL, &SINK_METRICS[..]),
    ] {
        let dash = load_dashboard(&dashboard_path(file));
        let mut used = BTreeSet::new();
        let mut texts: Vec<String> = queries(&dash).into_iter().map(|(_, q)| q).collect();
        texts.extend(variables(&dash).iter().filter_map(|v| variable_query(v)));
        for q in &texts {
            for name in dcpue_names(q) {
                assert!(
                    allowed.contains(&name.as_str()),
                    "{file}: unknown metric {name} in {q}"
                );
                used.insert(name);
            }
        }
        if file == HISTORY_PROMQL {
            for m in SINK_METRICS {
                assert!(
                    used.contains(m),
                    "{file}: the history dashboard does not chart {m}"
                );
            }
        }
    }
    // The province and renewables dashboards together chart every metric of /metrics.
    let mut used = BTreeSet::new();
    for file in [PROVINCE, RENEWABLES] {
        let dash = load_dashboard(&dashboard_path(file));
        for (_, q) in queries(&dash) {
            used.extend(dcpue_names(&q));
        }
    }
    for m in METRICS {
        assert!(used.contains(m), "no panel charts {m}");
    }
}

/// Flux: only the measurements, fields and tags of CONTRACT §8; the bucket from a variable.
#[test]
fn flux_dashboard_reads_only_contract_points() {
    let schema = sink_schema();
    let dash = load_dashboard(&dashboard_path(HISTORY_FLUX));
    let mut texts: Vec<(String, String)> = queries(&dash);
    for v in variables(&dash) {
        if v["type"] == "query" {
            texts.push((
                format!("variable {}", v["name"]),
                variable_query(v).unwrap_or_default(),
            ));
        }
    }
    assert!(texts.len() >= 8, "too few Flux queries");
    let all_tags: BTreeSet<&str> = schema
        .values()
        .flat_map(|(t, _)| t.iter().copied())
        .collect();
    let mut fields_seen = BTreeSet::new();
    for (title, q) in &texts {
        let quoted_after = |needle: &str| -> Vec<String> {
            let mut out = Vec::new();
            let mut rest = q.as_str();
            while let Some(p) = rest.find(needle) {
                rest = &rest[p + needle.len()..];
                let r = rest.trim_start();
                if let Some(r) = r.strip_prefix('"') {
                    if let Some(end) = r.find('"') {
                        out.push(r[..end].to_string());
                    }
                }
            }
            out
        };
        let measurements: Vec<String> = [
            quoted_after("r._measurement =="),
            quoted_after("measurement:"),
        ]
        .concat();
        assert!(
            !measurements.is_empty(),
            "{title}: no measurement filter in {q}"
        );
        for m in &measurements {
            assert!(
                schema.contains_key(m.as_str()),
                "{title}: measurement {m} is not in CONTRACT §8"
            );
        }
        let allowed_fields: BTreeSet<&str> = measurements
            .iter()
            .flat_map(|m| schema[m.as_str()].1.iter().copied())
            .collect();
        let allowed_tags: BTreeSet<&str> = measurements
            .iter()
            .flat_map(|m| schema[m.as_str()].0.iter().copied())
            .collect();
        for f in quoted_after("r._field ==") {
            assert!(
                allowed_fields.contains(f.as_str()),
                "{title}: field {f} is not a field of {measurements:?}"
            );
            fields_seen.insert(f);
        }
        // r.<column>
        let mut rest = q.as_str();
        while let Some(p) = rest.find("r.") {
            let ok_before = p == 0 || !rest.as_bytes()[p - 1].is_ascii_alphanumeric();
            rest = &rest[p + 2..];
            let col: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !ok_before || col.is_empty() {
                continue;
            }
            assert!(
                ["_measurement", "_field", "_value", "_time"].contains(&col.as_str())
                    || allowed_tags.contains(col.as_str()),
                "{title}: column r.{col} is not a tag of {measurements:?}"
            );
        }
        // tag: "x" (schema functions), columns: [...], rowKey: [...], columnKey: [...]
        for t in quoted_after("tag:") {
            assert!(allowed_tags.contains(t.as_str()), "{title}: tag {t}");
        }
        for key in ["columns:", "rowKey:", "columnKey:"] {
            let mut rest = q.as_str();
            while let Some(p) = rest.find(key) {
                rest = &rest[p + key.len()..];
                let Some(open) = rest.find('[') else { break };
                let Some(close) = rest.find(']') else { break };
                for c in rest[open + 1..close].split(',') {
                    let c = c.trim().trim_matches('"');
                    if c.is_empty() {
                        continue;
                    }
                    assert!(
                        ["_measurement", "_field", "_value", "_time"].contains(&c)
                            || all_tags.contains(c)
                            || allowed_fields.contains(c),
                        "{title}: column {c} in {key} is not of CONTRACT §8"
                    );
                }
            }
        }
        // The bucket comes from the $bucket variable, never written in.
        for p in q.match_indices("bucket:").map(|(i, _)| i) {
            let after = q[p + 7..].trim_start();
            assert!(
                after.starts_with("\"${bucket}\""),
                "{title}: bucket must be \"${{bucket}}\": {q}"
            );
        }
        if !title.starts_with("variable") {
            assert!(
                q.contains("range(start: v.timeRangeStart, stop: v.timeRangeStop)"),
                "{title}: time range"
            );
        }
    }
    for (_, fields) in schema.values() {
        for f in fields {
            assert!(fields_seen.contains(*f), "no Flux panel charts field {f}");
        }
    }
    let bucket = variables(&dash)
        .into_iter()
        .find(|v| v["name"] == "bucket")
        .expect("$bucket variable");
    assert_eq!(
        bucket["current"]["value"], "dcpue",
        "$bucket defaults to the bucket of CONTRACT §8"
    );
}

#[test]
fn provisioning_files_name_what_the_dashboards_expect() {
    let dir = repo_root().join("dashboards/provisioning");
    let ds = std::fs::read_to_string(dir.join("datasources.yaml")).expect("datasources.yaml");
    let dbs = std::fs::read_to_string(dir.join("dashboards.yaml")).expect("dashboards.yaml");
    assert!(
        ds.starts_with('#') || ds.starts_with("apiVersion"),
        "datasources.yaml"
    );
    assert!(
        ds.contains("apiVersion: 1") && dbs.contains("apiVersion: 1"),
        "apiVersion"
    );
    assert!(
        dbs.contains("type: file") && dbs.contains("path:"),
        "file provider with a path"
    );
    // Three data sources: Prometheus, VictoriaMetrics as Prometheus, InfluxDB with Flux.
    let entries: Vec<&str> = ds.split("  - name: ").skip(1).collect();
    assert_eq!(entries.len(), 3, "three data sources");
    let types: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| {
            let name = e.lines().next().unwrap_or("").trim();
            let ty = e
                .lines()
                .find_map(|l| l.trim().strip_prefix("type: "))
                .unwrap_or("");
            (name, ty)
        })
        .collect();
    assert_eq!(
        types,
        vec![
            ("Prometheus", "prometheus"),
            ("VictoriaMetrics", "prometheus"),
            ("InfluxDB", "influxdb")
        ]
    );
    assert!(
        ds.contains("version: Flux"),
        "InfluxDB data source must use Flux"
    );
    // The history dashboards preselect the provisioned data sources by name.
    for (file, name) in [
        (HISTORY_PROMQL, "VictoriaMetrics"),
        (HISTORY_FLUX, "InfluxDB"),
    ] {
        let dash = load_dashboard(&dashboard_path(file));
        let v = variables(&dash)
            .into_iter()
            .find(|v| v["type"] == "datasource")
            .expect("ds var");
        assert_eq!(v["current"]["value"], name, "{file}");
    }
}

// ------------------------------------------------------------------------------------ promtool

#[test]
fn promtool_accepts_config_and_rules_and_rule_tests_pass() {
    let dir = repo_root().join("deploy/prometheus");
    let (ok, out) = run_tool("promtool", &["check", "rules", "dcpue-rules.yml"], &dir);
    assert!(ok, "promtool check rules:\n{out}");
    assert!(out.contains("SUCCESS"), "{out}");
    let (ok, out) = run_tool("promtool", &["check", "config", "prometheus.yml"], &dir);
    assert!(ok, "promtool check config:\n{out}");
    assert!(
        out.contains("dcpue-rules.yml"),
        "the example config loads the rules file: {out}"
    );
    let (ok, out) = run_tool("promtool", &["test", "rules", "dcpue-rules.test.yml"], &dir);
    assert!(ok, "promtool test rules:\n{out}");
    // Every built-in rule of CONTRACT §5 has its Prometheus counterpart, with the built-in severities.
    let rules = std::fs::read_to_string(dir.join("dcpue-rules.yml")).expect("rules");
    for name in [
        "PueAboveCeiling",
        "CoverageBelowMinimum",
        "PueImplausible",
        "MeterStale",
        "RenewableShareBelowTarget",
        "WueAboveTarget",
        "RefBelowTarget",
    ] {
        assert!(
            rules.contains(&format!("- alert: {name}\n")),
            "no alert {name}"
        );
    }
    assert_eq!(
        rules.matches("- alert: PueAboveCeiling\n").count(),
        2,
        "PueAboveCeiling on 365d and 24h"
    );
    // Every alerting and recording rule is exercised by the unit tests promtool just ran.
    let tests = std::fs::read_to_string(dir.join("dcpue-rules.test.yml")).expect("rule tests");
    for line in rules.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("- alert: ") {
            assert!(
                tests.contains(&format!("alertname: {name}\n")),
                "alert {name} has no promtool unit test"
            );
        }
        if let Some(name) = line.strip_prefix("- record: ") {
            // Tested itself, or through a rule that reads it.
            let used =
                tests.contains(&format!("expr: {name}\n")) || rules.matches(name).count() > 1;
            assert!(used, "recording rule {name} has no promtool unit test");
        }
    }
}

// ------------------------------------------------------------------------------------ live

struct Fac {
    id: &'static str,
    name: &'static str,
    city: &'static str,
    tier: &'static str,
    class: &'static str,
    ceiling: f64,
    pue: f64,
    coverage: f64,
    share: Option<f64>,
    target: Option<f64>,
    status: &'static str,
    grade: Option<u8>,
    watermark_age_s: f64,
    it_kw: f64,
}

/// The seven facilities of config/jiangxi.toml in a plausible state: ganzhou-1 breaching 1.3,
/// below its renewable target; yingtan-1 stale with too little coverage.
#[rustfmt::skip]
fn facilities() -> Vec<Fac> {
    let f = |id, name, city, tier, class, ceiling, pue, coverage, share, target, status, grade, watermark_age_s, it_kw| Fac {
        id, name, city, tier, class, ceiling, pue, coverage, share, target, status, grade, watermark_age_s, it_kw,
    };
    vec![
        f("nanchang-1", "南昌核心数据中心", "Nanchang", "core", "large", 1.3, 1.24, 0.99, Some(0.32), Some(0.3), "compliant", Some(2), 45.0, 8000.0),
        f("jiujiang-1", "九江数据中心", "Jiujiang", "supplementary", "large", 1.3, 1.18, 0.98, Some(0.12), None, "compliant", Some(1), 50.0, 3000.0),
        f("shangrao-1", "上饶数据中心", "Shangrao", "supplementary", "ultra-large", 1.3, 1.27, 0.97, Some(0.22), Some(0.2), "compliant", Some(2), 40.0, 5000.0),
        f("ganzhou-1", "赣州数据中心", "Ganzhou", "supplementary", "large", 1.3, 1.36, 0.96, Some(0.18), Some(0.25), "breach", Some(3), 55.0, 3200.0),
        f("yichun-1", "宜春数据中心", "Yichun", "supplementary", "large", 1.3, 1.22, 0.95, Some(0.41), None, "compliant", Some(2), 60.0, 2500.0),
        f("fuzhou-1", "抚州备份数据中心", "Fuzhou", "backup", "medium", 1.5, 1.41, 0.93, Some(0.08), None, "compliant", Some(3), 35.0, 900.0),
        f("yingtan-1", "鹰潭备份数据中心", "Yingtan", "backup", "medium", 1.5, 1.33, 0.62, None, None, "insufficient_data", None, 1500.0, 700.0),
    ]
}

const WINDOWS: [(&str, f64); 5] = [
    ("15m", 0.25),
    ("1h", 1.0),
    ("24h", 24.0),
    ("30d", 720.0),
    ("365d", 8760.0),
];
const REASONS: [&str; 10] = [
    "too_large",
    "malformed",
    "unknown_meter",
    "invalid_value",
    "future_timestamp",
    "duplicate",
    "conflict",
    "too_late",
    "implausible",
    "glitch",
];

/// Window values of a facility at drift phase `n`: (pue, coverage, share); None = null.
fn window_values(f: &Fac, w: usize, n: u64) -> (Option<f64>, f64, Option<f64>) {
    let offsets = [0.03, 0.02, 0.01, -0.004, 0.0];
    let wobble = if w < 4 {
        0.004 * ((n as f64) / 3.0).sin()
    } else {
        0.0
    };
    let stale_short = f.watermark_age_s > 600.0 && w < 2;
    let coverage = if stale_short {
        0.0
    } else if w == 4 {
        f.coverage
    } else {
        (f.coverage + 0.02 * w as f64).min(1.0)
    };
    let pue = if stale_short {
        None
    } else {
        Some(f.pue + offsets[w] + wobble)
    };
    let share = f.share.map(|s| s + offsets[w] / 2.0);
    (pue, coverage, share)
}

/// A facility's estimated share on window `w` (CONTRACT §13): fuzhou-1 fills gaps with estimated
/// readings, the others meter everything (0, a value).
fn estimated_share(f: &Fac, w: usize) -> f64 {
    if f.id == "fuzhou-1" {
        0.04 + 0.01 * w as f64
    } else {
        0.0
    }
}

/// dcpue's /metrics as the lead implements CONTRACT §6, for scrape number `n`.
fn canned_metrics(n: u64) -> String {
    use std::fmt::Write;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let facs = facilities();
    let mut s = String::new();
    let mut family = |name: &str, kind: &str, help: &str, lines: Vec<String>| {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for l in lines {
            let _ = writeln!(s, "{name}{l}");
        }
    };
    let mut pue = vec![];
    let mut cov = vec![];
    let mut share = vec![];
    let mut energy = vec![];
    for f in &facs {
        for (w, (win, hours)) in WINDOWS.iter().enumerate() {
            let (p, c, sh) = window_values(f, w, n);
            if let Some(p) = p {
                pue.push(format!(
                    "{{facility=\"{}\",tier=\"{}\",window=\"{win}\"}} {p}",
                    f.id, f.tier
                ));
            }
            cov.push(format!("{{facility=\"{}\",window=\"{win}\"}} {c}", f.id));
            if let Some(sh) = sh {
                share.push(format!("{{facility=\"{}\",window=\"{win}\"}} {sh}", f.id));
            }
            let it = f.it_kw * hours * c.max(0.05);
            let total = it * p.unwrap_or(f.pue);
            let ren = total * sh.unwrap_or(0.0);
            for (role, e) in [("total", total), ("it", it), ("renewable", ren)] {
                energy.push(format!(
                    "{{facility=\"{}\",window=\"{win}\",role=\"{role}\"}} {e:.3}",
                    f.id
                ));
            }
        }
    }
    family(
        "dcpue_pue_ratio",
        "gauge",
        "PUE of the facility over the window ending at its watermark (no series while null).",
        pue,
    );
    family(
        "dcpue_coverage_ratio",
        "gauge",
        "Common covered time of the total and IT meters over the window length.",
        cov,
    );
    family(
        "dcpue_renewable_share_ratio",
        "gauge",
        "Renewable energy over total energy in the window.",
        share,
    );
    // CONTRACT §13, no series while a window has no total or IT energy (yingtan-1's stale ones).
    family(
        "dcpue_estimated_share_ratio",
        "gauge",
        "Part of the window's total and IT energy from readings that are not metered.",
        facs.iter()
            .flat_map(|f| {
                WINDOWS
                    .iter()
                    .enumerate()
                    .filter(|(w, _)| window_values(f, *w, n).0.is_some())
                    .map(|(w, (win, _))| {
                        format!(
                            "{{facility=\"{}\",window=\"{win}\"}} {}",
                            f.id,
                            estimated_share(f, w)
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect(),
    );
    // CONTRACT §14 on every window: WUE at the sites with water meters, ERF at the heat-reuse
    // site, REF where there are renewables, CUE everywhere (the layout sets the emission factor).
    let kpi = |pick: &dyn Fn(usize, &Fac) -> Option<f64>| -> Vec<String> {
        let mut v = vec![];
        for (i, f) in facs.iter().enumerate() {
            for (win, _) in WINDOWS {
                if let Some(x) = pick(i, f) {
                    v.push(format!("{{facility=\"{}\",window=\"{win}\"}} {x}", f.id));
                }
            }
        }
        v
    };
    family(
        "dcpue_wue_liters_per_kwh",
        "gauge",
        "WUE: water drawn / IT energy in the window, L/kWh.",
        kpi(&|i, _| (i % 2 == 0).then_some(0.6 + 0.1 * i as f64 + 0.01 * (n % 5) as f64)),
    );
    family(
        "dcpue_erf_ratio",
        "gauge",
        "ERF: heat delivered for reuse / total energy in the window.",
        kpi(&|i, _| (i == 0).then_some(0.08)),
    );
    family(
        "dcpue_ref_ratio",
        "gauge",
        "REF: (renewable energy + green certificates) / total energy in the window.",
        kpi(&|_, f| f.share.map(|s| (s + 0.1).min(1.0))),
    );
    family(
        "dcpue_cue_kg_per_kwh",
        "gauge",
        "CUE: unmatched grid energy x grid emission factor / IT energy, kg CO2/kWh.",
        kpi(&|_, f| Some(f.pue * 0.5703 * (1.0 - f.share.unwrap_or(0.0)))),
    );
    family(
        "dcpue_wue_target_liters_per_kwh",
        "gauge",
        "The facility's WUE target, L/kWh.",
        vec!["{facility=\"nanchang-1\"} 1.6".into()],
    );
    family(
        "dcpue_ref_target_ratio",
        "gauge",
        "The facility's REF target.",
        vec!["{facility=\"nanchang-1\"} 0.3".into()],
    );
    family(
        "dcpue_pue_ceiling_ratio",
        "gauge",
        "The facility's PUE ceiling.",
        facs.iter()
            .map(|f| format!("{{facility=\"{}\"}} {}", f.id, f.ceiling))
            .collect(),
    );
    family(
        "dcpue_renewable_target_ratio",
        "gauge",
        "The facility's renewable-share target.",
        facs.iter()
            .filter_map(|f| f.target.map(|t| format!("{{facility=\"{}\"}} {t}", f.id)))
            .collect(),
    );
    family(
        "dcpue_facility_status",
        "gauge",
        "1 for the facility's current status on the compliance window.",
        facs.iter()
            .flat_map(|f| {
                ["compliant", "breach", "insufficient_data"].map(|st| {
                    format!(
                        "{{facility=\"{}\",status=\"{st}\"}} {}",
                        f.id,
                        u8::from(st == f.status)
                    )
                })
            })
            .collect(),
    );
    family(
        "dcpue_facility_grade",
        "gauge",
        "GB 40879-2021 grade of the compliance-window PUE (no series while null).",
        facs.iter()
            .filter_map(|f| f.grade.map(|g| format!("{{facility=\"{}\"}} {g}", f.id)))
            .collect(),
    );
    family(
        "dcpue_facility_info",
        "gauge",
        "Facility metadata.",
        facs.iter()
            .map(|f| {
                format!(
                    "{{facility=\"{}\",name=\"{}\",city=\"{}\",tier=\"{}\",class=\"{}\"}} 1",
                    f.id, f.name, f.city, f.tier, f.class
                )
            })
            .collect(),
    );
    family(
        "dcpue_watermark_timestamp_seconds",
        "gauge",
        "The facility's watermark, Unix seconds.",
        facs.iter()
            .map(|f| {
                format!(
                    "{{facility=\"{}\"}} {:.3}",
                    f.id,
                    (now - f.watermark_age_s).floor()
                )
            })
            .collect(),
    );
    family(
        "dcpue_facility_stale",
        "gauge",
        "1 while the facility's watermark is older than its stale_after.",
        facs.iter()
            .map(|f| {
                format!(
                    "{{facility=\"{}\"}} {}",
                    f.id,
                    u8::from(f.watermark_age_s > 300.0)
                )
            })
            .collect(),
    );
    family(
        "dcpue_energy_kwh",
        "gauge",
        "Energy measured inside the window by role, kWh.",
        energy,
    );
    family(
        "dcpue_alert_active",
        "gauge",
        "1 while the alert fires.",
        vec![
            "{alertname=\"PueAboveCeiling\",facility=\"ganzhou-1\",window=\"365d\",severity=\"critical\"} 1".into(),
            "{alertname=\"PueAboveCeiling\",facility=\"ganzhou-1\",window=\"24h\",severity=\"warning\"} 1".into(),
            "{alertname=\"PueAboveCeiling\",facility=\"nanchang-1\",window=\"24h\",severity=\"warning\"} 0".into(),
            "{alertname=\"RenewableShareBelowTarget\",facility=\"ganzhou-1\",window=\"365d\",severity=\"warning\"} 1".into(),
            "{alertname=\"CoverageBelowMinimum\",facility=\"yingtan-1\",window=\"365d\",severity=\"warning\"} 1".into(),
            "{alertname=\"MeterStale\",facility=\"yingtan-1\",window=\"\",severity=\"warning\"} 1".into(),
        ],
    );
    family(
        "dcpue_readings_accepted_total",
        "counter",
        "Readings taken by the engine.",
        facs.iter()
            .enumerate()
            .map(|(i, f)| {
                format!(
                    "{{facility=\"{}\"}} {}",
                    f.id,
                    100_000 + (i as u64 + 3) * 7 * n
                )
            })
            .collect(),
    );
    let mut rejected = vec![];
    for r in ["too_large", "malformed", "unknown_meter"] {
        rejected.push(format!("{{facility=\"\",reason=\"{r}\"}} {}", 2 + n / 4));
    }
    for f in &facs {
        for (k, r) in REASONS.iter().enumerate() {
            let growth = if *r == "duplicate" {
                n
            } else if k % 3 == 0 {
                n / 5
            } else {
                0
            };
            rejected.push(format!(
                "{{facility=\"{}\",reason=\"{r}\"}} {}",
                f.id,
                k as u64 + growth
            ));
        }
    }
    family(
        "dcpue_readings_rejected_total",
        "counter",
        "Readings rejected, by reason.",
        rejected,
    );
    family(
        "dcpue_mqtt_connected",
        "gauge",
        "1 while connected to the MQTT broker.",
        vec![" 1".into()],
    );
    family(
        "dcpue_mqtt_last_message_age_seconds",
        "gauge",
        "Seconds since the last MQTT message.",
        vec![format!(" {}", 0.4 + (n % 3) as f64)],
    );
    family(
        "dcpue_influx_points_written_total",
        "counter",
        "Points written to InfluxDB.",
        vec![format!(" {}", 50_000 + 35 * n)],
    );
    family(
        "dcpue_influx_write_errors_total",
        "counter",
        "Failed InfluxDB writes, by kind.",
        vec![
            "{kind=\"network\"} 4".into(),
            format!("{{kind=\"http\"}} {}", n / 10),
        ],
    );
    family(
        "dcpue_influx_queue_points",
        "gauge",
        "Points waiting for InfluxDB.",
        vec![format!(" {}", n % 7)],
    );
    s
}

#[test]
fn canned_metrics_are_clean_for_promtool() {
    use std::io::Write;
    let mut child = std::process::Command::new(support::which("promtool"))
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(canned_metrics(3).as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool check metrics:\n{text}");
}

fn count_for(results: &[(String, String, usize)], title: &str, needle: &str) -> usize {
    results
        .iter()
        .find(|(t, e, _)| t == title && e.contains(needle))
        .map(|r| r.2)
        .unwrap_or_else(|| panic!("no query {needle} in panel {title:?}"))
}

/// A real Prometheus scrapes dcpue-shaped /metrics and evaluates deploy/prometheus/dcpue-rules.yml;
/// every expression of the province and renewables dashboards returns data, the variables filter,
/// and the rules fire exactly where dcpue's own would.
#[test]
fn prometheus_dashboards_show_data_and_rules_fire_on_real_prometheus() {
    let exporter = MetricsServer::start(canned_metrics);
    let rules = repo_root().join("deploy/prometheus/dcpue-rules.yml");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: dcpue\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
        rules.display(),
        exporter.port
    );
    let prom = Prometheus::start(&config);
    let base = prom.url();
    // Enough scrapes for rate(), and the alert rules evaluated a few times.
    let scraped = eventually(Duration::from_secs(60), || {
        let r = prom_query(
            &base,
            "count_over_time(up{job=\"dcpue\"}[1m]) >= 4 and up{job=\"dcpue\"} == 1",
        )
        .ok()?;
        (!r.is_empty()).then_some(())
    });
    assert!(
        scraped.is_some(),
        "prometheus did not scrape the exporter: {}",
        prom.log()
    );
    let firing = eventually(Duration::from_secs(30), || {
        let r = prom_query(
            &base,
            "ALERTS{alertstate=\"firing\",alertname=\"MeterStale\"}",
        )
        .ok()?;
        (!r.is_empty()).then_some(())
    });
    assert!(firing.is_some(), "rules not evaluated: {}", prom.log());

    let none = HashMap::new();
    for file in [PROVINCE, RENEWABLES] {
        let results = run_panel_queries(&base, &dashboard_path(file), &none);
        print_results(file, &results);
        assert!(results.len() >= 8, "{file}: {} queries", results.len());
        assert_all_have_data(file, &results);
    }

    // The variables filter: all facilities, one tier, one facility.
    let path = dashboard_path(PROVINCE);
    let all = run_panel_queries(&base, &path, &none);
    let title = "PUE on $compliance_window - $tier";
    assert_eq!(
        count_for(&all, title, "dcpue_pue_ratio"),
        7,
        "every facility has a compliance-window PUE"
    );
    assert_eq!(
        count_for(&all, "variable facility", "dcpue_facility_info"),
        7
    );
    assert_eq!(count_for(&all, "variable tier", "dcpue_facility_info"), 3);
    assert_eq!(
        count_for(
            &all,
            "PUE trend - $window window",
            "dcpue_pue_ceiling_ratio"
        ),
        7,
        "one ceiling line per facility"
    );
    assert_eq!(
        count_for(&all, "Alerts firing now", "dcpue_alert_active"),
        5,
        "five alerts fire in the scenario"
    );
    let backup = run_panel_queries(
        &base,
        &path,
        &HashMap::from([("tier", "backup"), ("facility", "(fuzhou-1|yingtan-1)")]),
    );
    assert_eq!(count_for(&backup, title, "dcpue_pue_ratio"), 2);
    assert_eq!(
        count_for(&backup, "variable facility", "dcpue_facility_info"),
        2,
        "facility values follow the tier"
    );
    let one = run_panel_queries(
        &base,
        &path,
        &HashMap::from([("facility", "ganzhou-1"), ("window", "1h")]),
    );
    assert_eq!(
        count_for(
            &one,
            "Status and grade per facility",
            "dcpue_facility_status"
        ),
        1
    );
    assert_eq!(
        count_for(&one, "Alerts firing now", "dcpue_alert_active"),
        3
    );
    // The facility table's estimated share: fuzhou-1's compliance-window value.
    let fuzhou = panel_query_results(&base, &path, &HashMap::from([("facility", "fuzhou-1")]));
    let est: Vec<f64> = fuzhou
        .iter()
        .filter(|(t, e, _)| {
            t == "Status and grade per facility" && e.contains("dcpue_estimated_share_ratio")
        })
        .flat_map(|(_, _, r)| by_labels(r).into_values())
        .collect();
    assert_eq!(est, vec![0.08], "fuzhou-1's estimated share on 365d");
    // The stale facility has no 1h PUE (null): no series rather than a zero.
    let stale = run_panel_queries(
        &base,
        &path,
        &HashMap::from([("facility", "yingtan-1"), ("window", "1h")]),
    );
    assert_eq!(
        count_for(&stale, "PUE trend - $window window", "dcpue_pue_ratio"),
        0
    );
    assert_eq!(
        count_for(&stale, "Coverage - $window window", "dcpue_coverage_ratio"),
        1
    );

    // The Prometheus-side rules fire where dcpue's built-ins would, and only there.
    let alerts = |state: &str| -> BTreeSet<(String, String, String)> {
        prom_query(&base, &format!("ALERTS{{alertstate=\"{state}\"}}"))
            .unwrap_or_default()
            .iter()
            .map(|a| {
                let l = &a["metric"];
                let s = |k: &str| l[k].as_str().unwrap_or("").to_string();
                (
                    s("alertname"),
                    s("facility"),
                    format!("{}/{}", s("window"), s("severity")),
                )
            })
            .collect()
    };
    let firing = alerts("firing");
    let want_firing: BTreeSet<(String, String, String)> = [
        ("PueAboveCeiling", "ganzhou-1", "365d/critical"),
        ("RenewableShareBelowTarget", "ganzhou-1", "365d/warning"),
        ("MeterStale", "yingtan-1", "/warning"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(firing, want_firing, "firing alerts");
    let pending = alerts("pending");
    let want_pending: BTreeSet<(String, String, String)> = [
        ("PueAboveCeiling", "ganzhou-1", "24h/warning"),
        ("CoverageBelowMinimum", "yingtan-1", "365d/warning"),
        ("CoverageBelowMinimum", "yingtan-1", "24h/warning"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(pending, want_pending, "pending alerts (for: 1h)");
    // Recording rules.
    let margin = prom_query(
        &base,
        "dcpue:pue_ceiling_margin:ratio{facility=\"ganzhou-1\",window=\"365d\"}",
    )
    .expect("query");
    let v: f64 = margin
        .first()
        .and_then(|m| m["value"][1].as_str())
        .and_then(|s| s.parse().ok())
        .expect("margin value");
    assert!(
        (v - 0.06).abs() < 1e-9,
        "ganzhou-1 is 0.06 above its ceiling, got {v}"
    );
    let status = prom_query(
        &base,
        "dcpue:facilities:count_by_status{status=\"compliant\"}",
    )
    .expect("query");
    assert_eq!(
        status.first().and_then(|m| m["value"][1].as_str()),
        Some("5")
    );
    let rej = prom_query(
        &base,
        "dcpue:readings_rejected:rate5m{facility=\"nanchang-1\",reason=\"duplicate\"}",
    )
    .expect("query");
    let rate: f64 = rej
        .first()
        .and_then(|m| m["value"][1].as_str())
        .and_then(|s| s.parse().ok())
        .expect("rate");
    assert!(rate > 0.0, "duplicates grow in the scenario: {rate}");
}

/// A query result as `labels without instance → value`; two series that differ only by
/// `instance` (one per replica) are both kept, under `key#2`.
fn by_labels(result: &[Value]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for r in result {
        let mut labels: Vec<String> = r["metric"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k != "instance")
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect();
        labels.sort();
        let v = r["value"][1]
            .as_str()
            .or(r[1].as_str())
            .and_then(|x| x.parse::<f64>().ok())
            .unwrap_or(f64::NAN);
        let mut key = labels.join(",");
        while out.contains_key(&key) {
            key.push_str("#2");
        }
        out.insert(key, v);
    }
    out
}

/// Two replicas scraped as two targets of one job (the README's high-availability setup):
/// every panel of the Prometheus dashboards shows what it shows with one replica. No count or
/// rate is doubled by a sum over replicas, and no panel draws a line per replica.
#[test]
fn dashboards_do_not_double_count_two_replicas() {
    let one = MetricsServer::start(canned_metrics);
    let r1 = MetricsServer::start(canned_metrics);
    let r2 = MetricsServer::start(canned_metrics);
    let config = |ports: &[u16]| {
        let targets: Vec<String> = ports.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: dcpue\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        )
    };
    let single = Prometheus::start(&config(&[one.port]));
    let pair = Prometheus::start(&config(&[r1.port, r2.port]));
    for (prom, targets) in [(&single, 1), (&pair, 2)] {
        let scraped = eventually(Duration::from_secs(60), || {
            let r = prom_query(
                &prom.url(),
                "count_over_time(up{job=\"dcpue\"}[1m]) >= 4 and up{job=\"dcpue\"} == 1",
            )
            .ok()?;
            (r.len() == targets).then_some(())
        });
        assert!(scraped.is_some(), "not scraped: {}", prom.log());
    }
    let none = HashMap::new();
    for file in [PROVINCE, RENEWABLES] {
        let path = dashboard_path(file);
        let a = panel_query_results(&single.url(), &path, &none);
        let b = panel_query_results(&pair.url(), &path, &none);
        assert_eq!(a.len(), b.len());
        for ((title, expr, ra), (_, _, rb)) in a.iter().zip(&b) {
            let (va, vb) = (by_labels(ra), by_labels(rb));
            assert_eq!(
                va.keys().collect::<Vec<_>>(),
                vb.keys().collect::<Vec<_>>(),
                "{file}: panel {title:?} shows other series with two replicas: {expr}"
            );
            if title.starts_with("variable ") {
                // A variable's values are its label values; the count is the test's stand-in.
                continue;
            }
            // A sum or count over replicas would double; max and min cannot. Every sum and
            // count must first collapse the replicas (max or min by facility, or without
            // instance).
            for (at, _) in expr.match_indices("sum").chain(expr.match_indices("count")) {
                let rest = &expr[at..];
                let Some(open) = rest.find('(') else { continue };
                let mut inner = rest[open + 1..].trim_start();
                if rest[..open].contains(" by ") || rest[..open].ends_with("by ") {
                    // `sum by (labels) (`: the aggregated expression follows the label list.
                    inner = rest[open..].split_once(')').map_or("", |(_, r)| {
                        r.trim_start().trim_start_matches('(').trim_start()
                    });
                }
                assert!(
                    inner.starts_with("max") || inner.starts_with("min"),
                    "{file}: panel {title:?} sums over replicas: {expr}"
                );
            }
            // Values: a doubling shows. Rates and increases are measured on each server's own
            // scrapes of counters that step, and time() moves: those are left to the check above.
            if ["rate(", "increase(", "time()", "watermark_timestamp"]
                .iter()
                .any(|t| expr.contains(t))
            {
                continue;
            }
            for (k, x) in &va {
                let y = vb[k];
                assert!(
                    x.is_nan() && y.is_nan() || (x - y).abs() <= 0.2 * x.abs().max(y.abs()),
                    "{file}: panel {title:?} {k}: {x} with one replica, {y} with two: {expr}"
                );
            }
        }
    }
}

/// Line protocol of CONTRACT §8 for the last three hours, one window point per facility and
/// window per minute and one reading per meter per minute, as dcpue's sink writes them.
fn sink_lines(now_ms: i64) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let end = now_ms / 60_000 * 60_000 - 60_000;
    let meters = [
        ("grid-in", "total"),
        ("it-a", "it"),
        ("pv-roof", "renewable"),
    ];
    for (k, f) in facilities().iter().enumerate() {
        let mut register = [1.0e6 * (k as f64 + 1.0), 0.8e6 * (k as f64 + 1.0), 1.0e5];
        for step in 0..180i64 {
            let ts = end - (179 - step) * 60_000;
            for (w, (win, hours)) in WINDOWS.iter().enumerate() {
                let (pue, cov, share) = window_values(f, w, step as u64);
                let it = f.it_kw * hours * cov.max(0.05);
                let total = it * pue.unwrap_or(f.pue);
                let mut fields = vec![];
                if let Some(p) = pue {
                    fields.push(format!("pue={p}"));
                }
                fields.push(format!("coverage={cov}"));
                if let Some(sh) = share {
                    fields.push(format!("renewable_share={sh}"));
                }
                fields.push(format!("energy_total_kwh={total:.3},energy_it_kwh={it:.3}"));
                if let Some(sh) = share {
                    fields.push(format!("energy_renewable_kwh={:.3}", total * sh));
                }
                if pue.is_some() {
                    fields.push(format!("estimated_share={}", estimated_share(f, w)));
                }
                let _ = writeln!(
                    s,
                    "dcpue_window,facility={},tier={},window={win} {} {ts}",
                    f.id,
                    f.tier,
                    fields.join(",")
                );
            }
            for (i, (meter, role)) in meters.iter().enumerate() {
                let kw = match *role {
                    "total" => f.it_kw * f.pue,
                    "it" => f.it_kw,
                    _ => f.it_kw * f.pue * f.share.unwrap_or(0.0),
                } * (1.0 + 0.01 * ((step + i as i64) as f64).sin());
                register[i] += kw / 60.0;
                // Gateways send power and the register; the PV inverter only power.
                if *role == "renewable" {
                    let _ = writeln!(
                        s,
                        "dcpue_reading,facility={},meter={meter},role={role} power_kw={kw:.3} {ts}",
                        f.id
                    );
                } else {
                    let _ = writeln!(
                        s,
                        "dcpue_reading,facility={},meter={meter},role={role} power_kw={kw:.3},energy_kwh={:.3} {ts}",
                        f.id, register[i]
                    );
                }
            }
        }
    }
    s
}

/// The PromQL history dashboard against a real VictoriaMetrics fed CONTRACT §8 line protocol on
/// /api/v2/write, as dcpue's InfluxDB sink sends it.
#[test]
fn history_promql_dashboard_shows_data_on_real_victoriametrics() {
    let vm = VictoriaMetrics::start();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let lines = sink_lines(now_ms);
    vm.write_lines("jiangxi", "dcpue", &lines);
    vm.flush();
    let base = vm.url();
    let ready = eventually(Duration::from_secs(30), || {
        let r = prom_query(&base, "count(dcpue_window_pue)").ok()?;
        (!r.is_empty()).then_some(())
    });
    assert!(
        ready.is_some(),
        "victoria-metrics has no dcpue_window_pue: {}",
        vm.log()
    );

    let path = dashboard_path(HISTORY_PROMQL);
    let results = run_panel_queries(&base, &path, &HashMap::new());
    print_results(HISTORY_PROMQL, &results);
    assert!(results.len() >= 9, "{} queries", results.len());
    assert_all_have_data(HISTORY_PROMQL, &results);
    assert_eq!(
        count_for(&results, "PUE - $window window", "dcpue_window_pue"),
        7
    );
    assert_eq!(
        count_for(&results, "Meter power", "dcpue_reading_power_kw"),
        21,
        "three meters per facility"
    );
    assert_eq!(
        count_for(
            &results,
            "Meter energy registers",
            "dcpue_reading_energy_kwh"
        ),
        14,
        "PV sends power only"
    );
    assert_eq!(
        count_for(&results, "variable window", "dcpue_window_coverage"),
        5
    );

    // The values are the points written: ganzhou-1's compliance-window PUE, and nulls left out.
    let one = run_panel_queries(
        &base,
        &path,
        &HashMap::from([("facility", "ganzhou-1"), ("window", "365d")]),
    );
    let pue = prom_query(
        &base,
        &one.iter()
            .find(|r| r.0 == "Latest PUE - $window window")
            .expect("panel")
            .1,
    )
    .expect("query");
    assert_eq!(pue.len(), 1);
    assert_eq!(pue[0]["value"][1], "1.36");
    // fuzhou-1's estimated share as written on 365d.
    let est: Vec<f64> = panel_query_results(
        &base,
        &path,
        &HashMap::from([("facility", "fuzhou-1"), ("window", "365d")]),
    )
    .iter()
    .filter(|(t, _, _)| t == "Estimated share - $window window")
    .flat_map(|(_, _, r)| by_labels(r).into_values())
    .collect();
    assert_eq!(est, vec![0.08], "fuzhou-1's estimated share on 365d");
    let stale = run_panel_queries(
        &base,
        &path,
        &HashMap::from([("facility", "yingtan-1"), ("window", "1h")]),
    );
    assert_eq!(
        count_for(&stale, "PUE - $window window", "dcpue_window_pue"),
        0,
        "a null PUE is no point, not zero"
    );
    assert_eq!(
        count_for(&stale, "Coverage - $window window", "dcpue_window_coverage"),
        1
    );
    let tier = run_panel_queries(
        &base,
        &path,
        &HashMap::from([
            ("tier", "supplementary"),
            ("facility", "(jiujiang-1|shangrao-1|ganzhou-1|yichun-1)"),
        ]),
    );
    assert_eq!(
        count_for(&tier, "PUE - $window window", "dcpue_window_pue"),
        4
    );
    assert_eq!(
        count_for(&tier, "variable facility", "dcpue_window_coverage"),
        4
    );
}

#[test]
fn template_substitution_fills_grafana_forms() {
    let dash = load_dashboard(&dashboard_path(PROVINCE));
    let values = variable_values(&dash, &HashMap::from([("window", "1h")]));
    let s = substitute(
        r#"rate(x{facility=~"$facility",tier=~"${tier}",window="[[window]]",w2="${window:raw}"}[$__rate_interval]) and y[$__range] and z[${__interval}] and $windowx"#,
        &values,
    );
    assert_eq!(
        s,
        r#"rate(x{facility=~".*",tier=~".*",window="1h",w2="1h"}[5m]) and y[1h] and z[5m] and $windowx"#
    );
    assert_eq!(url_encode("a b{c=\"d\"}"), "a%20b%7Bc%3D%22d%22%7D");
    assert_eq!(
        label_values_as_promql("label_values(m{tier=~\"x\"}, facility)").as_deref(),
        Some("count by (facility) (m{tier=~\"x\"})")
    );
}

/// LIVE against the real thing: `dcpue serve` on the Jiangxi layout fed by `dcpue simulate`
/// (tests/support_grafana/live.rs), scraped every second by a real Prometheus, its InfluxDB sink
/// writing to a real VictoriaMetrics. Every PromQL expression of every panel of the province and
/// renewables dashboards returns data from Prometheus, and every one of the PromQL history
/// dashboard from VictoriaMetrics.
#[test]
fn dashboards_show_data_from_a_running_dcpue() {
    // The sink writes a window point every 5 minutes of event time (live.rs): an instant query
    // must look back further than VictoriaMetrics' default for such a series on a slow machine.
    let vm = VictoriaMetrics::start_with(&["-search.maxStalenessInterval=15m"]);
    let vm_url = vm.url();
    let scenario = live::LiveDcpue::start(Some(live::InfluxTarget {
        url: &vm_url,
        org: "jiangxi",
        bucket: "dcpue",
    }));
    let d = &scenario.dcpue;
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: dcpue\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
        d.http_port
    );
    let prom = Prometheus::start(&config);
    let base = prom.url();
    // Two successful scrapes at least, so rate() and increase() have two points.
    let scraped = eventually(Duration::from_secs(60), || {
        let r = prom_query(
            &base,
            "count_over_time(up{job=\"dcpue\"}[1m]) >= 3 and up{job=\"dcpue\"} == 1",
        )
        .ok()?;
        (!r.is_empty()).then_some(())
    });
    assert!(
        scraped.is_some(),
        "prometheus did not scrape dcpue: {}",
        prom.log()
    );

    // The dashboards' `compliance_window` constant set to the scenario's, as an admin would.
    let cw = HashMap::from([("compliance_window", "30d")]);
    for file in [PROVINCE, RENEWABLES] {
        let results = run_panel_queries(&base, &dashboard_path(file), &cw);
        print_results(file, &results);
        assert!(results.len() >= 8, "{file}: {} queries", results.len());
        assert_all_have_data(file, &results);
    }
    let path = dashboard_path(PROVINCE);
    let all = run_panel_queries(&base, &path, &cw);
    assert_eq!(
        count_for(&all, "PUE on $compliance_window - $tier", "dcpue_pue_ratio"),
        7,
        "every facility has a compliance-window PUE"
    );
    assert_eq!(
        count_for(&all, "variable facility", "dcpue_facility_info"),
        7
    );
    assert!(
        count_for(&all, "Alerts firing now", "dcpue_alert_active") >= 1,
        "yingtan-1's breach is firing"
    );
    // The simulator's readings are all metered: every facility's estimated share is 0, a value.
    let est: Vec<f64> = panel_query_results(&base, &path, &cw)
        .iter()
        .filter(|(t, e, _)| {
            t == "Status and grade per facility" && e.contains("dcpue_estimated_share_ratio")
        })
        .flat_map(|(_, _, r)| by_labels(r).into_values())
        .collect();
    assert_eq!(est, vec![0.0; 7], "estimated share per facility");
    let yingtan = run_panel_queries(
        &base,
        &path,
        &HashMap::from([
            ("tier", "backup"),
            ("facility", "yingtan-1"),
            ("compliance_window", "30d"),
        ]),
    );
    assert!(count_for(&yingtan, "Alerts firing now", "dcpue_alert_active") >= 1);
    let fuzhou = run_panel_queries(
        &base,
        &path,
        &HashMap::from([
            ("tier", "backup"),
            ("facility", "fuzhou-1"),
            ("compliance_window", "30d"),
        ]),
    );
    assert_eq!(
        count_for(
            &fuzhou,
            "PUE on $compliance_window - $tier",
            "dcpue_pue_ratio"
        ),
        1
    );

    // The history dashboard on what the sink wrote.
    let vm_ready = eventually(Duration::from_secs(90), || {
        // Everything the sink had is written...
        let queued = d.metric("dcpue_influx_queue_points")?;
        let written = d.metric("dcpue_influx_points_written_total")?;
        if queued != 0.0 || written == 0.0 {
            return None;
        }
        // ...and visible to queries.
        vm.flush();
        let r = prom_query(&vm_url, "count(dcpue_window_pue) >= 35").ok()?;
        let r2 = prom_query(&vm_url, "count(dcpue_reading_power_kw)").ok()?;
        (!r.is_empty() && !r2.is_empty()).then_some(())
    });
    assert!(
        vm_ready.is_some(),
        "dcpue's sink did not land points in victoria-metrics: {}\nmetrics: {}",
        vm.log(),
        d.metrics()
            .lines()
            .filter(|l| l.starts_with("dcpue_influx"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let results = run_panel_queries(&vm_url, &dashboard_path(HISTORY_PROMQL), &HashMap::new());
    print_results(HISTORY_PROMQL, &results);
    assert!(results.len() >= 9, "{} queries", results.len());
    assert_all_have_data(HISTORY_PROMQL, &results);
    assert_eq!(
        count_for(&results, "PUE - $window window", "dcpue_window_pue"),
        7
    );
}
