//! The report's tables, each described once: the CSV table, and the tables the Markdown and
//! HTML documents share (what differs between them is in the columns' [`Show`] and the
//! writers).

use crate::engine::Energies;
use crate::report::compute::{FacilityReport, MonthRow, Report};
use crate::report::targets::{TargetCheck, TargetKind};
use crate::report::Lang;

use super::fmt::{
    duration_s, grade_s, grouped, lb, met_label, mwh, pct, pct_opt, pue_c, pue_s, short_time,
    tier_label, verdict_label, worst_s,
};
use super::table::{Cell, Column, Label, Row, Show, Table, Text};

const PUE: Label = Label::same("PUE");
const TOTAL_MWH: Label = Label::new("总能耗 MWh", "Total MWh");
const IT_MWH: Label = Label::new("IT 能耗 MWh", "IT MWh");
const RENEWABLE_MWH: Label = Label::new("可再生 MWh", "Renewable MWh");
const COVERAGE: Label = Label::new("覆盖率", "Coverage");
const MISSING_H: Label = Label::new("缺失小时", "Missing h");
const TIER: Label = Label::new("层级", "Tier");

fn tier_cell(tier: &str) -> Cell {
    match tier_label(tier) {
        Some(l) => l.into(),
        None => tier.into(),
    }
}

/// One row per tier, then the province.
pub fn summary(r: &Report, lang: Lang) -> Table {
    let mut t = Table::new(vec![
        Column::left(TIER),
        Column::right(Label::new("数据中心", "Facilities"))
            .md_head(Label::new("数据中心数", "Facilities")),
        Column::right(TOTAL_MWH),
        Column::right(IT_MWH),
        Column::right(PUE).note(lb(lang, "能耗加权", "energy-weighted")),
        Column::right(Label::new("达标", "Compliant")),
        Column::right(Label::new("超限", "Breach")),
        Column::right(Label::new("数据不足", "Insufficient")),
    ]);
    for s in &r.summary {
        t.push(
            Row::new(vec![
                tier_cell(&s.tier),
                s.facilities.to_string().into(),
                mwh(s.energy_kwh.total).into(),
                mwh(s.energy_kwh.it).into(),
                pue_s(s.pue).into(),
                s.compliant.to_string().into(),
                s.breach.to_string().into(),
                s.insufficient_data.to_string().into(),
            ])
            .total(s.tier == "province"),
        );
    }
    t
}

/// One row per facility: its verdict on the period.
pub fn facilities(r: &Report) -> Table {
    let mut t = Table::new(vec![
        Column::left(Label::new("数据中心", "Facility")),
        Column::left(TIER),
        Column::right(PUE),
        Column::right(Label::new("限值", "Ceiling")),
        Column::left(Label::new("结论", "Verdict")),
        Column::right(Label::new("等级", "Grade")),
        Column::right(COVERAGE),
        Column::right(MISSING_H),
        Column::right(Label::new("可再生占比", "Renewable")).show(Show::HtmlOnly),
    ]);
    for f in &r.facilities {
        t.push(Row::new(vec![
            Text::Code {
                main: f.name.clone(),
                sub: f.id.clone(),
            }
            .into(),
            tier_cell(f.tier.as_str()),
            Cell::from(pue_c(f.measured.pue, f.pue_ceiling)).strong(),
            f.pue_ceiling.to_string().into(),
            Cell::from(verdict_label(f.verdict))
                .strong()
                .class(f.verdict.as_str()),
            grade_s(f.grade).into(),
            pct(f.measured.coverage).into(),
            f.measured.missing_hours.to_string().into(),
            pct_opt(f.renewable_share).into(),
        ]));
    }
    t
}

