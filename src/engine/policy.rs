//! The compliance policy (赣发〔2022〕4号, GB 40879-2021), in one place for the engine's
//! snapshot and the report: a facility's PUE ceiling, the grade of a PUE, and the verdict on
//! a PUE measured over a span with some coverage.

use crate::config::{Config, FacilityConfig, PolicyConfig};

use super::Status;

/// The facility's PUE ceiling: its own, else by policy (new large and ultra-large data
/// centres: `new_large_ceiling`; every other: the grade-3 bound, the legal limit).
pub fn ceiling(policy: &PolicyConfig, f: &FacilityConfig) -> f64 {
    policy.ceiling(f)
}

/// GB 40879 grade of a PUE: 1, 2, 3, or None above the grade-3 bound.
pub fn grade(policy: &PolicyConfig, pue: f64) -> Option<u8> {
    policy.grade(pue)
}

/// The verdict on a PUE (unrounded) measured with `coverage`: insufficient data below
/// `min_coverage` or without a PUE; a breach above `ceiling`; else compliant.
pub fn verdict(pue: Option<f64>, coverage: f64, min_coverage: f64, ceiling: f64) -> Status {
    match pue {
        // `>=`, not `<`: a NaN coverage is no coverage.
        Some(p) if coverage >= min_coverage => {
            if p > ceiling {
                Status::Breach
            } else {
                Status::Compliant
            }
        }
        _ => Status::InsufficientData,
    }
}

/// A facility's ceiling, verdict and grade on one span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    pub ceiling: f64,
    pub verdict: Status,
    /// Only with a verdict: no grade on insufficient data.
    pub grade: Option<u8>,
}

/// [`ceiling`], [`verdict`] (against `engine.min_coverage`) and [`grade`] of facility `f`.
pub fn judge(cfg: &Config, f: &FacilityConfig, pue: Option<f64>, coverage: f64) -> Judgement {
    let ceiling = ceiling(&cfg.policy, f);
    let verdict = verdict(pue, coverage, cfg.engine.min_coverage, ceiling);
    let grade = match (verdict, pue) {
        (Status::InsufficientData, _) | (_, None) => None,
        (_, Some(p)) => grade(&cfg.policy, p),
    };
    Judgement {
        ceiling,
        verdict,
        grade,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::fixture::facility;

    #[test]
    fn the_verdict_compares_the_unrounded_pue_and_needs_coverage() {
        assert_eq!(verdict(Some(1.3), 1.0, 0.9, 1.3), Status::Compliant);
        assert_eq!(verdict(Some(1.3001), 1.0, 0.9, 1.3), Status::Breach);
        assert_eq!(verdict(Some(1.2), 0.9, 0.9, 1.3), Status::Compliant);
        assert_eq!(verdict(Some(1.2), 0.89, 0.9, 1.3), Status::InsufficientData);
        assert_eq!(
            verdict(Some(1.2), f64::NAN, 0.9, 1.3),
            Status::InsufficientData
        );
        assert_eq!(verdict(None, 1.0, 0.9, 1.3), Status::InsufficientData);
    }

    #[test]
    fn no_grade_without_a_verdict() {
        let text = facility("a").commissioned("2020-01-01").grid_and_it();
        let cfg = Config::parse(&text.to_string(), "test.toml").expect("config");
        let f = &cfg.facilities[0];
        // Commissioned before the policy date: held to the grade-3 bound.
        let j = judge(&cfg, f, Some(1.25), 1.0);
        assert_eq!(
            (j.ceiling, j.verdict, j.grade),
            (1.5, Status::Compliant, Some(2))
        );
        let j = judge(&cfg, f, Some(1.6), 1.0);
        assert_eq!((j.verdict, j.grade), (Status::Breach, None));
        let j = judge(&cfg, f, Some(1.1), 0.5);
        assert_eq!((j.verdict, j.grade), (Status::InsufficientData, None));
    }
}
