//! `--url`: the report from a running instance's HTTP API (CONTRACT §6) instead of storage.dir:
//! one `GET /api/v1/facilities/{id}/series` point per facility and month (a window exactly the
//! month long, ending at its end), `/api/v1/alerts/history` and `/api/v1/alerts`.
//!
//! Limits against the local read: the series gives no list of gaps (missing hours are counted
//! from coverage), and without `covered_energy_kwh` in a point the covered energies are
//! taken as PUE × IT energy and IT energy. The KPI inputs are backed out of the KPIs and the
//! energies (water = WUE × EIT, reused heat = ERF × EDC; certificates from the config), so they
//! are null wherever the KPI is, and the inputs' coverage is not known.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::alerts::{self, AlertRecord};
use super::compute::{self, Figures, InputCoverage, Measured, MonthRow, Report};
use super::time;
use super::{HttpError, ReportError};
use crate::alerts::{ActiveAlert, ResolvedAlert};
use crate::config::{Config, FacilityConfig, Role};
use crate::engine::{Energies, Kpis};

struct Point {
    pue: Option<f64>,
    coverage: f64,
    share: Option<f64>,
    estimated: Option<f64>,
    e: Energies,
    c: Energies,
    wue: Option<f64>,
    erf: Option<f64>,
    ref_: Option<f64>,
    cue: Option<f64>,
}

/// `/api/v1/facilities/{id}/series`: the fields the report reads.
#[derive(Deserialize)]
struct Series {
    points: Vec<SeriesPoint>,
}

#[derive(Deserialize)]
struct SeriesPoint {
    pue: Option<f64>,
    coverage: f64,
    renewable_share: Option<f64>,
    /// Absent (an older instance): unknown.
    #[serde(default)]
    estimated_share: Option<f64>,
    energy_kwh: Energies,
    /// Absent (an older instance): taken from PUE and IT energy; null: none covered.
    #[serde(default, deserialize_with = "present")]
    covered_energy_kwh: Option<Option<Energies>>,
    /// CONTRACT §14 (absent from an older instance: null).
    #[serde(default)]
    wue: Option<f64>,
    #[serde(default)]
    erf: Option<f64>,
    #[serde(default, rename = "ref")]
    ref_: Option<f64>,
    #[serde(default)]
    cue: Option<f64>,
}

/// A field that is there, even as null (`Some(None)`), apart from one that is not (`None`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `/api/v1/facilities`: each facility's watermark.
#[derive(Deserialize)]
struct Listed {
    id: String,
    watermark: Option<String>,
}

async fn get_body(client: &reqwest::Client, url: &str) -> Result<String, HttpError> {
    let resp = client.get(url).send().await?;
    let status = resp.status();
    let body = resp.text().await?;
    if !status.is_success() {
        return Err(HttpError::Status {
            status,
            body: body.trim().to_string(),
        });
    }
    Ok(body)
}

fn http_err(url: &str) -> impl Fn(HttpError) -> ReportError + '_ {
    move |source| ReportError::Http {
        url: url.to_string(),
        source,
    }
}

/// The answer at `url`, typed: an answer without the fields the report reads (an
/// `{"error": …}` of the instance, a field missing) is an error.
async fn get_json<T: DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
) -> Result<T, ReportError> {
    #[derive(Deserialize)]
    struct Failed {
        error: String,
    }
    let body = get_body(client, url).await.map_err(http_err(url))?;
    serde_json::from_str(&body).map_err(|e| {
        http_err(url)(match serde_json::from_str::<Failed>(&body) {
            Ok(f) => HttpError::Remote(f.error),
            Err(_) if e.is_syntax() || e.is_eof() => HttpError::NotJson(e),
            Err(_) => HttpError::Unexpected(e),
        })
    })
}