/// A facility's energies: all measured, and over the common covered time (print only).
pub fn energy(f: &FacilityReport) -> Table {
    let mut t = Table::new(vec![
        Column::left(Label::same("")),
        Column::right(TOTAL_MWH),
        Column::right(IT_MWH),
        Column::right(RENEWABLE_MWH),
    ]);
    t.push(Row::new(vec![
        Label::new("报告期计量", "Measured in the period").into(),
        mwh(f.measured.energy_kwh.total).into(),
        mwh(f.measured.energy_kwh.it).into(),
        mwh(f.measured.energy_kwh.renewable).into(),
    ]));
    t.push(Row::new(vec![
        Label::new(
            "共同覆盖时段（PUE 计算依据）",
            "Common covered time (basis of PUE)",
        )
        .into(),
        mwh(f.measured.covered_energy_kwh.total).into(),
        mwh(f.measured.covered_energy_kwh.it).into(),
        "—".into(),
    ]));
    t
}

/// A facility's period under the names of EU Delegated Regulation 2024/1364: the inputs (MWh,
/// water m³) and the indicators from them.
pub fn eu(f: &FacilityReport) -> Table {
    let e = &f.eu_2024_1364;
    let mut t = Table::new(vec![
        Column::right(Label::same("EDC MWh")),
        Column::right(Label::same("EIT MWh")),
        Column::right(Label::same("WIN m³")),
        Column::right(Label::same("EREUSE MWh")),
        Column::right(Label::same("ERES_TOT MWh")),
        Column::right(Label::same("PUE")),
        Column::right(Label::same("WUE L/kWh")),
        Column::right(Label::same("ERF")),
        Column::right(Label::same("REF")),
    ]);
    let opt = |v: Option<f64>, g: fn(f64) -> String| v.map_or_else(|| "—".into(), g);
    t.push(Row::new(vec![
        mwh(e.edc).into(),
        mwh(e.eit).into(),
        opt(e.win, grouped).into(),
        opt(e.ereuse, mwh).into(),
        opt(e.eres_tot, mwh).into(),
        pue_s(e.pue).into(),
        wue_s(e.wue).into(),
        pct_opt(e.erf).into(),
        pct_opt(e.ref_).into(),
    ]));
    t
}

pub fn wue_s(w: Option<f64>) -> String {
    w.map(|w| format!("{w:.2}")).unwrap_or_else(|| "—".into())
}

fn target_label(k: TargetKind) -> Label {
    match k {
        TargetKind::PueCeiling => Label::new("本数据中心限值", "facility ceiling"),
        TargetKind::PueNationalHub => Label::new(
            "国家枢纽节点（新建大型及以上）",
            "national hub nodes (new large and above)",
        ),
        TargetKind::WueGreenProcurement => Label::new(
            "绿色数据中心政府采购需求标准",
            "green data-centre procurement standard",
        ),
        TargetKind::RenewableMinShare => Label::new(
            "可再生能源最低使用率（政府采购需求标准）",
            "minimum renewable share (procurement standard)",
        ),
        TargetKind::WueTarget => Label::new("本数据中心 WUE 目标", "facility wue_target"),
        TargetKind::RefTarget => Label::new("本数据中心 REF 目标", "facility ref_target"),
    }
}

fn value_s(kpi: &str, v: Option<f64>, ceiling: f64) -> String {
    match kpi {
        "PUE" => pue_c(v, ceiling),
        "WUE" => wue_s(v),
        _ => pct_opt(v),
    }
}

fn limit_s(c: &TargetCheck) -> String {
    let v = match c.kpi.as_str() {
        "REF" => pct(c.limit),
        _ => c.limit.to_string(),
    };
    let unit = if c.kpi == "WUE" { " L/kWh" } else { "" };
    format!("{} {v}{unit}", c.bound.symbol())
}

