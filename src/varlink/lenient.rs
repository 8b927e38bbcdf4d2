//! Go-style leniency for input fields, wired into every generated struct by `build.rs`.
//!
//! The Go varlink server gave a missing field its zero value, and so does serde once
//! `#[serde(default)]` is on a field; this deserializer adds the rest: `null` is the zero
//! value too, and a string that holds a JSON scalar (`"true"`, `"15"`) is accepted where that
//! scalar is expected, because the contract's own examples send `"force": "true"`.

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error};
use serde_json::Value;

/// Deserializes a field leniently: `null` → `T::default()`, `"true"` → `true` where a bool is
/// wanted, `"5"` → `5` where a number is wanted; anything else as serde would.
pub fn field<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(T::default()),
        Value::String(text) => {
            if looks_like_scalar(&text)
                && let Ok(scalar) = serde_json::from_str::<Value>(&text)
                && let Ok(value) = serde_json::from_value(scalar)
            {
                return Ok(value);
            }
            serde_json::from_value(Value::String(text)).map_err(D::Error::custom)
        }
        other => serde_json::from_value(other).map_err(D::Error::custom),
    }
}

/// Whether `text` reads as a JSON bool or number, so it may stand for one.
fn looks_like_scalar(text: &str) -> bool {
    matches!(text, "true" | "false") || text.parse::<f64>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    struct Args {
        #[serde(default, deserialize_with = "field")]
        name: String,
        #[serde(default, deserialize_with = "field")]
        force: bool,
        #[serde(default, deserialize_with = "field")]
        timeout: i64,
        #[serde(default, deserialize_with = "field")]
        tags: Vec<String>,
        #[serde(default, deserialize_with = "field")]
        labels: std::collections::HashMap<String, String>,
    }

    fn parse(json: &str) -> Result<Args, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn missing_and_null_take_zero_values() {
        assert_eq!(parse("{}").unwrap(), Args::default());
        let nulls = r#"{"name":null,"force":null,"timeout":null,"tags":null,"labels":null}"#;
        assert_eq!(parse(nulls).unwrap(), Args::default());
    }

    #[test]
    fn unknown_fields_are_ignored() {
        assert_eq!(parse(r#"{"name":"x","bogus":[1]}"#).unwrap().name, "x");
    }

    #[test]
    fn scalars_in_strings() {
        let a = parse(r#"{"force":"true","timeout":"15","name":"15"}"#).unwrap();
        assert!(a.force);
        assert_eq!(a.timeout, 15);
        assert_eq!(a.name, "15");
        assert_eq!(parse(r#"{"name":"true"}"#).unwrap().name, "true");
    }

    #[test]
    fn wrong_types_are_still_errors() {
        assert!(parse(r#"{"force":"yes"}"#).is_err());
        assert!(parse(r#"{"timeout":[1]}"#).is_err());
        assert!(parse(r#"{"tags":"a"}"#).is_err());
    }
}