async fn window(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    a: i64,
    b: i64,
) -> Result<Point, ReportError> {
    let url = format!(
        "{base}/api/v1/facilities/{id}/series?window={}ms&from={b}&to={b}&step=1m",
        (b - a).max(60_000)
    );
    let series: Series = get_json(client, &url).await?;
    let p = series
        .points
        .into_iter()
        .next()
        .ok_or_else(|| http_err(&url)(HttpError::NoPoint))?;
    Ok(point(p))
}

fn point(p: SeriesPoint) -> Point {
    let (pue, e) = (p.pue, p.energy_kwh);
    let c = match p.covered_energy_kwh {
        Some(c) => c.unwrap_or_default(),
        None => Energies {
            total: pue.map_or(0.0, |x| x * e.it),
            it: if pue.is_some() { e.it } else { 0.0 },
            renewable: 0.0,
        },
    };
    Point {
        pue,
        coverage: p.coverage,
        share: p.renewable_share,
        estimated: p.estimated_share,
        e,
        c,
        wue: p.wue,
        erf: p.erf,
        ref_: p.ref_,
        cue: p.cue,
    }
}

/// The period's KPIs and their inputs as far as the point gives them (see the module docs).
fn kpis_of(cfg: &Config, fc: &FacilityConfig, p: &Point, from: i64, to: i64) -> RemoteKpis {
    let certificate_kwh = compute::certificate_kwh(cfg, fc, from, to);
    let water = compute::has_role(fc, Role::Water)
        .then(|| p.wue.map(|w| w * p.e.it / 1000.0))
        .flatten();
    let heat = compute::has_role(fc, Role::ReusedHeat)
        .then(|| p.erf.map(|r| r * p.e.total))
        .flatten();
    RemoteKpis {
        kpi: Kpis {
            wue: p.wue,
            erf: p.erf,
            ref_: p.ref_,
            cue: p.cue,
            water_m3: water.unwrap_or(0.0),
            reused_heat_kwh: heat.unwrap_or(0.0),
            certificate_kwh,
        },
        water,
        heat,
    }
}

struct RemoteKpis {
    kpi: Kpis,
    water: Option<f64>,
    heat: Option<f64>,
}

fn missing(hours: i64, coverage: f64) -> i64 {
    (hours - (coverage * hours as f64).round() as i64).max(0)
}

async fn fetch(
    cfg: &Config,
    base: &str,
    from: i64,
    to: i64,
    only: Option<&[String]>,
) -> Result<Report, ReportError> {
    let tz = cfg.timezone();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .no_proxy()
        .build()
        .map_err(|e| http_err(base)(e.into()))?;
    let listed: Vec<Listed> = get_json(&client, &format!("{base}/api/v1/facilities")).await?;
    let mut alerts: Vec<AlertRecord> =
        get_json::<Vec<ResolvedAlert>>(&client, &format!("{base}/api/v1/alerts/history"))
            .await?
            .into_iter()
            .map(AlertRecord::Resolved)
            .collect();
    // Still firing (pending ones are left out by the report).
    alerts.extend(
        get_json::<Vec<ActiveAlert>>(&client, &format!("{base}/api/v1/alerts"))
            .await?
            .into_iter()
            .map(AlertRecord::Active),
    );
    let months = time::month_bounds(tz, from, to);
    let hours_of = |a: i64, b: i64| {
        let (ha, hb) = time::hour_span(a, b);
        hb - ha
    };
    let mut out = Vec::new();
    for fc in &cfg.facilities {
        if only.is_some_and(|ids| !ids.iter().any(|i| i == fc.id())) {
            continue;
        }
        let id = fc.id();
        let p = window(&client, base, id, from, to).await?;
        let mut rows = Vec::new();
        for (label, a, b) in &months {
            let m = window(&client, base, id, *a, *b).await?;
            let h = hours_of(*a, *b);
            rows.push(MonthRow {
                month: label.clone(),
                from: time::fmt_time(tz, *a),
                to: time::fmt_time(tz, *b),
                hours: h,
                missing_hours: missing(h, m.coverage),
                coverage: m.coverage,
                energy_kwh: m.e,
                covered_energy_kwh: m.c,
                pue: m.pue,
                renewable_share: m.share,
            });
        }
        let data_until = listed
            .iter()
            .find(|f| f.id == id)
            .and_then(|f| f.watermark.clone());
        let h = hours_of(from, to);
        let k = kpis_of(cfg, fc, &p, from, to);
        out.push(compute::facility_report(
            cfg,
            fc,
            Figures {
                measured: Measured {
                    data_until,
                    energy_kwh: p.e,
                    covered_energy_kwh: p.c,
                    pue: p.pue,
                    coverage: p.coverage,
                    hours: h,
                    missing_hours: missing(h, p.coverage),
                    gaps: Vec::new(),
                    gaps_not_listed: 0,
                },
                renewable_share: p.share,
                kpi: k.kpi,
                water_m3: k.water,
                reused_heat_kwh: k.heat,
                input_coverage: InputCoverage::default(),
                period: (from, to),
                estimated_share: p.estimated,
                months: rows,
                alerts: alerts::alerts_of(&alerts, id, tz, from, to),
            },
        ));
    }
    Ok(compute::assemble(cfg, from, to, out))
}