/// Each KPI of the period against its targets (met, not met, or no data), with the coverage of
/// its inputs; then ERF and CUE, which have no target.
pub fn kpis(f: &FacilityReport) -> Table {
    let mut t = Table::new(vec![
        Column::left(Label::new("指标", "KPI")),
        Column::right(Label::new("本期值", "Value")),
        Column::right(Label::new("目标", "Target")),
        Column::left(Label::new("依据", "Source")),
        Column::left(Label::new("结果", "Result")),
        Column::right(COVERAGE),
    ]);
    let kpi_label = |k: &str| -> Cell {
        match k {
            "WUE" => Label::new("水利用效率", "WUE, L/kWh").into(),
            "REF" => Label::new("可再生能源因子", "REF").into(),
            _ => k.into(),
        }
    };
    let ic = &f.input_coverage;
    for c in &f.targets {
        let coverage = match c.kpi.as_str() {
            "WUE" => ic.water.map(|w| w.min(f.measured.coverage)),
            "REF" => ic
                .renewable
                .or(Some(1.0))
                .map(|r| r.min(f.measured.coverage)),
            _ => Some(f.measured.coverage),
        };
        let mut limit = limit_s(c);
        if let Some(year) = c.year {
            // The minimum of the year the period ends in.
            limit = format!("{limit} ({year})");
        }
        t.push(Row::new(vec![
            kpi_label(&c.kpi),
            Cell::from(value_s(&c.kpi, c.value, f.pue_ceiling)).strong(),
            limit.into(),
            target_label(c.target).into(),
            Cell::from(met_label(c.met)).class(match c.met {
                Some(true) => "compliant",
                Some(false) => "breach",
                None => "insufficient_data",
            }),
            coverage.map(pct).unwrap_or_else(|| "—".into()).into(),
        ]));
    }
    let none = || -> Cell { "—".into() };
    t.push(Row::new(vec![
        Label::new("能源再利用系数", "ERF").into(),
        Cell::from(pct_opt(f.eu_2024_1364.erf)).strong(),
        none(),
        none(),
        none(),
        ic.reused_heat
            .map(|h| pct(h.min(f.measured.coverage)))
            .unwrap_or_else(|| "—".into())
            .into(),
    ]));
    t.push(Row::new(vec![
        Label::new("碳利用效率", "CUE, kg CO2/kWh").into(),
        Cell::from(
            f.cue
                .map(|c| format!("{c:.3}"))
                .unwrap_or_else(|| "—".into()),
        )
        .strong(),
        none(),
        none(),
        none(),
        pct(f.measured.coverage).into(),
    ]));
    t
}

/// A facility's calendar months, then (print only) the whole period.
pub fn months(f: &FacilityReport) -> Table {
    let mut t = Table::new(vec![
        Column::left(Label::new("月份", "Month")),
        Column::right(PUE),
        Column::right(COVERAGE),
        Column::right(MISSING_H),
        Column::right(TOTAL_MWH),
        Column::right(IT_MWH),
        Column::right(RENEWABLE_MWH).show(Show::HtmlOnly),
    ]);
    let row = |label: Cell, pue: Option<f64>, coverage: f64, missing: i64, e: &Energies| {
        let mut pue_cell = Cell::from(pue_c(pue, f.pue_ceiling));
        if pue.is_some_and(|p| p > f.pue_ceiling) {
            pue_cell = pue_cell.class("breach");
        }
        vec![
            label,
            pue_cell,
            pct(coverage).into(),
            missing.to_string().into(),
            mwh(e.total).into(),
            mwh(e.it).into(),
            mwh(e.renewable).into(),
        ]
    };
    for m in &f.months {
        let MonthRow {
            month,
            pue,
            coverage,
            missing_hours,
            energy_kwh,
            ..
        } = m;
        t.push(Row::new(row(
            month.as_str().into(),
            *pue,
            *coverage,
            *missing_hours,
            energy_kwh,
        )));
    }
    let mut period = row(
        Label::new("报告期", "Period").into(),
        f.measured.pue,
        f.measured.coverage,
        f.measured.missing_hours,
        &f.measured.energy_kwh,
    );
    // Only months are marked over the ceiling: the period's verdict is stated above the table.
    period[1].class = None;
    t.push(Row::new(period).total(true).html_only());
    t
}

