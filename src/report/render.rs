//! The report's four forms: CSV and JSON for machines, Markdown for e-mail, HTML for print.
//! Every renderer walks vectors in order (no map iteration), so output is reproducible.

use std::fmt::Write as _;

use crate::engine::Status;

use super::compute::{FacilityReport, MonthRow, Report};
use super::{Format, Lang};

/// The CSV header. One row per facility per calendar month (`row` = `month`, `month` =
/// `YYYY-MM`), then one for the whole period (`row` = `period`, `month` empty); times RFC 3339
/// in the configured timezone; energies kWh; `coverage` and `renewable_share` are fractions;
/// `grade` and `verdict` only on period rows; empty cells are nulls.
pub const CSV_HEADER: &str = "facility,name,tier,row,month,start,end,hours,missing_hours,coverage,energy_total_kwh,energy_it_kwh,energy_renewable_kwh,covered_total_kwh,covered_it_kwh,pue,pue_ceiling,verdict,grade,renewable_share,renewable_target,dcpue_version,config_fingerprint";

pub fn render(r: &Report, format: Format, lang: Lang) -> String {
    match format {
        Format::Csv => render_csv(r),
        Format::Json => render_json(r),
        Format::Md => render_markdown(r, lang),
        Format::Html => render_html(r, lang),
    }
}

/// Pretty JSON in the struct's field order, with a trailing newline.
pub fn render_json(r: &Report) -> String {
    let mut s = serde_json::to_string_pretty(r)
        .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()));
    s.push('\n');
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map(|x| format!("{x:.prec$}")).unwrap_or_default()
}

pub fn render_csv(r: &Report) -> String {
    let mut out = String::new();
    out.push_str(CSV_HEADER);
    out.push_str("\r\n");
    for f in &r.facilities {
        let mut row = |kind: &str, month: &str, m: RowVals<'_>| {
            let cells = [
                csv_field(&f.id),
                csv_field(&f.name),
                f.tier.as_str().to_string(),
                kind.to_string(),
                month.to_string(),
                m.from.to_string(),
                m.to.to_string(),
                m.hours.to_string(),
                m.missing.to_string(),
                format!("{:.6}", m.coverage),
                format!("{:.3}", m.e.total),
                format!("{:.3}", m.e.it),
                format!("{:.3}", m.e.renewable),
                format!("{:.3}", m.c.total),
                format!("{:.3}", m.c.it),
                opt(m.pue, 6),
                format!("{}", f.pue_ceiling),
                m.verdict
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                m.grade.map(|g| g.to_string()).unwrap_or_default(),
                opt(m.share, 6),
                f.renewable_target
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                csv_field(&r.dcpue_version),
                r.config_fingerprint.clone(),
            ];
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        };
        for m in &f.months {
            row("month", &m.month, RowVals::month(m));
        }
        row(
            "period",
            "",
            RowVals::period(f, &r.period.from, &r.period.to),
        );
    }
    out
}

struct RowVals<'a> {
    from: &'a str,
    to: &'a str,
    hours: i64,
    missing: i64,
    coverage: f64,
    e: crate::engine::Energies,
    c: crate::engine::Energies,
    pue: Option<f64>,
    verdict: Option<Status>,
    grade: Option<u8>,
    share: Option<f64>,
}