/// The report over [from, to) from the instance at `url` (runs its own runtime on a thread, so
/// it may be called from inside or outside one).
pub fn build(
    cfg: &Config,
    url: &str,
    from: i64,
    to: i64,
    only: Option<&[String]>,
) -> Result<Report, ReportError> {
    let base = url.trim_end_matches('/').to_string();
    let cfg = cfg.clone();
    let only: Option<Vec<String>> = only.map(<[String]>::to_vec);
    let base2 = base.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| http_err(&base2)(HttpError::Runtime(e)))?;
        rt.block_on(fetch(&cfg, &base2, from, to, only.as_deref()))
    })
    .join()
    .unwrap_or_else(|_| Err(http_err(&base)(HttpError::Panicked)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Point, serde_json::Error> {
        let s: Series = serde_json::from_str(json)?;
        Ok(point(s.points.into_iter().next().expect("a point")))
    }

    const E: &str = r#""energy_kwh":{"total":130.0,"it":100.0,"renewable":5.0}"#;

    #[test]
    fn a_series_point_reads_as_the_instance_serves_it() {
        let p = parse(&format!(
            r#"{{"points":[{{"t":null,"pue":1.3,"coverage":0.99,"renewable_share":0.04,{E},"covered_energy_kwh":{{"total":117.0,"it":90.0,"renewable":0.0}}}}]}}"#
        ))
        .expect("point");
        assert_eq!((p.pue, p.coverage, p.share), (Some(1.3), 0.99, Some(0.04)));
        assert_eq!((p.e.total, p.c.total, p.c.it), (130.0, 117.0, 90.0));
        // Null: nothing covered.
        let p = parse(&format!(
            r#"{{"points":[{{"pue":null,"coverage":0.0,"renewable_share":null,{E},"covered_energy_kwh":null}}]}}"#
        ))
        .expect("point");
        assert_eq!((p.c.total, p.c.it), (0.0, 0.0));
        // Absent (an older instance): PUE × IT energy.
        let p = parse(&format!(
            r#"{{"points":[{{"pue":1.3,"coverage":1.0,"renewable_share":null,{E}}}]}}"#
        ))
        .expect("point");
        assert_eq!((p.c.total, p.c.it), (130.0, 100.0));
    }

    #[test]
    fn a_series_point_without_its_coverage_is_an_error_not_zero_coverage() {
        let err = parse(&format!(r#"{{"points":[{{"pue":1.3,"cov":1.0,{E}}}]}}"#))
            .err()
            .expect("missing coverage");
        assert!(err.to_string().contains("coverage"), "{err}");
    }
}