/// The alerts of a facility in the period.
pub fn alerts(f: &FacilityReport, lang: Lang) -> Table {
    let mut t = Table::new(vec![
        Column::left(Label::new("告警", "Alert")),
        Column::left(Label::new("级别", "Severity")).show(Show::HtmlOwnColumn),
        Column::left(Label::new("开始", "Started")),
        Column::left(Label::new("恢复", "Resolved")),
        Column::right(Label::new("持续", "Duration")),
        Column::right(Label::new("最差值", "Worst")),
    ]);
    for a in &f.alerts {
        t.push(Row::new(vec![
            Text::Word {
                main: a.name.clone(),
                sub: a.scope.clone(),
            }
            .into(),
            a.severity.as_str().into(),
            short_time(&a.started).into(),
            a.resolved
                .as_deref()
                .map(short_time)
                .unwrap_or_else(|| lb(lang, "仍在告警", "still firing"))
                .into(),
            duration_s(a.duration_s).into(),
            worst_s(a.worst).into(),
        ]));
    }
    t
}

/// The CSV header. One row per facility per calendar month (`row` = `month`, `month` =
/// `YYYY-MM`), then one for the whole period (`row` = `period`, `month` empty); times RFC 3339
/// in the configured timezone; energies kWh; `coverage` and `renewable_share` are fractions;
/// `grade` and `verdict` only on period rows; empty cells are nulls.
pub const CSV_HEADER: &str = "facility,name,tier,row,month,start,end,hours,missing_hours,coverage,energy_total_kwh,energy_it_kwh,energy_renewable_kwh,covered_total_kwh,covered_it_kwh,pue,pue_ceiling,verdict,grade,renewable_share,renewable_target,dcpue_version,config_fingerprint";

/// What a month row and a period row of the CSV have in common.
struct Span<'a> {
    kind: &'static str,
    month: &'a str,
    from: &'a str,
    to: &'a str,
    hours: i64,
    missing: i64,
    coverage: f64,
    e: Energies,
    c: Energies,
    pue: Option<f64>,
    verdict: Option<&'static str>,
    grade: Option<u8>,
    share: Option<f64>,
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map(|x| format!("{x:.prec$}")).unwrap_or_default()
}