impl<'a> RowVals<'a> {
    fn month(m: &'a MonthRow) -> RowVals<'a> {
        RowVals {
            from: &m.from,
            to: &m.to,
            hours: m.hours,
            missing: m.missing_hours,
            coverage: m.coverage,
            e: m.energy_kwh,
            c: m.covered_energy_kwh,
            pue: m.pue,
            verdict: None,
            grade: None,
            share: m.renewable_share,
        }
    }
    fn period(f: &'a FacilityReport, from: &'a str, to: &'a str) -> RowVals<'a> {
        RowVals {
            from,
            to,
            hours: f.hours,
            missing: f.missing_hours,
            coverage: f.coverage,
            e: f.energy_kwh,
            c: f.covered_energy_kwh,
            pue: f.pue,
            verdict: Some(f.verdict),
            grade: f.grade,
            share: f.renewable_share,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Labels and number formats shared by Markdown and HTML.

/// A label in the chosen language: "中文 English" (zh) or "English" (en).
fn lb(lang: Lang, zh: &str, en: &str) -> String {
    match lang {
        Lang::Zh => format!("{zh} {en}"),
        Lang::En => en.to_string(),
    }
}

/// HTML: the Chinese label with the English one below it, smaller.
fn hl(lang: Lang, zh: &str, en: &str) -> String {
    match lang {
        Lang::Zh => format!("{zh}<span class=\"en\">{en}</span>"),
        Lang::En => en.to_string(),
    }
}

fn pue_s(p: Option<f64>) -> String {
    p.map(|p| format!("{p:.3}")).unwrap_or_else(|| "—".into())
}

/// A PUE compared with `ceiling`: three decimals, four when three would hide which side of the
/// ceiling it is on (the verdict compares unrounded values).
fn pue_c(p: Option<f64>, ceiling: f64) -> String {
    match p {
        Some(p) if p != ceiling && ((p * 1000.0).round() / 1000.0 - ceiling).abs() < 1e-9 => {
            format!("{p:.4}")
        }
        _ => pue_s(p),
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn pct_opt(x: Option<f64>) -> String {
    x.map(pct).unwrap_or_else(|| "—".into())
}

/// kWh as MWh with thousands separators and one decimal.
fn mwh(kwh: f64) -> String {
    let v = (kwh / 100.0).round() as i64; // tenths of MWh
    let (neg, v) = (v < 0, v.abs());
    let int = (v / 10).to_string();
    let mut grouped = String::new();
    for (k, ch) in int.chars().enumerate() {
        if k > 0 && (int.len() - k) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{}{grouped}.{}", if neg { "-" } else { "" }, v % 10)
}

fn verdict_s(lang: Lang, s: Status) -> String {
    match s {
        Status::Compliant => lb(lang, "达标", "compliant"),
        Status::Breach => lb(lang, "超限", "breach"),
        Status::InsufficientData => lb(lang, "数据不足", "insufficient data"),
    }
}

fn verdict_h(lang: Lang, s: Status) -> String {
    match s {
        Status::Compliant => hl(lang, "达标", "compliant"),
        Status::Breach => hl(lang, "超限", "breach"),
        Status::InsufficientData => hl(lang, "数据不足", "insufficient data"),
    }
}

fn tier_s(lang: Lang, t: &str) -> String {
    match t {
        "core" => lb(lang, "核心", "core"),
        "supplementary" => lb(lang, "副中心", "supplementary"),
        "backup" => lb(lang, "备份", "backup"),
        "province" => lb(lang, "全省", "province"),
        other => other.to_string(),
    }
}

fn tier_h(lang: Lang, t: &str) -> String {
    match t {
        "core" => hl(lang, "核心", "core"),
        "supplementary" => hl(lang, "副中心", "supplementary"),
        "backup" => hl(lang, "备份", "backup"),
        "province" => hl(lang, "全省", "province"),
        other => other.to_string(),
    }
}

fn grade_s(g: Option<u8>) -> String {
    g.map(|g| g.to_string()).unwrap_or_else(|| "—".into())
}

fn duration_s(secs: i64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    if d > 0 {
        format!("{d}d {h}h {m}m")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m")
    }
}

/// `2025-01-01T00:00:00+08:00` → `2025-01-01 00:00`.
fn short_time(t: &str) -> String {
    if t.len() >= 16 && t.as_bytes()[10] == b'T' {
        format!("{} {}", &t[..10], &t[11..16])
    } else {
        t.to_string()
    }
}

fn offset_of(t: &str) -> &str {
    if t.len() > 19 {
        &t[19..]
    } else {
        ""
    }
}

fn period_note(r: &Report, lang: Lang) -> Option<String> {
    (!r.period.full_compliance_period).then(|| match lang {
        Lang::Zh => format!(
            "本期短于合规考核窗口（{}），PUE 为阶段性数值，仅作预警，不作合规结论。 The period is shorter than the compliance window ({}): its PUE is interim, an early warning, not a compliance judgement.",
            r.compliance_window, r.compliance_window
        ),
        Lang::En => format!(
            "The period is shorter than the compliance window ({}): its PUE is interim, an early warning, not a compliance judgement.",
            r.compliance_window
        ),
    })
}

// ---------------------------------------------------------------------------------------------
// Markdown

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn render_markdown(r: &Report, lang: Lang) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# {}\n",
        lb(
            lang,
            "数据中心能效（PUE）合规报告",
            "Data-centre PUE compliance report"
        )
    );
    let _ = writeln!(
        o,
        "- {}: {} — {} ({}, {} h)",
        lb(lang, "报告期", "Period"),
        short_time(&r.period.from),
        short_time(&r.period.to),
        r.timezone,
        r.period.hours
    );
    if let Some(g) = &r.generated_at {
        let _ = writeln!(o, "- {}: {g}", lb(lang, "生成时间", "Generated at"));
    }
    let _ = writeln!(
        o,
        "- dcpue {} · {}: {} ({})",
        r.dcpue_version,
        lb(lang, "配置", "config"),
        md_cell(r.config_path.as_deref().unwrap_or("—")),
        r.config_fingerprint
    );
    let _ = writeln!(
        o,
        "- {}: {} · {}: ≤{} / ≤{} / ≤{}",
        lb(lang, "最低数据覆盖率", "Minimum coverage"),
        pct(r.min_coverage),
        lb(lang, "GB 40879 等级", "grades"),
        r.grade_bounds[0],
        r.grade_bounds[1],
        r.grade_bounds[2]
    );
    if let Some(n) = period_note(r, lang) {
        let _ = writeln!(o, "\n> {n}");
    }
    let _ = writeln!(o, "\n## {}\n", lb(lang, "分层汇总", "Summary by tier"));
    let _ = writeln!(
        o,
        "| {} | {} | {} | {} | PUE | {} | {} | {} |",
        lb(lang, "层级", "Tier"),
        lb(lang, "数据中心数", "Facilities"),
        lb(lang, "总能耗 MWh", "Total MWh"),
        lb(lang, "IT 能耗 MWh", "IT MWh"),
        lb(lang, "达标", "Compliant"),
        lb(lang, "超限", "Breach"),
        lb(lang, "数据不足", "Insufficient")
    );
    o.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for t in &r.summary {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            tier_s(lang, &t.tier),
            t.facilities,
            mwh(t.energy_kwh.total),
            mwh(t.energy_kwh.it),
            pue_s(t.pue),
            t.compliant,
            t.breach,
            t.insufficient_data
        );
    }
    let _ = writeln!(o, "\n## {}\n", lb(lang, "各数据中心", "Facilities"));
    let _ = writeln!(
        o,
        "| {} | {} | PUE | {} | {} | {} | {} | {} |",
        lb(lang, "数据中心", "Facility"),
        lb(lang, "层级", "Tier"),
        lb(lang, "限值", "Ceiling"),
        lb(lang, "结论", "Verdict"),
        lb(lang, "等级", "Grade"),
        lb(lang, "覆盖率", "Coverage"),
        lb(lang, "缺失小时", "Missing h")
    );
    o.push_str("|---|---|---:|---:|---|---:|---:|---:|\n");
    for f in &r.facilities {
        let _ = writeln!(
            o,
            "| {} (`{}`) | {} | {} | {} | {} | {} | {} | {} |",
            md_cell(&f.name),
            f.id,
            tier_s(lang, f.tier.as_str()),
            pue_c(f.pue, f.pue_ceiling),
            f.pue_ceiling,
            verdict_s(lang, f.verdict),
            grade_s(f.grade),
            pct(f.coverage),
            f.missing_hours
        );
    }
    for f in &r.facilities {
        let title = match (&f.name_en, lang) {
            (Some(en), Lang::Zh) => format!("{} · {}", f.name, en),
            (Some(en), Lang::En) => en.clone(),
            (None, _) => f.name.clone(),
        };
        let _ = writeln!(o, "\n## {} (`{}`)\n", md_cell(&title), f.id);
        let _ = writeln!(
            o,
            "{} {} · {} · {} {} · {} {}",
            lb(lang, "城市", "City"),
            md_cell(&f.city),
            tier_s(lang, f.tier.as_str()),
            lb(lang, "规模", "class"),
            f.class,
            lb(lang, "投运", "commissioned"),
            f.commissioned
        );
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "- **PUE {}** ({} {}) — **{}**, {} {}",
            pue_c(f.pue, f.pue_ceiling),
            lb(lang, "限值", "ceiling"),
            f.pue_ceiling,
            verdict_s(lang, f.verdict),
            lb(lang, "GB 40879 等级", "GB 40879 grade"),
            grade_s(f.grade)
        );
        let _ = writeln!(
            o,
            "- {}: {} · {}: {} / {} h",
            lb(lang, "数据覆盖率", "Coverage"),
            pct(f.coverage),
            lb(lang, "缺失小时", "missing hours"),
            f.missing_hours,
            f.hours
        );
        let _ = writeln!(
            o,
            "- {}: {} · IT {} · {} {} MWh",
            lb(lang, "总能耗", "Total energy"),
            mwh(f.energy_kwh.total),
            mwh(f.energy_kwh.it),
            lb(lang, "可再生", "renewable"),
            mwh(f.energy_kwh.renewable)
        );
        let _ = writeln!(
            o,
            "- {}: {} ({} {})",
            lb(lang, "可再生能源占比", "Renewable share"),
            pct_opt(f.renewable_share),
            lb(lang, "目标", "target"),
            f.renewable_target.map(pct).unwrap_or_else(|| "—".into())
        );
        if let Some(w) = &f.data_until {
            let _ = writeln!(
                o,
                "- {}: {}",
                lb(lang, "数据截至", "Data complete up to"),
                w
            );
        }
        let _ = writeln!(
            o,
            "\n| {} | PUE | {} | {} | {} | {} |",
            lb(lang, "月份", "Month"),
            lb(lang, "覆盖率", "Coverage"),
            lb(lang, "缺失小时", "Missing h"),
            lb(lang, "总能耗 MWh", "Total MWh"),
            lb(lang, "IT 能耗 MWh", "IT MWh")
        );
        o.push_str("|---|---:|---:|---:|---:|---:|\n");
        for m in &f.months {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                m.month,
                pue_c(m.pue, f.pue_ceiling),
                pct(m.coverage),
                m.missing_hours,
                mwh(m.energy_kwh.total),
                mwh(m.energy_kwh.it)
            );
        }
        if !f.gaps.is_empty() {
            let _ = writeln!(o, "\n{}:\n", lb(lang, "数据缺失时段", "Data gaps"));
            for g in &f.gaps {
                let _ = writeln!(
                    o,
                    "- {} — {} ({} h)",
                    short_time(&g.from),
                    short_time(&g.to),
                    g.hours
                );
            }
            if f.gaps_not_listed > 0 {
                let _ = writeln!(o, "- … +{}", f.gaps_not_listed);
            }
        }
        let _ = writeln!(o, "\n{}:\n", lb(lang, "本期告警", "Alerts in the period"));
        if f.alerts.is_empty() {
            let _ = writeln!(o, "{}", lb(lang, "无", "none"));
        } else {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                lb(lang, "告警", "Alert"),
                lb(lang, "开始", "Started"),
                lb(lang, "恢复", "Resolved"),
                lb(lang, "持续", "Duration"),
                lb(lang, "最差值", "Worst")
            );
            o.push_str("|---|---|---|---:|---:|\n");
            for a in &f.alerts {
                let _ = writeln!(
                    o,
                    "| {} {} {} | {} | {} | {} | {} |",
                    a.name,
                    md_cell(&a.scope),
                    a.severity,
                    short_time(&a.started),
                    a.resolved.as_deref().map(short_time).unwrap_or_else(|| lb(
                        lang,
                        "仍在告警",
                        "still firing"
                    )),
                    duration_s(a.duration_s),
                    a.worst
                        .map(|w| format!("{w:.3}"))
                        .unwrap_or_else(|| "—".into())
                );
            }
        }
    }
    o
}

// ---------------------------------------------------------------------------------------------
// HTML

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const CSS: &str = r#"
@page { size: A4; margin: 15mm }
@page { @bottom-right { content: counter(page) " / " counter(pages); font-size: 7pt; color: #444 } @bottom-left { content: "dcpue PUE compliance report"; font-size: 7pt; color: #444 } }
* { box-sizing: border-box }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact }
body { font-family: "Noto Serif CJK SC", "Source Han Serif SC", "WenQuanYi Micro Hei", "Noto Sans CJK SC", "Microsoft YaHei", serif; font-size: 9pt; color: #111; margin: 0; line-height: 1.25 }
.sheet { max-width: 180mm; margin: 0 auto }
h1 { font-size: 17pt; margin: 0 0 2mm; letter-spacing: .5pt }
h1 .en, h2 .en { display: block; font-size: 10.5pt; font-weight: normal; color: #333; letter-spacing: 0 }
h2 { font-size: 13.5pt; margin: 0 0 1.5mm; border-bottom: 1.5pt solid #111; padding-bottom: 1mm }
h3 { font-size: 10.5pt; margin: 4mm 0 1.2mm }
h3 .en { font-weight: normal; color: #444; margin-left: 2mm }
.en { color: #555; font-size: 85% }
th .en, td .en { display: block; font-weight: normal; font-size: 7pt }
.masthead { border-top: 3pt double #111; border-bottom: 1pt solid #111; padding: 3mm 0; margin-bottom: 4mm }
.meta { display: grid; grid-template-columns: 42mm 1fr; gap: .6mm 3mm; font-size: 8.5pt; margin: 2mm 0 }
.meta dt { color: #333 } .meta dd { margin: 0; font-family: "DejaVu Sans Mono", monospace; font-size: 8pt; word-break: break-all }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 2mm; page-break-inside: auto }
tr { page-break-inside: avoid }
th, td { border: .5pt solid #777; padding: .45mm 1.6mm; text-align: left; vertical-align: top }
th { background: #eceff3; font-weight: bold; font-size: 8pt }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums }
tr.total td { font-weight: bold; background: #f6f6f6 }
.facility { page-break-before: always; break-before: page }
.sub { color: #333; margin: 0 0 3mm; font-size: 8.5pt }
.keys { display: grid; grid-template-columns: repeat(4, 1fr); border: .8pt solid #111; margin: 2mm 0 3mm }
.keys div { padding: 1.5mm 2mm; border-right: .5pt solid #999 }
.keys div:last-child { border-right: 0 }
.keys .k { font-size: 7.5pt; color: #333; display: block }
.keys .v { font-size: 14pt; font-weight: bold; display: block; font-variant-numeric: tabular-nums }
.keys .s { font-size: 7.5pt; color: #333 }
.badge { display: inline-block; padding: .3mm 1.6mm; border: .8pt solid; font-weight: bold }
.badge .en { display: inline; color: inherit; margin-left: 1mm }
.compliant { color: #0b5d1e } .breach { color: #a10000 } .insufficient_data { color: #7a5200 }
.note { border-left: 2pt solid #7a5200; padding: 1mm 2mm; background: #fbf6ea; font-size: 8.5pt; margin: 2mm 0 }
.chart { margin: 1mm 0 2mm; page-break-inside: avoid }
.foot { margin-top: 4mm; border-top: .5pt solid #999; padding-top: 1mm; font-size: 7pt; color: #444 }
ul.gaps { margin: 0; padding-left: 5mm; columns: 2; font-size: 8pt }
.method { font-size: 8pt; color: #222 } .method li { margin-bottom: .8mm }
.sign { margin-top: 6mm; display: grid; grid-template-columns: repeat(3, 1fr); gap: 6mm; font-size: 8.5pt }
.sign div { border-top: .6pt solid #111; padding-top: 1mm; min-height: 12mm }
td.breach { color: #a10000; font-weight: bold }
@media screen { body { background: #ddd } .sheet { background: #fff; padding: 15mm; margin: 5mm auto; width: 210mm; max-width: none } }
"#;

/// Inline SVG: monthly PUE bars against the ceiling line (and the period's PUE).
fn chart_svg(f: &FacilityReport, lang: Lang) -> String {
    let (w, h) = (680.0f64, 215.0f64);
    let (left, right, top, bottom) = (44.0, 12.0, 26.0, 34.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let vals: Vec<f64> = f.months.iter().filter_map(|m| m.pue).collect();
    let hi_v = vals
        .iter()
        .copied()
        .fold(f.pue_ceiling, f64::max)
        .max(f.pue.unwrap_or(0.0));
    let lo_v = vals.iter().copied().fold(f.pue_ceiling, f64::min).min(1.0);
    let lo = ((lo_v - 0.05) * 10.0).floor() / 10.0;
    let hi = ((hi_v + 0.05) * 10.0).ceil() / 10.0;
    let lo = lo.max(0.0);
    let span = (hi - lo).max(0.1);
    let y = |v: f64| top + ph - (v - lo) / span * ph;
    let mut s = String::new();
    // Bar values, drawn last so the reference lines never cover them.
    let mut values = String::new();
    let _ = write!(
        s,
        r##"<svg viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="PUE by month" font-family="inherit" font-size="10">"##
    );
    // Grid and y labels every 0.1.
    let mut t = lo;
    while t <= hi + 1e-9 {
        let yy = y(t);
        let _ = write!(
            s,
            r##"<line x1="{left}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#d4d4d4" stroke-width="0.6"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#333">{t:.1}</text>"##,
            left + pw,
            left - 4.0,
            yy + 3.5
        );
        t += 0.1;
    }
    let n = f.months.len().max(1) as f64;
    let slot = pw / n;
    let bw = (slot * 0.62).min(36.0);
    let min_cov_miss = |m: &MonthRow| m.coverage < 0.9999;
    for (k, m) in f.months.iter().enumerate() {
        let cx = left + slot * (k as f64 + 0.5);
        if let Some(p) = m.pue {
            let top_y = y(p);
            let base = y(lo);
            let fill = if p > f.pue_ceiling {
                "#b3261e"
            } else {
                "#40618f"
            };
            let _ = write!(
                s,
                r##"<rect x="{:.1}" y="{top_y:.1}" width="{bw:.1}" height="{:.1}" fill="{fill}"/>"##,
                cx - bw / 2.0,
                (base - top_y).max(0.0),
            );
            let _ = write!(
                values,
                r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="8.5" fill="#111" stroke="#fff" stroke-width="2.5" paint-order="stroke">{p:.3}</text>"##,
                top_y - 2.5
            );
        } else {
            let _ = write!(
                s,
                r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="8.5" fill="#7a5200">—</text>"##,
                y(lo) - 4.0
            );
        }
        let label = m.month.get(2..).unwrap_or(&m.month);
        let _ = write!(
            s,
            r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" fill="#111">{label}</text>"##,
            top + ph + 12.0
        );
        if min_cov_miss(m) {
            let _ = write!(
                s,
                r##"<text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="8" fill="#7a5200">{}</text>"##,
                top + ph + 23.0,
                pct(m.coverage)
            );
        }
    }
    // Axis.
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#111" stroke-width="0.8"/><line x1="{left}" y1="{top}" x2="{left}" y2="{:.1}" stroke="#111" stroke-width="0.8"/>"##,
        top + ph,
        left + pw,
        top + ph,
        top + ph
    );
    // Ceiling and period lines, with a legend above the plot.
    let cy = y(f.pue_ceiling);
    let lx = left + pw;
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{cy:.1}" x2="{lx:.1}" y2="{cy:.1}" stroke="#b3261e" stroke-width="1.4" stroke-dasharray="6 3"/><line x1="{:.1}" y1="8" x2="{:.1}" y2="8" stroke="#b3261e" stroke-width="1.4" stroke-dasharray="6 3"/><text x="{lx:.1}" y="11" text-anchor="end" font-size="9" fill="#b3261e">{} {}</text>"##,
        lx - 112.0,
        lx - 90.0,
        esc(&lb(lang, "限值", "ceiling")),
        f.pue_ceiling
    );
    if let Some(p) = f.pue {
        let py = y(p);
        let _ = write!(
            s,
            r##"<line x1="{left}" y1="{py:.1}" x2="{lx:.1}" y2="{py:.1}" stroke="#111" stroke-width="0.9" stroke-dasharray="1.5 2"/><line x1="{left}" y1="8" x2="{:.1}" y2="8" stroke="#111" stroke-width="0.9" stroke-dasharray="1.5 2"/><text x="{:.1}" y="11" font-size="9" fill="#111">{} {}</text>"##,
            left + 22.0,
            left + 26.0,
            esc(&lb(lang, "报告期 PUE", "period PUE")),
            pue_c(Some(p), f.pue_ceiling)
        );
    }
    s.push_str(&values);
    s.push_str("</svg>");
    s
}

fn summary_rows(r: &Report, lang: Lang) -> String {
    let mut o = String::new();
    for t in &r.summary {
        let cls = if t.tier == "province" {
            " class=\"total\""
        } else {
            ""
        };
        let _ = write!(
            o,
            "<tr{cls}><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            tier_h(lang, &t.tier),
            t.facilities,
            mwh(t.energy_kwh.total),
            mwh(t.energy_kwh.it),
            pue_s(t.pue),
            t.compliant,
            t.breach,
            t.insufficient_data
        );
    }
    o
}

fn tier_summary_header(lang: Lang) -> String {
    format!(
        "<tr><th>{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">PUE<span class=\"en\">{}</span></th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th></tr>",
        hl(lang, "层级", "Tier"),
        hl(lang, "数据中心", "Facilities"),
        hl(lang, "总能耗 MWh", "Total MWh"),
        hl(lang, "IT 能耗 MWh", "IT MWh"),
        match lang {
            Lang::Zh => "能耗加权 energy-weighted",
            Lang::En => "energy-weighted",
        },
        hl(lang, "达标", "Compliant"),
        hl(lang, "超限", "Breach"),
        hl(lang, "数据不足", "Insufficient"),
    )
}

pub fn render_html(r: &Report, lang: Lang) -> String {
    let mut o = String::new();
    let html_lang = match lang {
        Lang::Zh => "zh-CN",
        Lang::En => "en",
    };
    let title = hl(
        lang,
        "数据中心能效（PUE）合规报告",
        "Data-Centre Energy Efficiency (PUE) Compliance Report",
    );
    let plain_title = lb(
        lang,
        "数据中心能效（PUE）合规报告",
        "Data-centre PUE compliance report",
    );
    let _ = writeln!(
        o,
        "<!DOCTYPE html>\n<html lang=\"{html_lang}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{} {} — {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<div class=\"sheet\">",
        esc(&plain_title),
        esc(&short_time(&r.period.from)),
        esc(&short_time(&r.period.to))
    );
    let _ = write!(o, "<div class=\"masthead\"><h1>{title}</h1>");
    let _ = writeln!(
        o,
        "<div class=\"sub\">{}: <b>{} — {}</b> (UTC{}, {}) · {} h</div></div>",
        hl_inline(lang, "报告期", "Reporting period"),
        esc(&short_time(&r.period.from)),
        esc(&short_time(&r.period.to)),
        esc(offset_of(&r.period.from)),
        esc(&r.timezone),
        r.period.hours
    );
    if let Some(n) = period_note(r, lang) {
        let _ = writeln!(o, "<div class=\"note\">{}</div>", esc(&n));
    }
    let _ = writeln!(
        o,
        "<h3>{}</h3><table>{}{}</table>",
        hl(lang, "分层汇总", "Summary by tier"),
        tier_summary_header(lang),
        summary_rows(r, lang)
    );
    let _ = write!(
        o,
        "<h3>{}</h3><table><tr><th>{}</th><th>{}</th><th class=\"n\">PUE</th><th class=\"n\">{}</th><th>{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th></tr>",
        hl(lang, "各数据中心结论", "Facilities"),
        hl(lang, "数据中心", "Facility"),
        hl(lang, "层级", "Tier"),
        hl(lang, "限值", "Ceiling"),
        hl(lang, "结论", "Verdict"),
        hl(lang, "等级", "Grade"),
        hl(lang, "覆盖率", "Coverage"),
        hl(lang, "缺失小时", "Missing h"),
        hl(lang, "可再生占比", "Renewable"),
    );
    for f in &r.facilities {
        let _ = write!(
            o,
            "<tr><td>{}<span class=\"en\">{}</span></td><td>{}</td><td class=\"n\"><b>{}</b></td><td class=\"n\">{}</td><td class=\"{}\"><b>{}</b></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&f.name),
            esc(&f.id),
            tier_h(lang, f.tier.as_str()),
            pue_c(f.pue, f.pue_ceiling),
            f.pue_ceiling,
            f.verdict.as_str(),
            verdict_h(lang, f.verdict),
            grade_s(f.grade),
            pct(f.coverage),
            f.missing_hours,
            pct_opt(f.renewable_share)
        );
    }
    o.push_str("</table>\n");
    // Method and provenance.
    let _ = write!(
        o,
        "<h3>{}</h3><ul class=\"method\">",
        hl(lang, "计算方法", "Method")
    );
    let items: [(&str, String); 4] = [
        (
            "PUE = 共同覆盖时段内 总能耗 ÷ IT 能耗；仅统计所有总表与 IT 表均有数据的时段，任一表缺数不会扭曲比值。",
            "PUE = total energy ÷ IT energy over the common covered time: only the time every total and IT meter covered counts, so a gap in one meter never skews the ratio.".to_string(),
        ),
        (
            "覆盖率 = 共同覆盖时间 ÷ 报告期；某小时内任一总表或 IT 表未完整覆盖即计为缺失小时。",
            format!(
                "Coverage = common covered time ÷ period; an hour is missing when not every total and IT meter covered all of it. Below {} coverage the verdict is “insufficient data”.",
                pct(r.min_coverage)
            ),
        ),
        (
            "GB 40879-2021 等级依电能比（PUE）评定；结论按报告期 PUE 与限值比较（未取整）。",
            format!(
                "GB 40879-2021 grade by PUE: grade 1 ≤ {}, grade 2 ≤ {}, grade 3 ≤ {}. The verdict compares the period's unrounded PUE with the facility's ceiling.",
                r.grade_bounds[0], r.grade_bounds[1], r.grade_bounds[2]
            ),
        ),
        (
            "分层与全省 PUE 按能耗加权：Σ 总能耗 ÷ Σ IT 能耗（共同覆盖时段）。月份按日历月划分。",
            format!(
                "Tier and province PUE are energy-weighted: Σ total ÷ Σ IT over covered time. Months are calendar months in {}.",
                r.timezone
            ),
        ),
    ];
    for (zh, en) in items {
        let _ = match lang {
            Lang::Zh => write!(
                o,
                "<li>{}<br><span class=\"en\">{}</span></li>",
                esc(zh),
                esc(&en)
            ),
            Lang::En => write!(o, "<li>{}</li>", esc(&en)),
        };
    }
    o.push_str("</ul>\n");
    let _ = write!(
        o,
        "<h3>{}</h3><dl class=\"meta\"><dt>{}</dt><dd>dcpue {}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd>",
        hl(lang, "出处", "Provenance"),
        hl_inline(lang, "软件版本", "Software"),
        esc(&r.dcpue_version),
        hl_inline(lang, "配置文件", "Config file"),
        esc(r.config_path.as_deref().unwrap_or("—")),
        hl_inline(lang, "配置指纹", "Config fingerprint"),
        esc(&r.config_fingerprint),
    );
    if let Some(g) = &r.generated_at {
        let _ = write!(
            o,
            "\n<dt>{}</dt><dd>{}</dd>\n",
            hl_inline(lang, "生成时间", "Generated at"),
            esc(g)
        );
    }
    o.push_str("</dl>\n");
    let _ = writeln!(
        o,
        "<div class=\"sign\"><div>{}</div><div>{}</div><div>{}</div></div>",
        hl_inline(lang, "填报单位（盖章）", "reporting entity (seal)"),
        hl_inline(lang, "负责人（签字）", "responsible person (signature)"),
        hl_inline(lang, "日期", "date"),
    );
    for f in &r.facilities {
        facility_html(&mut o, r, f, lang);
    }
    o.push_str("</div>\n</body>\n</html>\n");
    o
}

fn facility_html(o: &mut String, r: &Report, f: &FacilityReport, lang: Lang) {
    let _ = write!(o, "<section class=\"facility\">\n<h2>{}", esc(&f.name));
    if let Some(en) = &f.name_en {
        let _ = write!(o, "<span class=\"en\">{}</span>", esc(en));
    }
    o.push_str("</h2>\n");
    let _ = writeln!(
        o,
        "<div class=\"sub\">{} <b>{}</b> · {} {} · {} · {} {} · {} {} · {}: {} — {}</div>",
        hl_inline(lang, "编号", "ID"),
        esc(&f.id),
        hl_inline(lang, "城市", "City"),
        esc(&f.city),
        lb(lang, tier_zh(f.tier.as_str()), f.tier.as_str()),
        hl_inline(lang, "规模", "class"),
        esc(&f.class),
        hl_inline(lang, "投运", "commissioned"),
        esc(&f.commissioned),
        hl_inline(lang, "报告期", "period"),
        esc(&short_time(&r.period.from)),
        esc(&short_time(&r.period.to)),
    );
    let grade = match f.grade {
        Some(g) => format!("{} {g}", lb(lang, "等级", "grade")),
        None => format!("{} —", lb(lang, "等级", "grade")),
    };
    let _ = writeln!(
        o,
        "<div class=\"keys\"><div><span class=\"k\">{}</span><span class=\"v\">{}</span><span class=\"s\">{} {}</span></div><div><span class=\"k\">{}</span><span class=\"v\"><span class=\"badge {}\">{}</span></span><span class=\"s\">GB 40879 {}</span></div><div><span class=\"k\">{}</span><span class=\"v\">{}</span><span class=\"s\">{} {} / {} h</span></div><div><span class=\"k\">{}</span><span class=\"v\">{}</span><span class=\"s\">{} {}</span></div></div>",
        hl_inline(lang, "报告期 PUE", "period PUE"),
        pue_c(f.pue, f.pue_ceiling),
        lb(lang, "限值", "ceiling"),
        f.pue_ceiling,
        hl_inline(lang, "结论", "verdict"),
        f.verdict.as_str(),
        verdict_h(lang, f.verdict),
        esc(&grade),
        hl_inline(lang, "数据覆盖率", "coverage"),
        pct(f.coverage),
        lb(lang, "缺失", "missing"),
        f.missing_hours,
        f.hours,
        hl_inline(lang, "可再生能源占比", "renewable share"),
        pct_opt(f.renewable_share),
        lb(lang, "目标", "target"),
        match (f.renewable_target, f.renewable_target_met) {
            (Some(t), Some(true)) => format!("{} ✓", pct(t)),
            (Some(t), Some(false)) => format!("{} ✗", pct(t)),
            (Some(t), None) => pct(t),
            (None, _) => "—".into(),
        }
    );
    let _ = writeln!(
        o,
        "<table><tr><th></th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th></tr><tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr><tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">—</td></tr></table>",
        hl(lang, "总能耗 MWh", "Total MWh"),
        hl(lang, "IT 能耗 MWh", "IT MWh"),
        hl(lang, "可再生 MWh", "Renewable MWh"),
        hl(lang, "报告期计量", "Measured in the period"),
        mwh(f.energy_kwh.total),
        mwh(f.energy_kwh.it),
        mwh(f.energy_kwh.renewable),
        hl(lang, "共同覆盖时段（PUE 计算依据）", "Common covered time (basis of PUE)"),
        mwh(f.covered_energy_kwh.total),
        mwh(f.covered_energy_kwh.it),
    );
    let _ = writeln!(
        o,
        "<h3>{}</h3><div class=\"chart\">{}</div>",
        hl_inline(lang, "月度 PUE", "PUE by month"),
        chart_svg(f, lang)
    );
    let _ = write!(
        o,
        "<table><tr><th>{}</th><th class=\"n\">PUE</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th></tr>",
        hl(lang, "月份", "Month"),
        hl(lang, "覆盖率", "Coverage"),
        hl(lang, "缺失小时", "Missing h"),
        hl(lang, "总能耗 MWh", "Total MWh"),
        hl(lang, "IT 能耗 MWh", "IT MWh"),
        hl(lang, "可再生 MWh", "Renewable MWh"),
    );
    for m in &f.months {
        let over = m.pue.is_some_and(|p| p > f.pue_ceiling);
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=\"n{}\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            m.month,
            if over { " breach" } else { "" },
            pue_c(m.pue, f.pue_ceiling),
            pct(m.coverage),
            m.missing_hours,
            mwh(m.energy_kwh.total),
            mwh(m.energy_kwh.it),
            mwh(m.energy_kwh.renewable)
        );
    }
    let _ = writeln!(
        o,
        "<tr class=\"total\"><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr></table>",
        hl(lang, "报告期", "Period"),
        pue_c(f.pue, f.pue_ceiling),
        pct(f.coverage),
        f.missing_hours,
        mwh(f.energy_kwh.total),
        mwh(f.energy_kwh.it),
        mwh(f.energy_kwh.renewable)
    );
    let _ = write!(
        o,
        "<h3>{}</h3>",
        hl_inline(lang, "数据缺失时段", "Data gaps")
    );
    if f.gaps.is_empty() {
        let _ = writeln!(o, "<p>{}</p>", lb(lang, "无", "none"));
    } else {
        o.push_str("<ul class=\"gaps\">");
        for g in &f.gaps {
            let _ = write!(
                o,
                "<li>{} — {} ({} h)</li>",
                esc(&short_time(&g.from)),
                esc(&short_time(&g.to)),
                g.hours
            );
        }
        if f.gaps_not_listed > 0 {
            let _ = write!(o, "<li>… +{}</li>", f.gaps_not_listed);
        }
        o.push_str("</ul>\n");
    }
    let _ = write!(
        o,
        "<h3>{}</h3>",
        hl_inline(lang, "本期告警", "Alerts in the period")
    );
    if f.alerts.is_empty() {
        let _ = writeln!(o, "<p>{}</p>", lb(lang, "无", "none"));
    } else {
        let _ = write!(
            o,
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th></tr>",
            hl(lang, "告警", "Alert"),
            hl(lang, "级别", "Severity"),
            hl(lang, "开始", "Started"),
            hl(lang, "恢复", "Resolved"),
            hl(lang, "持续", "Duration"),
            hl(lang, "最差值", "Worst"),
        );
        for a in &f.alerts {
            let _ = write!(
                o,
                "<tr><td>{} <span class=\"en\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&a.name),
                esc(&a.scope),
                esc(&a.severity),
                esc(&short_time(&a.started)),
                esc(&a.resolved.as_deref().map(short_time).unwrap_or_else(|| lb(lang, "仍在告警", "still firing"))),
                duration_s(a.duration_s),
                a.worst.map(|w| format!("{w:.3}")).unwrap_or_else(|| "—".into())
            );
        }
        o.push_str("</table>\n");
    }
    if let Some(w) = &f.data_until {
        let _ = write!(
            o,
            "<p class=\"sub\">{}: {}</p>",
            hl_inline(lang, "数据截至", "data complete up to"),
            esc(w)
        );
    }
    let _ = writeln!(
        o,
        "<div class=\"foot\">{} · {} · dcpue {} · {}</div>\n</section>",
        esc(&f.id),
        esc(&lb(
            lang,
            "数据中心能效（PUE）合规报告",
            "PUE compliance report"
        )),
        esc(&r.dcpue_version),
        esc(&r.config_fingerprint)
    );
}

fn tier_zh(t: &str) -> &'static str {
    match t {
        "core" => "核心",
        "supplementary" => "副中心",
        "backup" => "备份",
        _ => "",
    }
}

/// HTML: "中文 <span class=en>English</span>" on one line.
fn hl_inline(lang: Lang, zh: &str, en: &str) -> String {
    match lang {
        Lang::Zh => format!("{zh} <span class=\"en\" style=\"display:inline\">{en}</span>"),
        Lang::En => en.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(mwh(18_925_512.0), "18,925.5");
        assert_eq!(mwh(999.0), "1.0");
        assert_eq!(mwh(0.0), "0.0");
        assert_eq!(mwh(1_234_567_890.0), "1,234,567.9");
        assert_eq!(pue_c(Some(1.2449), 1.3), "1.245");
        // 1.3004 > 1.3 is a breach: three decimals would print the ceiling itself.
        assert_eq!(pue_c(Some(1.3004), 1.3), "1.3004");
        assert_eq!(pue_c(Some(1.2996), 1.3), "1.2996");
        assert_eq!(pue_c(None, 1.3), "—");
        assert_eq!(duration_s(90 * 3600 + 1800), "3d 18h 30m");
        assert_eq!(csv_field("a,b \"c\""), "\"a,b \"\"c\"\"\"");
        assert_eq!(
            esc("<a href='x'>&</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
        );
    }
}
