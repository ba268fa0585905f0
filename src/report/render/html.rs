//! HTML for print: A4, self-contained (inline CSS and SVG, no links).

use std::fmt::Write as _;

use crate::report::compute::{FacilityReport, Report};
use crate::report::targets;
use crate::report::Lang;

use super::chart::chart_svg;
use super::escape::esc;
use super::fmt::{
    hl, hl_inline, lb, offset_of, pct, pct_opt, period_note, pue_c, short_time, tier_s,
    verdict_label, TITLE,
};
use super::table::{Align, Cell, Table, Text};
use super::tables;

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

fn text(t: &Text, lang: Lang) -> String {
    match t {
        Text::Plain(s) => esc(s),
        Text::Label(l) => l.html(lang),
        Text::Code { main, sub } => format!("{}<span class=\"en\">{}</span>", esc(main), esc(sub)),
        Text::Word { main, sub } => {
            format!("{} <span class=\"en\">{}</span>", esc(main), esc(sub))
        }
    }
}

fn td(c: &Cell, align: Align, lang: Lang) -> String {
    let class = match (align, c.class) {
        (Align::Left, None) => String::new(),
        (Align::Left, Some(x)) => format!(" class=\"{x}\""),
        (Align::Right, None) => " class=\"n\"".to_string(),
        (Align::Right, Some(x)) => format!(" class=\"n {x}\""),
    };
    let body = text(&c.text, lang);
    if c.strong {
        format!("<td{class}><b>{body}</b></td>")
    } else {
        format!("<td{class}>{body}</td>")
    }
}

/// `<table>`: a heading row, then every row and column.
pub fn table(t: &Table, lang: Lang) -> String {
    let mut o = String::from("<table><tr>");
    for c in &t.columns {
        let class = match c.align {
            Align::Left => "",
            Align::Right => " class=\"n\"",
        };
        let note = c
            .note
            .as_deref()
            .map(|n| format!("<span class=\"en\">{}</span>", esc(n)))
            .unwrap_or_default();
        let _ = write!(o, "<th{class}>{}{note}</th>", c.head.html(lang));
    }
    o.push_str("</tr>");
    for row in &t.rows {
        o.push_str(if row.total {
            "<tr class=\"total\">"
        } else {
            "<tr>"
        });
        for (c, col) in row.cells.iter().zip(&t.columns) {
            o.push_str(&td(c, col.align, lang));
        }
        o.push_str("</tr>");
    }
    o.push_str("</table>");
    o
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
    let _ = writeln!(
        o,
        "<!DOCTYPE html>\n<html lang=\"{html_lang}\">\n<head>\n<meta charset=\"utf-8\">\n<title>{} {} — {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<div class=\"sheet\">",
        esc(&TITLE.text(lang)),
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
        "<h3>{}</h3>{}",
        hl(lang, "分层汇总", "Summary by tier"),
        table(&tables::summary(r, lang), lang)
    );
    let _ = writeln!(
        o,
        "<h3>{}</h3>{}",
        hl(lang, "各数据中心结论", "Facilities"),
        table(&tables::facilities(r), lang)
    );
    // Method and provenance.
    let _ = write!(
        o,
        "<h3>{}</h3><ul class=\"method\">",
        hl(lang, "计算方法", "Method")
    );
    let items: [(&str, String); 5] = [
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
        (
            "WUE = 取水量 ÷ IT 能耗（L/kWh）；ERF = 再利用热量 ÷ 总能耗；REF =（可再生能源 + 绿证）÷ 总能耗；CUE = 未被可再生能源与绿证抵消的电网电量 × 电网排放因子 ÷ IT 能耗。输入覆盖率低于最低覆盖率时指标为空（无数据）。目标（数值见各数据中心的指标表）：本数据中心限值与目标；国家枢纽节点 PUE；《绿色数据中心政府采购需求标准（试行）》的 WUE 与可再生能源最低使用率（逐年提高）。",
            format!(
                "WUE = water input ÷ IT energy (L/kWh); ERF = reused energy ÷ total energy; REF = (renewable energy + green certificates) ÷ total energy; CUE = grid energy not matched by renewables or certificates × grid emission factor ÷ IT energy. A KPI whose inputs cover less than the minimum coverage is null (no data). Targets: the facility's own ceiling and targets; PUE ≤ {} for the national hub nodes; the green data-centre government procurement standard's WUE ≤ {} L/kWh and minimum renewable share ({} in 2025, rising).",
                targets::PUE_NATIONAL_HUB,
                targets::WUE_GREEN_PROCUREMENT,
                pct_opt(targets::renewable_min_share(2025)),
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
        tier_s(lang, f.tier.as_str()),
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
        pue_c(f.measured.pue, f.pue_ceiling),
        lb(lang, "限值", "ceiling"),
        f.pue_ceiling,
        hl_inline(lang, "结论", "verdict"),
        f.verdict.as_str(),
        verdict_label(f.verdict).html(lang),
        esc(&grade),
        hl_inline(lang, "数据覆盖率", "coverage"),
        pct(f.measured.coverage),
        lb(lang, "缺失", "missing"),
        f.measured.missing_hours,
        f.measured.hours,
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
        "<p class=\"est\">{}: {}</p>",
        hl_inline(
            lang,
            "非计量能耗占比（估算或人工读数）",
            "estimated share (energy from estimated or manual readings)"
        ),
        pct_opt(f.estimated_share)
    );
    let _ = writeln!(o, "{}", table(&tables::energy(f), lang));
    let _ = writeln!(
        o,
        "<h3>{}</h3>{}",
        hl_inline(lang, "可持续指标与目标", "Sustainability KPIs and targets"),
        table(&tables::kpis(f), lang)
    );
    let _ = writeln!(
        o,
        "<h3>{}</h3>{}",
        hl_inline(
            lang,
            "欧盟授权条例 2024/1364 口径",
            "Under EU Delegated Regulation 2024/1364"
        ),
        table(&tables::eu(f), lang)
    );
    let _ = writeln!(
        o,
        "<h3>{}</h3><div class=\"chart\">{}</div>",
        hl_inline(lang, "月度 PUE", "PUE by month"),
        chart_svg(f, lang)
    );
    let _ = writeln!(o, "{}", table(&tables::months(f), lang));
    let _ = write!(
        o,
        "<h3>{}</h3>",
        hl_inline(lang, "数据缺失时段", "Data gaps")
    );
    if f.measured.gaps.is_empty() {
        let _ = writeln!(o, "<p>{}</p>", lb(lang, "无", "none"));
    } else {
        o.push_str("<ul class=\"gaps\">");
        for g in &f.measured.gaps {
            let _ = write!(
                o,
                "<li>{} — {} ({} h)</li>",
                esc(&short_time(&g.from)),
                esc(&short_time(&g.to)),
                g.hours
            );
        }
        if f.measured.gaps_not_listed > 0 {
            let _ = write!(o, "<li>… +{}</li>", f.measured.gaps_not_listed);
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
        let _ = writeln!(o, "{}", table(&tables::alerts(f, lang), lang));
    }
    if let Some(w) = &f.measured.data_until {
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