/// The CSV: [`CSV_HEADER`]'s columns.
pub fn csv(r: &Report) -> Table {
    let columns = CSV_HEADER
        .split(',')
        .map(|name| Column::left(Label::same(name)))
        .collect();
    let mut t = Table::new(columns);
    for f in &r.facilities {
        let spans = f
            .months
            .iter()
            .map(|m| Span {
                kind: "month",
                month: &m.month,
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
            })
            .chain(std::iter::once(Span {
                kind: "period",
                month: "",
                from: &r.period.from,
                to: &r.period.to,
                hours: f.measured.hours,
                missing: f.measured.missing_hours,
                coverage: f.measured.coverage,
                e: f.measured.energy_kwh,
                c: f.measured.covered_energy_kwh,
                pue: f.measured.pue,
                verdict: Some(f.verdict.as_str()),
                grade: f.grade,
                share: f.renewable_share,
            }));
        for s in spans {
            let cells: [String; 23] = [
                f.id.clone(),
                f.name.clone(),
                f.tier.as_str().to_string(),
                s.kind.to_string(),
                s.month.to_string(),
                s.from.to_string(),
                s.to.to_string(),
                s.hours.to_string(),
                s.missing.to_string(),
                format!("{:.6}", s.coverage),
                format!("{:.3}", s.e.total),
                format!("{:.3}", s.e.it),
                format!("{:.3}", s.e.renewable),
                format!("{:.3}", s.c.total),
                format!("{:.3}", s.c.it),
                opt(s.pue, 6),
                f.pue_ceiling.to_string(),
                s.verdict.unwrap_or_default().to_string(),
                s.grade.map(|g| g.to_string()).unwrap_or_default(),
                opt(s.share, 6),
                f.renewable_target
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                r.dcpue_version.clone(),
                r.config_fingerprint.clone(),
            ];
            t.push(Row::new(cells.into_iter().map(Cell::from).collect()));
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compute::{Measured, Period};
    use crate::report::AlertRow;

    fn report() -> Report {
        let month = MonthRow {
            month: "2025-01".into(),
            from: "2025-01-01T00:00:00+08:00".into(),
            to: "2025-02-01T00:00:00+08:00".into(),
            hours: 744,
            missing_hours: 0,
            coverage: 1.0,
            energy_kwh: Energies::default(),
            covered_energy_kwh: Energies::default(),
            pue: Some(1.31),
            renewable_share: None,
        };
        let f = FacilityReport {
            id: "f1".into(),
            name: "F".into(),
            name_en: None,
            city: "C".into(),
            tier: crate::config::Tier::Core,
            class: "large".into(),
            commissioned: "2023-01-01".into(),
            pue_ceiling: 1.3,
            renewable_target: None,
            measured: Measured {
                data_until: None,
                energy_kwh: Energies::default(),
                covered_energy_kwh: Energies::default(),
                pue: Some(1.31),
                coverage: 1.0,
                hours: 744,
                missing_hours: 0,
                gaps: Vec::new(),
                gaps_not_listed: 0,
            },
            verdict: crate::engine::Status::Breach,
            grade: None,
            renewable_share: None,
            renewable_target_met: None,
            wue_target: Some(1.6),
            ref_target: None,
            eu_2024_1364: Default::default(),
            cue: None,
            certificate_kwh: 0.0,
            input_coverage: Default::default(),
            targets: crate::report::targets::checks(
                &crate::report::targets::Values {
                    pue: Some(1.31),
                    wue: Some(1.7),
                    ref_: None,
                },
                1.3,
                Some(1.6),
                None,
                2025,
            ),
            months: vec![month],
            alerts: vec![AlertRow {
                name: "PueAboveCeiling".into(),
                scope: "24h".into(),
                severity: "warning".into(),
                started: "2025-01-02T00:00:00+08:00".into(),
                resolved: None,
                duration_s: 60,
                worst: None,
            }],
            estimated_share: None,
        };
        Report {
            generated_at: None,
            dcpue_version: "0".into(),
            config_path: None,
            config_fingerprint: "crc32:0".into(),
            timezone: "Asia/Shanghai".into(),
            period: Period {
                from: String::new(),
                to: String::new(),
                from_ms: 0,
                to_ms: 0,
                hours: 744,
                full_compliance_period: false,
            },
            min_coverage: 0.9,
            compliance_window: "365d".into(),
            grade_bounds: [1.2, 1.3, 1.5],
            summary: crate::report::compute::summarise(std::slice::from_ref(&f)),
            facilities: vec![f],
        }
    }

    #[test]
    fn every_row_has_a_cell_per_column() {
        let r = report();
        let f = &r.facilities[0];
        for t in [
            csv(&r),
            facilities(&r),
            summary(&r, Lang::Zh),
            energy(f),
            months(f),
            alerts(f, Lang::En),
            kpis(f),
            eu(f),
        ] {
            assert!(!t.rows.is_empty());
            for row in &t.rows {
                assert_eq!(row.cells.len(), t.columns.len(), "{row:?}");
            }
        }
    }

    #[test]
    fn a_month_over_the_ceiling_is_marked_but_the_period_row_is_not() {
        let f = &report().facilities[0];
        let t = months(f);
        assert_eq!(t.rows[0].cells[1].class, Some("breach"));
        assert!(t.rows[1].total && t.rows[1].html_only);
        assert_eq!(t.rows[1].cells[1].class, None);
    }
}
