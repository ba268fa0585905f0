//! The domain vocabulary: facility tiers and classes, meter roles, the built-in alert rules and
//! alert severities. Each enum is written once, with its names as they appear in the config, the
//! API, metrics labels and alerts (`as_str`, serde and [`FromStr`] all read the same list).
//!
//! A leaf module: it imports nothing from the crate, so config, engine, alerts and report can all
//! use it without depending on one another.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A name that is not one of an enum's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {name:?}")]
pub struct UnknownName {
    pub what: &'static str,
    pub name: String,
}

/// An enum whose variants are named once: `$name` is the variant's name everywhere.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $ty:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $name:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $ty {
            $( $(#[$vmeta])* #[serde(rename = $name)] $variant, )+
        }

        impl $ty {
            /// Every variant, in declaration order.
            pub const ALL: [$ty; [$($name),+].len()] = [$($ty::$variant),+];
            /// The names of [`Self::ALL`], in the same order.
            pub const NAMES: [&'static str; [$($name),+].len()] = [$($name),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $ty::$variant => $name, )+
                }
            }

            /// The variant named `name` (exactly, case-sensitive).
            pub fn from_name(name: &str) -> Option<$ty> {
                $ty::ALL.into_iter().find(|v| v.as_str() == name)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<$ty, UnknownName> {
                $ty::from_name(s).ok_or_else(|| UnknownName {
                    what: $what,
                    name: s.to_string(),
                })
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

vocabulary! {
    /// A facility's tier in the provincial plan.
    pub enum Tier ("tier") {
        Core = "core",
        Supplementary = "supplementary",
        Backup = "backup",
    }
}

vocabulary! {
    /// A facility's size class.
    pub enum Class ("class") {
        UltraLarge = "ultra-large",
        Large = "large",
        Medium = "medium",
        Small = "small",
    }
}

vocabulary! {
    /// What a meter measures.
    pub enum Role ("role") {
        Total = "total",
        It = "it",
        Renewable = "renewable",
        /// A cumulative water register (`volume_m3`), for WUE (CONTRACT §14).
        Water = "water",
        /// Heat energy delivered for reuse outside the data centre, for ERF (CONTRACT §14).
        ReusedHeat = "reused_heat",
    }
}

/// `role = "it"` or `role = ["total", "renewable"]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Roles {
    One(Role),
    Many(Vec<Role>),
}
impl Roles {
    pub fn list(&self) -> Vec<Role> {
        match self {
            Roles::One(r) => vec![*r],
            Roles::Many(v) => v.clone(),
        }
    }
    pub fn has(&self, r: Role) -> bool {
        self.list().contains(&r)
    }
}

vocabulary! {
    /// A built-in alert rule (CONTRACT §5, §14): what it tests. Its name is the `alertname`.
    pub enum RuleKind ("alert") {
        /// PUE(window) > ceiling with coverage ≥ min_coverage.
        PueAboveCeiling = "PueAboveCeiling",
        /// coverage(window) < min_coverage.
        CoverageBelowMinimum = "CoverageBelowMinimum",
        /// PUE(window) < 1.0 with coverage ≥ min_coverage.
        PueImplausible = "PueImplausible",
        /// No reading for `stale_after` of wall-clock time.
        MeterStale = "MeterStale",
        /// renewable share(window) < the facility's target.
        RenewableShareBelowTarget = "RenewableShareBelowTarget",
        /// WUE(window) > the facility's `wue_target` with coverage ≥ min_coverage (CONTRACT §14).
        WueAboveTarget = "WueAboveTarget",
        /// REF(window) < the facility's `ref_target` (CONTRACT §14).
        RefBelowTarget = "RefBelowTarget",
    }
}

impl RuleKind {
    pub fn name(self) -> &'static str {
        self.as_str()
    }
}

vocabulary! {
    /// An alert's `severity` label (CONTRACT §5).
    pub enum Severity ("severity") {
        Critical = "critical",
        Warning = "warning",
        Info = "info",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_from_str() {
        #[derive(Deserialize, Serialize)]
        struct W {
            tier: Tier,
            class: Class,
            role: Roles,
            alert: RuleKind,
            severity: Severity,
        }
        let w: W = toml::from_str(
            "tier = \"supplementary\"\nclass = \"ultra-large\"\nrole = [\"total\", \"reused_heat\"]\n\
             alert = \"WueAboveTarget\"\nseverity = \"info\"\n",
        )
        .unwrap();
        assert_eq!(w.tier, Tier::Supplementary);
        assert_eq!(w.class, Class::UltraLarge);
        assert_eq!(w.role.list(), vec![Role::Total, Role::ReusedHeat]);
        assert_eq!(w.alert, RuleKind::WueAboveTarget);
        assert_eq!(w.severity, Severity::Info);
        let back = toml::to_string(&w).unwrap();
        assert!(back.contains("class = \"ultra-large\""), "{back}");
        assert!(back.contains("alert = \"WueAboveTarget\""), "{back}");
        for k in RuleKind::ALL {
            assert_eq!(k.as_str().parse::<RuleKind>(), Ok(k));
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
        }
        assert_eq!(RuleKind::NAMES.len(), 7);
        assert_eq!(
            "Critical".parse::<Severity>().unwrap_err().to_string(),
            "unknown severity \"Critical\""
        );
        assert!(toml::from_str::<W>("tier = \"Core\"").is_err());
    }
}
