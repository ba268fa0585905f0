//! EMQX Neuron's MQTT upload (CONTRACT §12), either form:
//! - values: `{"timestamp":ms,"node":N,"group":G,"values":{tag:v},"errors":{tag:code}}`
//! - tags: `{"timestamp":ms,"node":N,"group":G,"tags":[{"name":tag,"value":v} | {"name":tag,"error":code}]}`
//!
//! The key of a value is `N/G/tag`.

use serde_json::Value;

use super::{field, ms, Found, GwValue, Item, ShapeError};

/// The values of one Neuron message; `Err` when it is not of either form.
pub fn find(doc: &Value) -> Result<Found<'_>, ShapeError> {
    let obj = doc
        .as_object()
        .ok_or_else(|| ShapeError::ty("the payload", "a JSON object", doc))?;
    let text = |name: &str| field(obj.get(name), name, "a string", Value::as_str);
    let ts = ms(obj.get("timestamp"), "timestamp")?;
    let (node, group) = (text("node")?, text("group")?);
    let key = |tag: &str| format!("{node}/{group}/{tag}");
    let mut found = Found::default();
    let item = |tag: &str, value: GwValue| Item {
        key: key(tag),
        ts,
        value,
        tags: None,
    };
    match (obj.get("values"), obj.get("tags")) {
        (None, None) => return Err(ShapeError::NoValues),
        (Some(_), Some(_)) => return Err(ShapeError::BothForms),
        (Some(values), None) => {
            let values = values
                .as_object()
                .ok_or_else(|| ShapeError::ty("\"values\"", "an object", values))?;
            for (tag, v) in values {
                found.items.push(item(tag, GwValue::of(v)));
            }
            match obj.get("errors") {
                None => {}
                Some(Value::Object(errors)) => {
                    for (tag, code) in errors {
                        found
                            .items
                            .push(item(tag, GwValue::Error(code.to_string())));
                    }
                }
                Some(other) => return Err(ShapeError::ty("\"errors\"", "an object", other)),
            }
        }
        (None, Some(tags)) => {
            let tags = tags
                .as_array()
                .ok_or_else(|| ShapeError::ty("\"tags\"", "an array", tags))?;
            for (i, t) in tags.iter().enumerate() {
                let name = field(t.get("name"), "name", "a string", Value::as_str);
                let Some(name) = found.or_malformed(name, || format!("{node}/{group} tags[{i}]"))
                else {
                    continue;
                };
                let value = match (t.get("value"), t.get("error")) {
                    (_, Some(code)) => Ok(GwValue::Error(code.to_string())),
                    (Some(v), None) => Ok(GwValue::of(v)),
                    (None, None) => Err(ShapeError::Missing("\"value\" or \"error\"".into())),
                };
                let Some(value) = found.or_malformed(value, || format!("tag {:?}", key(name)))
                else {
                    continue;
                };
                found.items.push(item(name, value));
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{reading, source};
    use super::super::{decode, Decoded};
    use crate::engine::Reason;

    const SOURCE: &str = "[[source]]\nname = \"nc-neuron\"\nformat = \"neuron\"\n\
        topic = \"/neuron/dcpue/+/+\"\nfacility = \"f1\"\n\
        [[source.map]]\nkey = \"dlt645-grid/meters/grid_w\"\nmeter = \"grid\"\nfield = \"power_kw\"\nscale = 0.001\n\
        [[source.map]]\nkey = \"dlt645-grid/meters/grid_kwh\"\nmeter = \"grid\"\nfield = \"energy_kwh\"\n\
        [[source.map]]\nkey = \"dlt645-grid/meters/ups_a_wh\"\nmeter = \"ups-a\"\nfield = \"energy_kwh\"\nscale = 0.001\n";

    fn check(d: Decoded) {
        assert_eq!(
            d.readings,
            vec![reading(
                "grid",
                1_764_460_800_123,
                Some(1234.5),
                Some(98765.4)
            )]
        );
        assert_eq!(d.unmapped, 1, "voltage is not mapped");
        assert_eq!(d.rejected.len(), 1);
        assert_eq!(d.rejected[0].0, Reason::GatewayError);
        assert!(
            d.rejected[0].1.contains("ups_a_wh") && d.rejected[0].1.contains("2014"),
            "{}",
            d.rejected[0].1
        );
    }

    #[test]
    fn values_form() {
        let s = source(SOURCE);
        let payload = br#"{"timestamp":1764460800123,"node":"dlt645-grid","group":"meters",
            "values":{"grid_w":1234500,"grid_kwh":98765.4,"voltage_a":229.8},
            "errors":{"ups_a_wh":2014}}"#;
        check(decode(&s, payload).unwrap());
    }

    #[test]
    fn tags_form() {
        let s = source(SOURCE);
        let payload = br#"{"timestamp":1764460800123,"node":"dlt645-grid","group":"meters",
            "tags":[{"name":"grid_w","value":1234500},{"name":"grid_kwh","value":98765.4},
                    {"name":"voltage_a","value":229.8},{"name":"ups_a_wh","error":2014}]}"#;
        check(decode(&s, payload).unwrap());
    }

    /// The README's worked example: its config block maps its sample payload.
    #[test]
    fn readme_worked_example() {
        let readme = include_str!("../../../README.md");
        let example = readme
            .split("```toml\n")
            .filter_map(|b| b.split("```").next())
            .filter(|b| b.starts_with("[[source]]\nname = \"nanchang-neuron\""))
            .last()
            .expect("README has the worked example's config");
        let payload = readme
            .split('`')
            .find(|p| p.starts_with(r#"{"timestamp":1795806000000,"node":"dlt645""#))
            .expect("README has the worked example's payload");
        let text = format!(
            "[[facility]]\nid = \"nanchang-1\"\nname = \"N\"\ncity = \"Nanchang\"\n\
             tier = \"core\"\nclass = \"large\"\ncommissioned = \"2023-06-01\"\n\
             [[facility.meter]]\nid = \"grid-in\"\nrole = \"total\"\n\
             [[facility.meter]]\nid = \"ups-a\"\nrole = \"it\"\n\
             [[facility.meter]]\nid = \"ups-b\"\nrole = \"it\"\n\n{example}"
        );
        let cfg = crate::config::Config::parse(&text, "README.md").unwrap();
        let s = super::super::Source::new(&cfg.sources[0]);
        let d = decode(&s, payload.as_bytes()).unwrap();
        let meters: Vec<&str> = d.readings.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(meters, ["grid-in", "ups-a"]);
        assert_eq!(d.readings[0].1.power_kw, Some(1302.5));
        assert_eq!(d.rejected.len(), 1);
        assert_eq!(d.rejected[0].0, Reason::GatewayError);
        assert_eq!(d.unmapped, 0);
    }

    #[test]
    fn shape_errors_name_the_field() {
        let s = source(SOURCE);
        for (payload, needle) in [
            (&br#"{"node":"n","group":"g","values":{}}"#[..], "timestamp"),
            (
                br#"{"timestamp":"x","node":"n","group":"g","values":{}}"#,
                "timestamp",
            ),
            (br#"{"timestamp":1,"group":"g","values":{}}"#, "node"),
            (br#"{"timestamp":1,"node":"n","group":"g"}"#, "values"),
            (
                br#"{"timestamp":1,"node":"n","group":"g","values":[]}"#,
                "values",
            ),
        ] {
            let (reason, msg) = decode(&s, payload).unwrap_err();
            assert_eq!(reason, Reason::Malformed);
            assert!(msg.contains(needle), "{msg}");
        }
        // a timestamp in seconds is malformed, as a reading of §3 is; so is one beyond year 9999
        for (ts, needle) in [("1764460800", "2000"), ("9223372036854775807", "range")] {
            let payload = format!(
                r#"{{"timestamp":{ts},"node":"dlt645-grid","group":"meters","values":{{"grid_w":1}}}}"#
            );
            let d = decode(&s, payload.as_bytes()).unwrap();
            assert_eq!(d.rejected[0].0, Reason::Malformed);
            assert!(d.rejected[0].1.contains(needle), "{}", d.rejected[0].1);
        }
    }
}
