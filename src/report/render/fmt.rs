//! Labels and number formats shared by the writers.

use crate::engine::Status;
use crate::report::{Lang, Report};

use super::table::Label;

/// A label in the chosen language: "中文 English" (zh) or "English" (en).
pub fn lb(lang: Lang, zh: &'static str, en: &'static str) -> String {
    Label::new(zh, en).text(lang)
}

/// HTML: the Chinese label with the English one below it, smaller.
pub fn hl(lang: Lang, zh: &'static str, en: &'static str) -> String {
    Label::new(zh, en).html(lang)
}

/// HTML: "中文 <span class=en>English</span>" on one line.
pub fn hl_inline(lang: Lang, zh: &str, en: &str) -> String {
    match lang {
        Lang::Zh => format!("{zh} <span class=\"en\" style=\"display:inline\">{en}</span>"),
        Lang::En => en.to_string(),
    }
}

pub fn pue_s(p: Option<f64>) -> String {
    p.map(|p| format!("{p:.3}")).unwrap_or_else(|| "—".into())
}

/// A PUE compared with `ceiling`: three decimals, four when three would hide which side of the
/// ceiling it is on (the verdict compares unrounded values).
pub fn pue_c(p: Option<f64>, ceiling: f64) -> String {
    match p {
        Some(p) if p != ceiling && ((p * 1000.0).round() / 1000.0 - ceiling).abs() < 1e-9 => {
            format!("{p:.4}")
        }
        _ => pue_s(p),
    }
}

pub fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

pub fn pct_opt(x: Option<f64>) -> String {
    x.map(pct).unwrap_or_else(|| "—".into())
}

/// kWh as MWh with thousands separators and one decimal.
pub fn mwh(kwh: f64) -> String {
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

/// A number with thousands separators and one decimal (water m³).
pub fn grouped(x: f64) -> String {
    mwh(x * 1000.0)
}

/// Whether a KPI meets its target: met, not met, or no data (null).
pub fn met_label(met: Option<bool>) -> Label {
    match met {
        Some(true) => Label::new("达标", "met"),
        Some(false) => Label::new("未达标", "not met"),
        None => Label::new("无数据", "no data"),
    }
}

pub fn verdict_label(s: Status) -> Label {
    match s {
        Status::Compliant => Label::new("达标", "compliant"),
        Status::Breach => Label::new("超限", "breach"),
        Status::InsufficientData => Label::new("数据不足", "insufficient data"),
    }
}

/// The tier's label (`province` for the summary's last row).
pub fn tier_label(t: &str) -> Option<Label> {
    Some(match t {
        "core" => Label::new("核心", "core"),
        "supplementary" => Label::new("副中心", "supplementary"),
        "backup" => Label::new("备份", "backup"),
        "province" => Label::new("全省", "province"),
        _ => return None,
    })
}

/// The tier's label as plain text (an unknown tier as it is).
pub fn tier_s(lang: Lang, t: &str) -> String {
    tier_label(t).map_or_else(|| t.to_string(), |l| l.text(lang))
}

pub fn grade_s(g: Option<u8>) -> String {
    g.map(|g| g.to_string()).unwrap_or_else(|| "—".into())
}

pub fn worst_s(w: Option<f64>) -> String {
    w.map(|w| format!("{w:.3}")).unwrap_or_else(|| "—".into())
}

pub fn duration_s(secs: i64) -> String {
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
pub fn short_time(t: &str) -> String {
    if t.len() >= 16 && t.as_bytes()[10] == b'T' {
        format!("{} {}", &t[..10], &t[11..16])
    } else {
        t.to_string()
    }
}

pub fn offset_of(t: &str) -> &str {
    if t.len() > 19 {
        &t[19..]
    } else {
        ""
    }
}

pub fn period_note(r: &Report, lang: Lang) -> Option<String> {
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

/// The report's title.
pub const TITLE: Label = Label::new(
    "数据中心能效（PUE）合规报告",
    "Data-centre PUE compliance report",
);

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
    }
}
