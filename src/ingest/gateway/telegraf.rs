//! Telegraf's JSON serializer (CONTRACT §12): one metric
//! `{"name":M,"tags":{…},"fields":{f:v},"timestamp":t}` or a batch `{"metrics":[…]}`. The key
//! of a value is `M/f`; a map entry's `tags` must all match the metric's. `timestamp` is in
//! seconds (Telegraf's default `json_timestamp_units`), or ms, µs or ns, told by its magnitude.

use serde_json::{Map, Value};

use super::{field, Found, GwValue, Item, ShapeError};

/// Epoch time in any of Telegraf's units → ms: below 1e11 seconds (year 5138), below 1e14
/// milliseconds, below 1e17 microseconds, else nanoseconds.
pub fn to_ms(t: i64) -> Option<i64> {
    match t {
        t if t < 0 => None,
        t if t < 100_000_000_000 => t.checked_mul(1000),
        t if t < 100_000_000_000_000 => Some(t),
        t if t < 100_000_000_000_000_000 => Some(t / 1000),
        t => Some(t / 1_000_000),
    }
}

/// The values of one message; `Err` when it is neither a metric nor a batch of them.
pub fn find(doc: &Value) -> Result<Found<'_>, ShapeError> {
    let obj = doc
        .as_object()
        .ok_or_else(|| ShapeError::ty("the payload", "a JSON object", doc))?;
    let mut found = Found::default();
    match obj.get("metrics") {
        Some(Value::Array(metrics)) => {
            for (i, m) in metrics.iter().enumerate() {
                if let Err(e) = metric(m, &mut found) {
                    found.malformed.push(e.at(format!("metrics[{i}]")));
                }
            }
        }
        Some(other) => return Err(ShapeError::ty("\"metrics\"", "an array", other)),
        None => metric(doc, &mut found)?,
    }
    Ok(found)
}

fn metric<'p>(m: &'p Value, found: &mut Found<'p>) -> Result<(), ShapeError> {
    let m = m
        .as_object()
        .ok_or_else(|| ShapeError::ty("a metric", "an object", m))?;
    let name = field(m.get("name"), "name", "a string", Value::as_str)?;
    let located = |e: ShapeError| e.at(format!("metric {name:?}"));
    let fields =
        field(m.get("fields"), "fields", "an object", Value::as_object).map_err(located)?;
    let tags: Option<&Map<String, Value>> = match m.get("tags") {
        None => None,
        Some(Value::Object(t)) => Some(t),
        Some(other) => return Err(located(ShapeError::ty("\"tags\"", "an object", other))),
    };
    let ts = match m.get("timestamp") {
        Some(Value::Number(n)) => n.as_i64().and_then(to_ms).ok_or_else(|| {
            located(ShapeError::Time {
                what: "\"timestamp\"".into(),
                value: n.to_string(),
            })
        })?,
        Some(other) => {
            return Err(located(ShapeError::ty(
                "\"timestamp\"",
                "an integer",
                other,
            )))
        }
        None => return Err(located(ShapeError::missing("timestamp"))),
    };
    for (f, v) in fields {
        found.items.push(Item {
            key: format!("{name}/{f}"),
            ts,
            value: GwValue::of(v),
            tags,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::decode;
    use super::super::tests::{reading, source};
    use super::to_ms;
    use crate::engine::Reason;

    const SOURCE: &str = "[[source]]\nname = \"tg\"\nformat = \"telegraf\"\ntopic = \"telegraf/#\"\n\
        facility = \"f1\"\n\
        [[source.map]]\nkey = \"modbus/active_power_w\"\nmeter = \"grid\"\nfield = \"power_kw\"\nscale = 0.001\n\
        tags = { slave_id = \"1\" }\n\
        [[source.map]]\nkey = \"modbus/active_power_w\"\nmeter = \"ups-a\"\nfield = \"power_kw\"\nscale = 0.001\n\
        tags = { slave_id = \"2\" }\n\
        [[source.map]]\nkey = \"modbus/energy_wh\"\nmeter = \"grid\"\nfield = \"energy_kwh\"\nscale = 0.001\n\
        tags = { slave_id = \"1\" }\n";

    #[test]
    fn units_by_magnitude() {
        assert_eq!(to_ms(1_764_460_800), Some(1_764_460_800_000));
        assert_eq!(to_ms(1_764_460_800_123), Some(1_764_460_800_123));
        assert_eq!(to_ms(1_764_460_800_123_456), Some(1_764_460_800_123));
        assert_eq!(to_ms(1_764_460_800_123_456_789), Some(1_764_460_800_123));
        assert_eq!(to_ms(-1), None);
    }

    #[test]
    fn single_and_batch_with_tags() {
        let s = source(SOURCE);
        let one = br#"{"fields":{"active_power_w":1500000,"energy_wh":2500000,"voltage":230.1},
            "name":"modbus","tags":{"host":"gw1","slave_id":"1"},"timestamp":1764460800}"#;
        let d = decode(&s, one).unwrap();
        assert_eq!(
            d.readings,
            vec![reading(
                "grid",
                1_764_460_800_000,
                Some(1500.0),
                Some(2500.0)
            )]
        );
        assert_eq!(d.unmapped, 1);
        let batch = br#"{"metrics":[
            {"fields":{"active_power_w":300000},"name":"modbus","tags":{"slave_id":"2"},"timestamp":1764460800000},
            {"fields":{"active_power_w":1},"name":"modbus","tags":{"slave_id":"9"},"timestamp":1764460800},
            {"fields":{"active_power_w":1},"name":"modbus","tags":{"slave_id":"2"}}]}"#;
        let d = decode(&s, batch).unwrap();
        assert_eq!(
            d.readings,
            vec![reading("ups-a", 1_764_460_800_000, Some(300.0), None)]
        );
        assert_eq!(d.unmapped, 1, "slave 9 matches no entry's tags");
        assert_eq!(d.rejected.len(), 1);
        assert_eq!(d.rejected[0].0, Reason::Malformed);
        assert!(d.rejected[0].1.contains("metrics[2]") && d.rejected[0].1.contains("timestamp"));
    }
}
