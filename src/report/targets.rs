//! The targets the report holds each KPI against (CONTRACT §14), in one place: China's
//! published figures, beside the facility's own ceiling and configured targets. The numbers are
//! written here with their sources; a facility's own figures (`pue_ceiling`, `wue_target`,
//! `ref_target`) come from the config.

use serde::{Deserialize, Serialize};

/// PUE of new large and ultra-large data centres in the national hub nodes (国家枢纽节点):
/// below 1.25 by 2025. Source: 《贯彻落实碳达峰碳中和目标要求 推动数据中心和5G等新型基础设施
/// 绿色高质量发展实施方案》 (NDRC, CAC, MIIT, NEA, December 2021): new large and ultra-large data
/// centres below 1.3 on average, the national hub nodes below 1.25. Shown beside the facility's
/// own ceiling (for a new large one in Jiangxi 1.3, 赣发〔2022〕4号), which is the verdict.
pub const PUE_NATIONAL_HUB: f64 = 1.25;

/// WUE: a data centre's yearly water consumption over its IT equipment's yearly electricity at
/// most 2.5 L/kWh. Source: 《绿色数据中心政府采购需求标准（试行）》 (Ministry of Finance, Ministry
/// of Ecology and Environment, MIIT; April 2023).
pub const WUE_GREEN_PROCUREMENT: f64 = 2.5;

/// The minimum renewable-energy use rate of a data centre by year, own and purchased renewable
/// energy counted (so green certificates count: the report compares REF): 5 % from 2023, 30 %
/// from 2025, 50 % from 2027, 75 % from 2030, 100 % from 2032. Source: 《绿色数据中心政府采购
/// 需求标准（试行）》 (April 2023). None before 2023.
pub fn renewable_min_share(year: i32) -> Option<f64> {
    match year {
        ..=2022 => None,
        2023..=2024 => Some(0.05),
        2025..=2026 => Some(0.30),
        2027..=2029 => Some(0.50),
        2030..=2031 => Some(0.75),
        _ => Some(1.0),
    }
}

/// Which way a target points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Bound {
    /// The value must be at most the limit.
    #[serde(rename = "<=")]
    AtMost,
    /// The value must be at least the limit.
    #[serde(rename = ">=")]
    AtLeast,
}

impl Bound {
    pub fn symbol(self) -> &'static str {
        match self {
            Bound::AtMost => "≤",
            Bound::AtLeast => "≥",
        }
    }
}

/// What a target is, as the JSON names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// The facility's PUE ceiling (its verdict).
    PueCeiling,
    /// [`PUE_NATIONAL_HUB`].
    PueNationalHub,
    /// [`WUE_GREEN_PROCUREMENT`].
    WueGreenProcurement,
    /// [`renewable_min_share`] of the period's year.
    RenewableMinShare,
    /// The facility's `wue_target`.
    WueTarget,
    /// The facility's `ref_target`.
    RefTarget,
}

/// One KPI held against one target over the report's period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetCheck {
    /// `PUE`, `WUE` or `REF` (CONTRACT §14 names).
    pub kpi: String,
    pub target: TargetKind,
    pub bound: Bound,
    pub limit: f64,
    /// The period's value; null without enough data.
    pub value: Option<f64>,
    /// Whether the value meets the limit; null (no data) without a value.
    pub met: Option<bool>,
    /// The year whose minimum applies (`renewable_min_share` only: the year the period ends in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<i32>,
}

impl TargetCheck {
    pub fn new(
        kpi: &str,
        target: TargetKind,
        bound: Bound,
        limit: f64,
        value: Option<f64>,
    ) -> TargetCheck {
        TargetCheck {
            kpi: kpi.to_string(),
            target,
            bound,
            limit,
            value,
            met: value.map(|v| match bound {
                Bound::AtMost => v <= limit,
                Bound::AtLeast => v >= limit,
            }),
            year: None,
        }
    }
}

/// The facility's values over the period the targets judge.
pub struct Values {
    /// None also when the PUE's coverage is below min_coverage (no verdict).
    pub pue: Option<f64>,
    pub wue: Option<f64>,
    pub ref_: Option<f64>,
}

/// The checks of one facility: PUE against its ceiling and the national-hub figure, WUE against
/// the procurement standard and its own target, REF against the year's minimum share and its
/// own target (own targets only where configured). `year`: the year the period ends in.
pub fn checks(
    v: &Values,
    ceiling: f64,
    wue_target: Option<f64>,
    ref_target: Option<f64>,
    year: i32,
) -> Vec<TargetCheck> {
    use {Bound::*, TargetKind::*};
    let mut out = vec![
        TargetCheck::new("PUE", PueCeiling, AtMost, ceiling, v.pue),
        TargetCheck::new("PUE", PueNationalHub, AtMost, PUE_NATIONAL_HUB, v.pue),
        TargetCheck::new(
            "WUE",
            WueGreenProcurement,
            AtMost,
            WUE_GREEN_PROCUREMENT,
            v.wue,
        ),
    ];
    if let Some(t) = wue_target {
        out.push(TargetCheck::new("WUE", WueTarget, AtMost, t, v.wue));
    }
    if let Some(t) = renewable_min_share(year) {
        let mut c = TargetCheck::new("REF", RenewableMinShare, AtLeast, t, v.ref_);
        c.year = Some(year);
        out.push(c);
    }
    if let Some(t) = ref_target {
        out.push(TargetCheck::new("REF", RefTarget, AtLeast, t, v.ref_));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_renewable_minimum_rises_as_published() {
        let got: Vec<Option<f64>> = [2022, 2023, 2024, 2025, 2026, 2027, 2030, 2032, 2040]
            .into_iter()
            .map(renewable_min_share)
            .collect();
        assert_eq!(
            got,
            [
                None,
                Some(0.05),
                Some(0.05),
                Some(0.3),
                Some(0.3),
                Some(0.5),
                Some(0.75),
                Some(1.0),
                Some(1.0)
            ]
        );
    }

    #[test]
    fn a_check_without_a_value_is_null_not_failed_and_the_limit_itself_meets() {
        let v = Values {
            pue: Some(1.25),
            wue: None,
            ref_: Some(0.3),
        };
        let c = checks(&v, 1.3, Some(1.6), None, 2025);
        let by = |k: TargetKind| c.iter().find(|c| c.target == k).map(|c| c.met);
        assert_eq!(by(TargetKind::PueCeiling), Some(Some(true)));
        assert_eq!(by(TargetKind::PueNationalHub), Some(Some(true)));
        assert_eq!(by(TargetKind::WueGreenProcurement), Some(None));
        assert_eq!(by(TargetKind::WueTarget), Some(None));
        assert_eq!(by(TargetKind::RenewableMinShare), Some(Some(true)));
        assert_eq!(by(TargetKind::RefTarget), None, "no ref_target configured");
        let c = checks(
            &Values {
                pue: Some(1.2501),
                wue: Some(2.6),
                ref_: Some(0.29),
            },
            1.3,
            None,
            Some(0.5),
            2025,
        );
        let met: Vec<Option<bool>> = c.iter().map(|c| c.met).collect();
        assert_eq!(
            met,
            [
                Some(true),
                Some(false),
                Some(false),
                Some(false),
                Some(false)
            ]
        );
    }
}
