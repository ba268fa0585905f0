//! `/metrics` (CONTRACT §6): engine metrics rendered from each published snapshot, plus the
//! adapters' own metrics gathered at scrape. Text format, clean under `promtool check metrics`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus::{Encoder, GaugeVec, IntCounterVec, Opts, Registry, TextEncoder};

use super::Shared;
use crate::engine::{Snapshot, Status};

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/metrics", get(metrics))
}

fn gauge(reg: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    reg.register(Box::new(g.clone())).expect("unique metric");
    g
}

/// Sets one series of `g`, or leaves it out when `v` is not finite: a value is never NaN or
/// Inf (CONTRACT §10).
fn set(g: &GaugeVec, labels: &[&str], v: f64) {
    if v.is_finite() {
        g.with_label_values(labels).set(v);
    }
}

fn plain_gauge(reg: &Registry, name: &str, help: &str, v: f64) {
    let g = prometheus::Gauge::new(name, help).expect("valid metric definition");
    g.set(v);
    reg.register(Box::new(g)).expect("unique metric");
}

fn counter(reg: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    reg.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn encode(reg: &Registry) -> String {
    let mut buf = Vec::new();
    let _ = TextEncoder::new().encode(&reg.gather(), &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}

/// Renders the engine's metrics from one snapshot (done at publish, not at scrape).
pub fn render_snapshot(s: &Snapshot) -> String {
    let reg = Registry::new();
    let pue = gauge(&reg, "dcpue_pue_ratio", "PUE (total facility energy / IT energy) over the window's common covered time; absent while unknown.", &["facility", "tier", "window"]);
    let cov = gauge(
        &reg,
        "dcpue_coverage_ratio",
        "Share of the window covered by every total and IT meter.",
        &["facility", "window"],
    );
    let ren = gauge(&reg, "dcpue_renewable_share_ratio", "Renewable energy / total energy in the window; absent while renewable meters cover too little.", &["facility", "window"]);
    let est = gauge(&reg, "dcpue_estimated_share_ratio", "Part of the window's total and IT energy from readings that are not metered (estimated or manual); absent while the window has no such energy.", &["facility", "window"]);
    let energy = gauge(
        &reg,
        "dcpue_energy_kwh",
        "Energy measured inside the window by role, kWh, weights applied.",
        &["facility", "window", "role"],
    );
    let wue = gauge(&reg, "dcpue_wue_liters_per_kwh", "WUE: water drawn / IT energy in the window, L/kWh; absent while an input is missing or covers too little.", &["facility", "window"]);
    let erf = gauge(&reg, "dcpue_erf_ratio", "ERF: heat delivered for reuse / total energy in the window; absent while an input is missing or covers too little.", &["facility", "window"]);
    let ref_ = gauge(&reg, "dcpue_ref_ratio", "REF: (renewable energy + green certificates) / total energy in the window, capped at 1; absent while an input is missing or covers too little.", &["facility", "window"]);
    let cue = gauge(&reg, "dcpue_cue_kg_per_kwh", "CUE: grid energy not matched by renewables or certificates x grid emission factor / IT energy, kg CO2/kWh; absent without an emission factor or while an input covers too little.", &["facility", "window"]);
    let wue_target = gauge(
        &reg,
        "dcpue_wue_target_liters_per_kwh",
        "The facility's WUE target, L/kWh.",
        &["facility"],
    );
    let ref_target = gauge(
        &reg,
        "dcpue_ref_target_ratio",
        "The facility's REF target.",
        &["facility"],
    );
    let ceiling = gauge(
        &reg,
        "dcpue_pue_ceiling_ratio",
        "The facility's PUE ceiling.",
        &["facility"],
    );
    let target = gauge(
        &reg,
        "dcpue_renewable_target_ratio",
        "The facility's renewable-share target.",
        &["facility"],
    );
    let status = gauge(
        &reg,
        "dcpue_facility_status",
        "1 for the facility's current compliance status.",
        &["facility", "status"],
    );
    let grade = gauge(&reg, "dcpue_facility_grade", "GB 40879-2021 grade (1, 2, 3) of the compliance-window PUE; absent when insufficient or above grade 3.", &["facility"]);
    let info = gauge(
        &reg,
        "dcpue_facility_info",
        "Facility metadata.",
        &["facility", "name", "city", "tier", "class"],
    );
    let wm = gauge(
        &reg,
        "dcpue_watermark_timestamp_seconds",
        "Event time up to which every total and IT meter has reported.",
        &["facility"],
    );
    let stale = gauge(
        &reg,
        "dcpue_facility_stale",
        "1 when the watermark is older than the wall clock by more than stale_after.",
        &["facility"],
    );
    let meter_ts = gauge(
        &reg,
        "dcpue_meter_last_reading_timestamp_seconds",
        "Event time of the meter's newest accepted reading.",
        &["facility", "meter"],
    );
    let accepted = counter(
        &reg,
        "dcpue_readings_accepted_total",
        "Readings accepted by the engine.",
        &["facility"],
    );
    let rejected = counter(
        &reg,
        "dcpue_readings_rejected_total",
        "Messages or readings not taken, by reason (CONTRACT §3-4).",
        &["facility", "reason"],
    );
    for f in &s.facilities {
        let id = f.id.as_str();
        for (w, v) in &f.windows.0 {
            if let Some(p) = v.pue {
                set(&pue, &[id, f.tier.as_str(), w], p);
            }
            set(&cov, &[id, w], v.coverage);
            if let Some(r) = v.renewable_share {
                set(&ren, &[id, w], r);
            }
            if let Some(x) = v.estimated_share {
                set(&est, &[id, w], x);
            }
            set(&energy, &[id, w, "total"], v.energy_kwh.total);
            set(&energy, &[id, w, "it"], v.energy_kwh.it);
            set(&energy, &[id, w, "renewable"], v.energy_kwh.renewable);
            for (g, x) in [
                (&wue, v.kpi.wue),
                (&erf, v.kpi.erf),
                (&ref_, v.kpi.ref_),
                (&cue, v.kpi.cue),
            ] {
                if let Some(x) = x {
                    set(g, &[id, w], x);
                }
            }
        }
        set(&ceiling, &[id], f.pue_ceiling);
        if let Some(t) = f.renewable_target {
            set(&target, &[id], t);
        }
        if let Some(t) = f.wue_target {
            wue_target.with_label_values(&[id]).set(t);
        }
        if let Some(t) = f.ref_target {
            ref_target.with_label_values(&[id]).set(t);
        }
        for st in Status::ALL {
            status
                .with_label_values(&[id, st.as_str()])
                .set(if st == f.status { 1.0 } else { 0.0 });
        }
        if let Some(g) = f.grade {
            grade.with_label_values(&[id]).set(g as f64);
        }
        info.with_label_values(&[id, &f.name, &f.city, f.tier.as_str(), f.class.as_str()])
            .set(1.0);
        if let Some(w) = f.watermark_ms {
            wm.with_label_values(&[id]).set(w as f64 / 1000.0);
        }
        stale
            .with_label_values(&[id])
            .set(if f.stale { 1.0 } else { 0.0 });
        for m in &f.meters {
            if let Some(t) = m.last_ts_ms {
                meter_ts
                    .with_label_values(&[id, &m.id])
                    .set(t as f64 / 1000.0);
            }
        }
    }
    for (f, n) in &s.counters.accepted {
        accepted.with_label_values(&[f]).inc_by(*n);
    }
    for (f, r, n) in &s.counters.rejected {
        rejected.with_label_values(&[f, r.as_str()]).inc_by(*n);
    }
    encode(&reg)
}

async fn metrics(State(s): State<Arc<Shared>>, access: super::auth::Access) -> Response {
    if !access.is_all() {
        // Every facility's series are in one scrape: for users who see everything.
        return (
            axum::http::StatusCode::FORBIDDEN,
            "403 Forbidden: /metrics is for users who see every facility\n",
        )
            .into_response();
    }
    let mut out = String::clone(&s.metrics_text.read().map(|t| t.clone()).unwrap_or_default());
    let reg = Registry::new();
    plain_gauge(
        &reg,
        "dcpue_mqtt_connected",
        "1 while connected to the MQTT broker.",
        if s.mqtt.connected() { 1.0 } else { 0.0 },
    );
    if let Some(last) = s.mqtt.last_message_wall_ms() {
        let now = chrono::Utc::now().timestamp_millis();
        plain_gauge(
            &reg,
            "dcpue_mqtt_last_message_age_seconds",
            "Wall-clock seconds since the newest MQTT message arrived.",
            (now - last).max(0) as f64 / 1000.0,
        );
    }
    out.push_str(&encode(&reg));
    out.push_str(&encode(&s.registry));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::engine::{Engine, Reading};

    /// A series whose value is not finite is left out (CONTRACT §10); the others stay.
    #[test]
    fn no_value_is_nan_or_inf() {
        let cfg = Config::parse(crate::config::tests::MINIMAL, "t.toml").unwrap();
        let mut e = Engine::new(&cfg);
        const T0: i64 = 1_767_225_600_000;
        for (meter, kw) in [("grid", 1600.0), ("it", 1000.0)] {
            let m = e.lookup("a-1", meter).unwrap();
            for k in 0..=60 {
                let r = Reading {
                    ts: T0 + k * 60_000,
                    power_kw: Some(kw),
                    energy_kwh: None,
                    quality: Default::default(),
                };
                e.ingest(m, r, T0 + 3_600_000);
            }
        }
        e.advance(&mut |_| {});
        let mut s = e.snapshot(T0 + 3_600_000);
        let f = &mut s.facilities[0];
        f.renewable_target = Some(f64::NAN);
        for (k, (_, v)) in f.windows.0.iter_mut().enumerate() {
            if k == 0 {
                v.pue = Some(f64::INFINITY);
                v.coverage = f64::NAN;
                v.renewable_share = Some(f64::NEG_INFINITY);
                v.estimated_share = Some(f64::NAN);
                v.energy_kwh.total = f64::INFINITY;
                v.energy_kwh.it = f64::NAN;
            }
        }
        let text = render_snapshot(&s);
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap_or("");
            let v: f64 = value.parse().unwrap_or(f64::NAN);
            assert!(v.is_finite(), "{line}");
        }
        assert!(
            text.contains("dcpue_pue_ratio{facility=\"a-1\",tier=\"core\",window=\"1h\"} 1.6"),
            "{text}"
        );
        let left: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains("window=\"15m\""))
            .collect();
        assert_eq!(
            left,
            ["dcpue_energy_kwh{facility=\"a-1\",role=\"renewable\",window=\"15m\"} 0"],
            "only the broken window's finite series stay"
        );
        assert!(!text.contains("dcpue_renewable_target_ratio{"), "{text}");
    }
}
