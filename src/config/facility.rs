//! `[[facility]]` and `[[facility.meter]]`: the data centres and their meters.

use std::collections::HashSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::checks::{check_span, check_text, truncated};
use super::error::Ctx;
use super::locate::Seg;
use super::{kpi, limits, CertificateConfig, ConfigError, RenewableKind};
use crate::duration::Span;
use crate::model::{Class, Role, Roles, Tier};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacilityConfig {
    pub id: Spanned<String>,
    pub name: String,
    #[serde(default)]
    pub name_en: Option<String>,
    pub city: String,
    pub tier: Tier,
    pub class: Class,
    pub commissioned: NaiveDate,
    pub pue_ceiling: Option<f64>,
    pub renewable_target: Option<f64>,
    /// WUE target, L/kWh (CONTRACT §14): `WueAboveTarget` fires above it.
    #[serde(default)]
    pub wue_target: Option<f64>,
    /// REF target, 0..=1 (CONTRACT §14): `RefBelowTarget` fires below it.
    #[serde(default)]
    pub ref_target: Option<f64>,
    /// Green certificates retired for the facility (CONTRACT §14).
    #[serde(default, rename = "certificate")]
    pub certificates: Vec<CertificateConfig>,
    /// Simulator knob: the PUE `dcpue simulate` aims this facility at (default: a realistic value
    /// below its ceiling).
    #[serde(default)]
    pub sim_target_pue: Option<f64>,
    /// Simulator knob: the facility's mean IT load in kW.
    #[serde(default)]
    pub sim_it_kw: Option<f64>,
    #[serde(default, rename = "meter")]
    pub meters: Vec<MeterConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterConfig {
    pub id: Spanned<String>,
    pub role: Spanned<Roles>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "d_weight")]
    pub weight: f64,
    pub max_gap: Option<Span>,
    pub max_power_kw: Option<f64>,
    pub register_max: Option<f64>,
    pub stale_after: Option<Span>,
    /// Renewable meters only: `onsite` (default) or `ppa`.
    #[serde(default)]
    pub renewable_kind: Option<RenewableKind>,
    /// `[[facility.meter.replacement]]` (CONTRACT §13), see [`super::replacement`].
    #[serde(default, rename = "replacement", skip_serializing_if = "Vec::is_empty")]
    pub replacements: Vec<super::replacement::ReplacementConfig>,
}
fn d_weight() -> f64 {
    1.0
}

impl FacilityConfig {
    pub fn id(&self) -> &str {
        self.id.get_ref()
    }
}

impl MeterConfig {
    pub fn id(&self) -> &str {
        self.id.get_ref()
    }
    pub fn roles(&self) -> Vec<Role> {
        self.role.get_ref().list()
    }
    pub fn has_role(&self, r: Role) -> bool {
        self.role.get_ref().has(r)
    }
    /// A renewable meter's kind (default `onsite`); None for other meters.
    pub fn renewable_kind(&self) -> Option<RenewableKind> {
        self.has_role(Role::Renewable)
            .then(|| self.renewable_kind.unwrap_or_default())
    }
}

/// A facility or meter id: `[a-z0-9_-]+`, at most [`limits::ID_LEN`] characters.
pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= limits::ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Every facility and its meters; the facility ids.
pub(super) fn validate(
    facilities: &[FacilityConfig],
    cx: &Ctx,
) -> Result<HashSet<String>, ConfigError> {
    use Seg::{Idx, Key};
    if facilities.is_empty() {
        return Err(cx.err(0..0, "no [[facility]] configured".into()));
    }
    if facilities.len() > limits::FACILITIES {
        return Err(cx.at(
            &[Key("facility"), Idx(limits::FACILITIES)],
            format!("more than {} [[facility]] entries", limits::FACILITIES),
        ));
    }
    let meters: usize = facilities.iter().map(|f| f.meters.len()).sum();
    if meters > limits::METERS {
        return Err(cx.err(
            0..0,
            format!(
                "{meters} meters in all; at most {} are supported",
                limits::METERS
            ),
        ));
    }
    let mut fids = HashSet::new();
    for (fi, f) in facilities.iter().enumerate() {
        let fid = checked_id("facility", &f.id, cx)?;
        if !fids.insert(fid.clone()) {
            return Err(cx.err(f.id.span(), format!("facility id {fid:?} is used twice")));
        }
        f.validate(fi, cx)?;
        let mut mids = HashSet::new();
        let (mut total, mut it) = (false, false);
        for (mi, m) in f.meters.iter().enumerate() {
            let mid = checked_id("meter", &m.id, cx)?;
            if !mids.insert(mid.clone()) {
                return Err(cx.err(
                    m.id.span(),
                    format!("meter id {mid:?} is used twice in facility {fid:?}"),
                ));
            }
            m.validate(fi, mi, cx)?;
            let roles = m.roles();
            total |= roles.contains(&Role::Total);
            it |= roles.contains(&Role::It);
        }
        if !total {
            return Err(cx.err(
                f.id.span(),
                format!("facility {fid:?} has no meter with role \"total\""),
            ));
        }
        if !it {
            return Err(cx.err(
                f.id.span(),
                format!("facility {fid:?} has no meter with role \"it\""),
            ));
        }
    }
    Ok(fids)
}

