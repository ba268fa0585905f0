//! The monthly PUE chart of the HTML report (inline SVG).

use std::fmt::Write as _;

use crate::report::compute::{FacilityReport, MonthRow};
use crate::report::Lang;

use super::escape::esc;
use super::fmt::{lb, pct, pue_c};

/// Inline SVG: monthly PUE bars against the ceiling line (and the period's PUE).
pub fn chart_svg(f: &FacilityReport, lang: Lang) -> String {
    let (w, h) = (680.0f64, 215.0f64);
    let (left, right, top, bottom) = (44.0, 12.0, 26.0, 34.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let vals: Vec<f64> = f.months.iter().filter_map(|m| m.pue).collect();
    let hi_v = vals
        .iter()
        .copied()
        .fold(f.pue_ceiling, f64::max)
        .max(f.measured.pue.unwrap_or(0.0));
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
    if let Some(p) = f.measured.pue {
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
