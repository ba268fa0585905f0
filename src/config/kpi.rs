//! Config of the sustainability KPIs beyond PUE (CONTRACT §14): renewable meter kinds, green
//! certificates, targets and the grid emission factor.

use chrono::{NaiveDate, TimeZone};
use serde::{Deserialize, Serialize};

/// How a renewable meter's energy reaches the facility.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RenewableKind {
    /// Generated on site (PV on the roof, a wind turbine on the campus).
    #[default]
    Onsite,
    /// Bought under a power purchase agreement and metered at delivery.
    Ppa,
}

impl RenewableKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RenewableKind::Onsite => "onsite",
            RenewableKind::Ppa => "ppa",
        }
    }
}

/// One `[[facility.certificate]]`: green certificates (绿证 GEC, guarantees of origin) retired
/// for a month of the facility's consumption. Several entries for the same month add up (each
/// retirement is its own entry).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    /// `"YYYY-MM"`: the month of consumption the certificates cover.
    pub month: String,
    /// MWh retired (1 certificate = 1 MWh); finite, > 0.
    pub mwh: f64,
}

/// Why a `[[facility.certificate]]` or a KPI target is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KpiConfigError {
    #[error("certificate month {0:?} must be \"YYYY-MM\" (a month from 2000 to 2199)")]
    Month(String),
    #[error("certificate mwh must be a finite number > 0 and at most 1e9, got {0}")]
    Mwh(f64),
    #[error("wue_target must be a finite number of L/kWh > 0, got {0}")]
    WueTarget(f64),
    #[error("ref_target must be between 0 and 1, got {0}")]
    RefTarget(f64),
    #[error("policy.grid_emission_factor must be a finite number of kg CO2/kWh ≥ 0 and at most 10, got {0}")]
    GridFactor(f64),
}

/// The largest `mwh` of one certificate entry (a year of a 100 GW campus is below it).
pub const MAX_CERTIFICATE_MWH: f64 = 1e9;

/// `"YYYY-MM"` → (year, month).
pub fn parse_month(s: &str) -> Result<(i32, u32), KpiConfigError> {
    let bad = || KpiConfigError::Month(s.chars().take(32).collect());
    let b = s.as_bytes();
    if b.len() != 7 || b[4] != b'-' || !s.is_char_boundary(4) {
        return Err(bad());
    }
    let y: i32 = s[..4].parse().map_err(|_| bad())?;
    let m: u32 = s[5..].parse().map_err(|_| bad())?;
    if !(2000..=2199).contains(&y)
        || !(1..=12).contains(&m)
        || !s[..4].bytes().all(|c| c.is_ascii_digit())
        || !s[5..].bytes().all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    Ok((y, m))
}

impl CertificateConfig {
    pub fn check(&self) -> Result<(), KpiConfigError> {
        parse_month(&self.month)?;
        if !(self.mwh.is_finite() && self.mwh > 0.0 && self.mwh <= MAX_CERTIFICATE_MWH) {
            return Err(KpiConfigError::Mwh(self.mwh));
        }
        Ok(())
    }

    /// The month it covers as [start, end) epoch ms in `tz`, with its energy in kWh. None if the
    /// month does not parse (validation refuses that).
    pub fn span_in<Tz: TimeZone>(&self, tz: &Tz) -> Option<(i64, i64, f64)> {
        let (y, m) = parse_month(&self.month).ok()?;
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let start = month_start_ms(tz, y, m)?;
        let end = month_start_ms(tz, ny, nm)?;
        Some((start, end, self.mwh * 1000.0))
    }
}

/// Midnight at the start of a month in `tz` (the earliest instant when midnight is ambiguous,
/// the first valid one when a transition skips it).
fn month_start_ms<Tz: TimeZone>(tz: &Tz, y: i32, m: u32) -> Option<i64> {
    let day = NaiveDate::from_ymd_opt(y, m, 1)?;
    (0..4).find_map(|h| {
        let t = day.and_hms_opt(h, 0, 0)?;
        tz.from_local_datetime(&t)
            .earliest()
            .map(|d| d.timestamp_millis())
    })
}

/// `wue_target`: L/kWh, > 0.
pub fn check_wue_target(t: f64) -> Result<(), KpiConfigError> {
    if t.is_finite() && t > 0.0 {
        Ok(())
    } else {
        Err(KpiConfigError::WueTarget(t))
    }
}