/// A facility or meter id (`what`), if it is one ([`valid_id`]).
fn checked_id<'a>(
    what: &str,
    id: &'a Spanned<String>,
    cx: &Ctx,
) -> Result<&'a String, ConfigError> {
    let text = id.get_ref();
    if valid_id(text) {
        return Ok(text);
    }
    Err(cx.err(
        id.span(),
        format!(
            "{what} id {:?} must match [a-z0-9_-]+, at most {} characters",
            truncated(text),
            limits::ID_LEN
        ),
    ))
}

impl FacilityConfig {
    /// The facility's own keys (`fi`: its index in the file); its id is checked with the others.
    fn validate(&self, fi: usize, cx: &Ctx) -> Result<(), ConfigError> {
        use Seg::{Idx, Key};
        let f = self;
        let fid = f.id.get_ref();
        let fkey = |key: &'static str| [Key("facility"), Idx(fi), Key(key)];
        for (key, text) in [
            ("name", Some(&f.name)),
            ("name_en", f.name_en.as_ref()),
            ("city", Some(&f.city)),
        ] {
            if let Some(t) = text {
                check_text(&format!("facility {fid:?}: {key}"), t, limits::TEXT_LEN)
                    .map_err(|m| cx.value(&fkey(key), m))?;
            }
        }
        if let Some(c) = f.pue_ceiling {
            if !(c.is_finite() && c >= 1.0) {
                return Err(cx.at(
                    &fkey("pue_ceiling"),
                    format!("facility {fid:?}: pue_ceiling must be ≥ 1.0"),
                ));
            }
        }
        if let Some(t) = f.renewable_target {
            if !(0.0..=1.0).contains(&t) {
                return Err(cx.at(
                    &fkey("renewable_target"),
                    format!("facility {fid:?}: renewable_target must be between 0 and 1"),
                ));
            }
        }
        if let Some(t) = f.wue_target {
            kpi::check_wue_target(t)
                .map_err(|e| cx.at(&fkey("wue_target"), format!("facility {fid:?}: {e}")))?;
        }
        if let Some(t) = f.ref_target {
            kpi::check_ref_target(t)
                .map_err(|e| cx.at(&fkey("ref_target"), format!("facility {fid:?}: {e}")))?;
        }
        if f.certificates.len() > limits::CERTIFICATES_PER_FACILITY {
            return Err(cx.at(
                &[
                    Key("facility"),
                    Idx(fi),
                    Key("certificate"),
                    Idx(limits::CERTIFICATES_PER_FACILITY),
                ],
                format!(
                    "facility {fid:?} has more than {} [[facility.certificate]] entries",
                    limits::CERTIFICATES_PER_FACILITY
                ),
            ));
        }
        for (ci, c) in f.certificates.iter().enumerate() {
            c.check().map_err(|e| {
                cx.at(
                    &[Key("facility"), Idx(fi), Key("certificate"), Idx(ci)],
                    format!("facility {fid:?}: {e}"),
                )
            })?;
        }
        if matches!(f.sim_target_pue, Some(p) if !(p.is_finite() && p >= 1.0)) {
            return Err(cx.at(
                &fkey("sim_target_pue"),
                format!("facility {fid:?}: sim_target_pue must be ≥ 1.0"),
            ));
        }
        if matches!(f.sim_it_kw, Some(p) if !(p.is_finite() && p > 0.0)) {
            return Err(cx.at(
                &fkey("sim_it_kw"),
                format!("facility {fid:?}: sim_it_kw must be positive"),
            ));
        }
        if f.meters.len() > limits::METERS_PER_FACILITY {
            return Err(cx.at(
                &[
                    Key("facility"),
                    Idx(fi),
                    Key("meter"),
                    Idx(limits::METERS_PER_FACILITY),
                ],
                format!(
                    "facility {fid:?} has more than {} meters",
                    limits::METERS_PER_FACILITY
                ),
            ));
        }
        Ok(())
    }
}

