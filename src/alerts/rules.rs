//! The built-in alert rules of CONTRACT §5 and their per-(name, window) overrides.

pub const BUILTIN_NAMES: [&str; 5] = [
    "PueAboveCeiling",
    "CoverageBelowMinimum",
    "PueImplausible",
    "MeterStale",
    "RenewableShareBelowTarget",
];