/// `ref_target`: 0..=1.
pub fn check_ref_target(t: f64) -> Result<(), KpiConfigError> {
    if (0.0..=1.0).contains(&t) {
        Ok(())
    } else {
        Err(KpiConfigError::RefTarget(t))
    }
}

/// `policy.grid_emission_factor`: kg CO2 per kWh, 0..=10 (coal plants emit about 1).
pub fn check_grid_factor(f: f64) -> Result<(), KpiConfigError> {
    if f.is_finite() && (0.0..=10.0).contains(&f) {
        Ok(())
    } else {
        Err(KpiConfigError::GridFactor(f))
    }
}

/// One line on a facility's KPI inputs and targets, as `check-config` prints it: water,
/// reused-heat and renewable meters (with kind), certificates, the emission factor, the targets.
pub fn summary(f: &super::FacilityConfig, grid_emission_factor: Option<f64>) -> String {
    use super::Role;
    let ids = |r: Role| -> String {
        let v: Vec<String> = f
            .meters
            .iter()
            .filter(|m| m.has_role(r))
            .map(|m| match m.renewable_kind() {
                Some(k) => format!("{} ({})", m.id(), k.as_str()),
                None => m.id().to_string(),
            })
            .collect();
        if v.is_empty() {
            "-".into()
        } else {
            v.join(", ")
        }
    };
    let certs = if f.certificates.is_empty() {
        "-".to_string()
    } else {
        let total: f64 = f.certificates.iter().map(|c| c.mwh).sum();
        let first = f.certificates.iter().map(|c| c.month.as_str()).min();
        let last = f.certificates.iter().map(|c| c.month.as_str()).max();
        format!(
            "{} entries, {total} MWh ({}..{})",
            f.certificates.len(),
            first.unwrap_or(""),
            last.unwrap_or("")
        )
    };
    let mut targets = Vec::new();
    if let Some(t) = f.wue_target {
        targets.push(format!("WUE ≤ {t} L/kWh"));
    }
    if let Some(t) = f.ref_target {
        targets.push(format!("REF ≥ {:.0}%", t * 100.0));
    }
    format!(
        "KPI inputs: water: {}; reused_heat: {}; renewable: {}; certificates: {certs}; grid emission factor: {}; targets: {}",
        ids(Role::Water),
        ids(Role::ReusedHeat),
        ids(Role::Renewable),
        grid_emission_factor.map_or("- (no CUE)".to_string(), |g| format!("{g} kg CO2/kWh")),
        if targets.is_empty() {
            "-".to_string()
        } else {
            targets.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_strictly() {
        assert_eq!(parse_month("2026-05"), Ok((2026, 5)));
        for bad in [
            "2026-5",
            "2026-13",
            "2026-00",
            "26-05-01",
            "1999-12",
            "２０２６-05",
            "+202-05",
            "2026-+5",
        ] {
            assert!(parse_month(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_month_spans_its_local_midnights() {
        let tz = chrono_tz::Asia::Shanghai;
        let c = CertificateConfig {
            month: "2026-02".into(),
            mwh: 28.0,
        };
        let (s, e, kwh) = c.span_in(&tz).unwrap();
        // 2026-02-01T00:00+08:00 = 2026-01-31T16:00Z
        assert_eq!(s, 1_769_875_200_000);
        assert_eq!(e - s, 28 * 86_400_000);
        assert_eq!(kwh, 28_000.0);
        let dec = CertificateConfig {
            month: "2026-12".into(),
            mwh: 1.0,
        };
        let (s, e, _) = dec.span_in(&tz).unwrap();
        assert_eq!(e - s, 31 * 86_400_000);
    }

    fn parse(
        facility_extra: &str,
        meters: &str,
        extra: &str,
    ) -> Result<crate::config::Config, String> {
        let text = format!(
            "{extra}\n[[facility]]\nid = \"f\"\nname = \"F\"\ncity = \"Nanchang\"\ntier = \"core\"\nclass = \"large\"\ncommissioned = \"2023-06-01\"\n{facility_extra}\n  [[facility.meter]]\n  id = \"grid\"\n  role = \"total\"\n  [[facility.meter]]\n  id = \"it\"\n  role = \"it\"\n{meters}"
        );
        crate::config::Config::parse(&text, "t.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn kpi_keys_load_and_bad_ones_name_their_line() {
        let ok = parse(
            "wue_target = 1.4\nref_target = 0.3\n[[facility.certificate]]\nmonth = \"2026-05\"\nmwh = 1200\n[[facility.certificate]]\nmonth = \"2026-05\"\nmwh = 300\n",
            "  [[facility.meter]]\n  id = \"w\"\n  role = \"water\"\n  [[facility.meter]]\n  id = \"h\"\n  role = \"reused_heat\"\n  [[facility.meter]]\n  id = \"ppa\"\n  role = \"renewable\"\n  renewable_kind = \"ppa\"\n  [[facility.meter]]\n  id = \"pv\"\n  role = [\"total\", \"renewable\"]\n",
            "[policy]\ngrid_emission_factor = 0.5703\n",
        )
        .unwrap();
        let f = &ok.facilities[0];
        assert_eq!((f.wue_target, f.ref_target), (Some(1.4), Some(0.3)));
        assert_eq!(f.certificates.len(), 2);
        assert_eq!(ok.policy.grid_emission_factor, Some(0.5703));
        let kinds: Vec<_> = f.meters.iter().map(|m| m.renewable_kind()).collect();
        assert_eq!(
            kinds,
            [
                None,
                None,
                None,
                None,
                Some(RenewableKind::Ppa),
                Some(RenewableKind::Onsite)
            ]
        );
        let line = summary(f, ok.policy.grid_emission_factor);
        for part in [
            "water: w",
            "reused_heat: h",
            "ppa (ppa)",
            "pv (onsite)",
            "2 entries, 1500 MWh",
            "0.5703 kg CO2/kWh",
            "WUE ≤ 1.4 L/kWh",
            "REF ≥ 30%",
        ] {
            assert!(line.contains(part), "{part}: {line}");
        }

        let water_and_it = "  [[facility.meter]]\n  id = \"w\"\n  role = [\"water\", \"it\"]\n";
        let e = parse("", water_and_it, "").unwrap_err();
        assert!(
            e.starts_with("t.toml:18:") && e.contains("no other role"),
            "{e}"
        );
        let kind_on_it =
            "  [[facility.meter]]\n  id = \"x\"\n  role = \"it\"\n  renewable_kind = \"ppa\"\n";
        let e = parse("", kind_on_it, "").unwrap_err();
        assert!(
            e.starts_with("t.toml:19:") && e.contains("renewable_kind"),
            "{e}"
        );
        let water_power =
            "  [[facility.meter]]\n  id = \"w\"\n  role = \"water\"\n  max_power_kw = 10\n";
        let e = parse("", water_power, "").unwrap_err();
        assert!(
            e.starts_with("t.toml:19:") && e.contains("max_power_kw"),
            "{e}"
        );
        let e = parse(
            "[[facility.certificate]]\nmonth = \"2026-13\"\nmwh = 1\n",
            "",
            "",
        )
        .unwrap_err();
        assert!(e.starts_with("t.toml:9:") && e.contains("YYYY-MM"), "{e}");
        let e = parse(
            "[[facility.certificate]]\nmonth = \"2026-12\"\nmwh = 0\n",
            "",
            "",
        )
        .unwrap_err();
        assert!(e.starts_with("t.toml:9:") && e.contains("mwh"), "{e}");
        let e = parse("wue_target = 0\n", "", "").unwrap_err();
        assert!(
            e.starts_with("t.toml:9:") && e.contains("wue_target"),
            "{e}"
        );
        let e = parse("ref_target = 1.5\n", "", "").unwrap_err();
        assert!(
            e.starts_with("t.toml:9:") && e.contains("ref_target"),
            "{e}"
        );
        let e = parse("", "", "[policy]\ngrid_emission_factor = -1\n").unwrap_err();
        assert!(
            e.starts_with("t.toml:2:") && e.contains("grid_emission_factor"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        for mwh in [0.0, -1.0, f64::NAN, f64::INFINITY, 2e9] {
            let c = CertificateConfig {
                month: "2026-01".into(),
                mwh,
            };
            assert!(c.check().is_err(), "{mwh}");
        }
        assert!(check_wue_target(0.0).is_err());
        assert!(check_wue_target(1.8).is_ok());
        assert!(check_ref_target(1.1).is_err());
        assert!(check_ref_target(f64::NAN).is_err());
        assert!(check_ref_target(1.0).is_ok());
        assert!(check_grid_factor(-0.1).is_err());
        assert!(check_grid_factor(0.5703).is_ok());
    }
}