impl MeterConfig {
    /// The meter's own keys (`fi`, `mi`: the indexes of its facility and of it in the file); its
    /// id is checked with the others of the facility.
    fn validate(&self, fi: usize, mi: usize, cx: &Ctx) -> Result<(), ConfigError> {
        use Seg::{Idx, Key};
        let m = self;
        let mid = m.id.get_ref();
        let mkey = |key: &'static str| [Key("facility"), Idx(fi), Key("meter"), Idx(mi), Key(key)];
        if let Some(n) = &m.name {
            check_text(&format!("meter {mid:?}: name"), n, limits::TEXT_LEN)
                .map_err(|e| cx.value(&mkey("name"), e))?;
        }
        let roles = m.role.get_ref().list();
        if roles.is_empty() {
            return Err(cx.err(
                m.role.span(),
                format!("meter {mid:?} has an empty role list"),
            ));
        }
        if roles.contains(&Role::Total) && roles.contains(&Role::It) {
            return Err(cx.err(
                m.role.span(),
                format!("meter {mid:?} cannot be both total and it"),
            ));
        }
        let sole = |r: Role| roles.contains(&r) && roles.iter().any(|&o| o != r);
        if sole(Role::Water) || sole(Role::ReusedHeat) {
            return Err(cx.err(
                    m.role.span(),
                    format!(
                        "meter {mid:?}: a \"water\" or \"reused_heat\" meter has no other role (it does not meter the facility's electricity)"
                    ),
                ));
        }
        if m.renewable_kind.is_some() && !roles.contains(&Role::Renewable) {
            return Err(cx.at(
                &mkey("renewable_kind"),
                format!("meter {mid:?}: renewable_kind applies only to a \"renewable\" meter"),
            ));
        }
        if roles.contains(&Role::Water) && m.max_power_kw.is_some() {
            return Err(cx.at(
                &mkey("max_power_kw"),
                format!("meter {mid:?}: a water meter reads m³ and takes no max_power_kw"),
            ));
        }
        if !m.weight.is_finite() || m.weight == 0.0 {
            return Err(cx.at(
                &mkey("weight"),
                format!("meter {mid:?}: weight must be a non-zero number"),
            ));
        }
        for (key, span) in [("max_gap", m.max_gap), ("stale_after", m.stale_after)] {
            if let Some(span) = span {
                check_span(&format!("meter {mid:?}: {key}"), span, false)
                    .map_err(|e| cx.value(&mkey(key), e))?;
            }
        }
        if matches!(m.max_power_kw, Some(p) if !(p.is_finite() && p > 0.0)) {
            return Err(cx.at(
                &mkey("max_power_kw"),
                format!("meter {mid:?}: max_power_kw must be positive"),
            ));
        }
        if matches!(m.register_max, Some(p) if !(p.is_finite() && p > 0.0)) {
            return Err(cx.at(
                &mkey("register_max"),
                format!("meter {mid:?}: register_max must be positive"),
            ));
        }
        super::replacement::check(&m.replacements).map_err(|(ri, e)| {
            cx.at(
                &[
                    Key("facility"),
                    Idx(fi),
                    Key("meter"),
                    Idx(mi),
                    Key("replacement"),
                    Idx(ri),
                    Key(e.key()),
                ],
                format!("meter {mid:?}: {e}"),
            )
        })?;
        Ok(())
    }
}
