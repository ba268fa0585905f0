//! The ThingsBoard IoT Gateway's telemetry (CONTRACT §12):
//! `{"Device A":[{"ts":ms,"values":{key:v}}], "Device B":[…]}`. The key of a value is
//! `Device A/key`.

use serde_json::Value;

use super::{field, ms, Found, GwValue, Item, ShapeError};

/// The values of one telemetry message; `Err` when it is not an object of device arrays.
pub fn find(doc: &Value) -> Result<Found<'_>, ShapeError> {
    let obj = doc
        .as_object()
        .ok_or_else(|| ShapeError::ty("the payload", "a JSON object of devices", doc))?;
    let mut found = Found::default();
    for (device, entries) in obj {
        let entries = entries.as_array().ok_or_else(|| {
            ShapeError::ty("its telemetry", "an array of {\"ts\",\"values\"}", entries)
        });
        let Some(entries) = found.or_malformed(entries, || format!("device {device:?}")) else {
            continue;
        };
        for (i, e) in entries.iter().enumerate() {
            let entry = ms(e.get("ts"), "ts").and_then(|ts| {
                let values = field(e.get("values"), "values", "an object", Value::as_object)?;
                Ok((ts, values))
            });
            let Some((ts, values)) =
                found.or_malformed(entry, || format!("device {device:?} [{i}]"))
            else {
                continue;
            };
            for (k, v) in values {
                found.items.push(Item {
                    key: format!("{device}/{k}"),
                    ts,
                    value: GwValue::of(v),
                    tags: None,
                });
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::super::decode;
    use super::super::tests::{reading, source};
    use crate::engine::Reason;

    #[test]
    fn gateway_telemetry() {
        let s = source(
            "[[source]]\nname = \"tb\"\nformat = \"thingsboard\"\ntopic = \"v1/gateway/telemetry\"\n\
             facility = \"f1\"\n\
             [[source.map]]\nkey = \"Grid Meter/active_power\"\nmeter = \"grid\"\nfield = \"power_kw\"\nscale = 0.001\n\
             [[source.map]]\nkey = \"Grid Meter/energy\"\nmeter = \"grid\"\nfield = \"energy_kwh\"\nscale = 0.001\n\
             [[source.map]]\nkey = \"UPS A/energy\"\nmeter = \"ups-a\"\nfield = \"energy_kwh\"\n",
        );
        let payload = br#"{"Grid Meter":[{"ts":1764460800000,"values":{"active_power":1500000,"energy":2500000,"voltage":230}},
                                          {"ts":1764460860000,"values":{"active_power":1600000,"energy":2525000}}],
                           "UPS A":[{"ts":1764460800000,"values":{"energy":"n/a"}},{"values":{"energy":3}}]}"#;
        let d = decode(&s, payload).unwrap();
        let grid = |ts, p, e| reading("grid", ts, Some(p), Some(e));
        assert_eq!(
            d.readings,
            vec![
                grid(1_764_460_800_000, 1500.0, 2500.0),
                grid(1_764_460_860_000, 1600.0, 2525.0)
            ]
        );
        assert_eq!(d.unmapped, 1);
        let reasons: Vec<Reason> = d.rejected.iter().map(|r| r.0).collect();
        assert_eq!(reasons, vec![Reason::Malformed, Reason::Malformed]);
        assert!(
            d.rejected.iter().any(|r| r.1.contains("\"ts\"")),
            "{:?}",
            d.rejected
        );
        assert!(
            d.rejected.iter().any(|r| r.1.contains("UPS A/energy")),
            "{:?}",
            d.rejected
        );
    }
}
