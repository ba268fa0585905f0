//! Markdown for e-mail.

use std::fmt::Write as _;

use crate::report::compute::Report;
use crate::report::Lang;

use super::fmt::{grade_s, lb, mwh, pct, pct_opt, pue_c, short_time, tier_s, verdict_label, TITLE};
use super::table::{Align, Show, Table, Text};
use super::tables;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn text(t: &Text, lang: Lang) -> String {
    match t {
        Text::Plain(s) => cell(s),
        Text::Label(l) => l.text(lang),
        Text::Code { main, sub } => format!("{} (`{}`)", cell(main), cell(sub)),
        Text::Word { main, sub } => format!("{} {}", cell(main), cell(sub)),
    }
}

/// A pipe table: the heading row, the alignment row, a line per row. Print-only columns and
/// rows are left out; a column shown in its own column only in print is appended to the cell
/// before it.
pub fn table(t: &Table, lang: Lang) -> String {
    let shown = |show: Show| show == Show::All;
    let mut o = String::new();
    let heads: Vec<String> = t
        .columns
        .iter()
        .filter(|c| shown(c.show))
        .map(|c| c.md_head.unwrap_or(c.head).text(lang))
        .collect();
    let _ = writeln!(o, "| {} |", heads.join(" | "));
    let aligns: Vec<&str> = t
        .columns
        .iter()
        .filter(|c| shown(c.show))
        .map(|c| match c.align {
            Align::Left => "---",
            Align::Right => "---:",
        })
        .collect();
    let _ = writeln!(o, "|{}|", aligns.join("|"));
    for row in t.rows.iter().filter(|r| !r.html_only) {
        let mut cells: Vec<String> = Vec::with_capacity(row.cells.len());
        for (c, col) in row.cells.iter().zip(&t.columns) {
            match col.show {
                Show::All => cells.push(text(&c.text, lang)),
                Show::HtmlOnly => {}
                Show::HtmlOwnColumn => {
                    let s = text(&c.text, lang);
                    match cells.last_mut() {
                        Some(prev) => {
                            prev.push(' ');
                            prev.push_str(&s);
                        }
                        None => cells.push(s),
                    }
                }
            }
        }
        let _ = writeln!(o, "| {} |", cells.join(" | "));
    }
    o
}

pub fn render_markdown(r: &Report, lang: Lang) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# {}\n", TITLE.text(lang));
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
        cell(r.config_path.as_deref().unwrap_or("—")),
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
    if let Some(n) = super::fmt::period_note(r, lang) {
        let _ = writeln!(o, "\n> {n}");
    }
    let _ = writeln!(o, "\n## {}\n", lb(lang, "分层汇总", "Summary by tier"));
    o.push_str(&table(&tables::summary(r, lang), lang));
    let _ = writeln!(o, "\n## {}\n", lb(lang, "各数据中心", "Facilities"));
    o.push_str(&table(&tables::facilities(r), lang));
    for f in &r.facilities {
        let title = match (&f.name_en, lang) {
            (Some(en), Lang::Zh) => format!("{} · {}", f.name, en),
            (Some(en), Lang::En) => en.clone(),
            (None, _) => f.name.clone(),
        };
        let _ = writeln!(o, "\n## {} (`{}`)\n", cell(&title), f.id);
        let _ = writeln!(
            o,
            "{} {} · {} · {} {} · {} {}",
            lb(lang, "城市", "City"),
            cell(&f.city),
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
            pue_c(f.measured.pue, f.pue_ceiling),
            lb(lang, "限值", "ceiling"),
            f.pue_ceiling,
            verdict_label(f.verdict).text(lang),
            lb(lang, "GB 40879 等级", "GB 40879 grade"),
            grade_s(f.grade)
        );
        let _ = writeln!(
            o,
            "- {}: {} · {}: {} / {} h",
            lb(lang, "数据覆盖率", "Coverage"),
            pct(f.measured.coverage),
            lb(lang, "缺失小时", "missing hours"),
            f.measured.missing_hours,
            f.measured.hours
        );
        let _ = writeln!(
            o,
            "- {}: {} · IT {} · {} {} MWh",
            lb(lang, "总能耗", "Total energy"),
            mwh(f.measured.energy_kwh.total),
            mwh(f.measured.energy_kwh.it),
            lb(lang, "可再生", "renewable"),
            mwh(f.measured.energy_kwh.renewable)
        );
        let _ = writeln!(
            o,
            "- {}: {} ({} {})",
            lb(lang, "可再生能源占比", "Renewable share"),
            pct_opt(f.renewable_share),
            lb(lang, "目标", "target"),
            pct_opt(f.renewable_target)
        );
        let _ = writeln!(
            o,
            "- {}: {}",
            lb(
                lang,
                "非计量能耗占比（估算或人工读数）",
                "Estimated share (energy from estimated or manual readings)"
            ),
            pct_opt(f.estimated_share)
        );
        if let Some(w) = &f.measured.data_until {
            let _ = writeln!(
                o,
                "- {}: {}",
                lb(lang, "数据截至", "Data complete up to"),
                w
            );
        }
        let _ = writeln!(
            o,
            "\n{}:\n",
            lb(lang, "可持续指标与目标", "Sustainability KPIs and targets")
        );
        o.push_str(&table(&tables::kpis(f), lang));
        let _ = writeln!(
            o,
            "\n{}:\n",
            lb(
                lang,
                "欧盟授权条例 2024/1364 口径",
                "Under EU Delegated Regulation 2024/1364"
            )
        );
        o.push_str(&table(&tables::eu(f), lang));
        o.push('\n');
        o.push_str(&table(&tables::months(f), lang));
        if !f.measured.gaps.is_empty() {
            let _ = writeln!(o, "\n{}:\n", lb(lang, "数据缺失时段", "Data gaps"));
            for g in &f.measured.gaps {
                let _ = writeln!(
                    o,
                    "- {} — {} ({} h)",
                    short_time(&g.from),
                    short_time(&g.to),
                    g.hours
                );
            }
            if f.measured.gaps_not_listed > 0 {
                let _ = writeln!(o, "- … +{}", f.measured.gaps_not_listed);
            }
        }
        let _ = writeln!(o, "\n{}:\n", lb(lang, "本期告警", "Alerts in the period"));
        if f.alerts.is_empty() {
            let _ = writeln!(o, "{}", lb(lang, "无", "none"));
        } else {
            o.push_str(&table(&tables::alerts(f, lang), lang));
        }
    }
    o
}
