//! The `--seed-file` format: a JSON object of buckets, each an object of keys, each value a
//! string (UTF-8 text) or `{"base64": "..."}` (any bytes).
//!
//! ```json
//! {
//!   "users": { "alice": "{\"age\": 30}", "avatar": { "base64": "iVBORw0KGgo=" } },
//!   "": { "counter": "41" }
//! }
//! ```
//!
//! `config --json` prints seeds in the same shape, and `export` (and `inspect --json`) a whole
//! store; `import` reads it.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keyvalue_virt_compose::config::Seed;
use serde_json::{Map, Value};

/// What a value must look like, for messages.
const VALUE_SHAPE: &str =
    r#"a value must be a string (UTF-8 text) or {"base64": "..."} (any bytes)"#;

/// A seed file's content, or a whole store's: each bucket's keys and values, in name order.
/// A bucket with no keys is kept (`export` writes `"bucket": {}`).
pub type Buckets = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

/// Parses a seed file; the error says where the file is wrong and how to fix it (the caller
/// adds the file's name).
pub fn parse(bytes: &[u8]) -> Result<Vec<Seed>, String> {
    let seeds = parse_buckets(bytes)?
        .into_iter()
        .flat_map(|(bucket, keys)| {
            keys.into_iter().map(move |(key, value)| Seed {
                bucket: bucket.clone(),
                key,
                value,
            })
        })
        .collect();
    Ok(seeds)
}

/// Parses a seed file into its buckets, keeping those with no keys; errors as [`parse`].
pub fn parse_buckets(bytes: &[u8]) -> Result<Buckets, String> {
    let document: Value = serde_json::from_slice(bytes)
        .map_err(|error| format!("not valid JSON ({error}); {}", shape_hint()))?;
    let Value::Object(buckets) = document else {
        return Err(format!(
            "the file holds {}, not an object of buckets; {}",
            kind(&document),
            shape_hint()
        ));
    };
    let mut parsed = Buckets::new();
    for (bucket, keys) in buckets {
        let Value::Object(keys) = keys else {
            return Err(format!(
                r#"bucket {bucket:?} holds {}, not an object of keys; write {{{bucket:?}: {{"key": "value"}}}}"#,
                kind(&keys)
            ));
        };
        let mut values = BTreeMap::new();
        for (key, value) in keys {
            let value = value_bytes(&value)
                .map_err(|problem| format!("bucket {bucket:?}, key {key:?}: {problem}"))?;
            values.insert(key, value);
        }
        parsed.insert(bucket, values);
    }
    Ok(parsed)
}

/// Renders seeds in the seed-file shape.
pub fn render(seeds: &[Seed]) -> Value {
    let mut buckets = Buckets::new();
    for seed in seeds {
        buckets
            .entry(seed.bucket.clone())
            .or_default()
            .insert(seed.key.clone(), seed.value.clone());
    }
    render_buckets(&buckets)
}

/// Renders buckets in the seed-file shape, the inverse of [`parse_buckets`].
pub fn render_buckets(buckets: &Buckets) -> Value {
    let buckets = buckets
        .iter()
        .map(|(bucket, keys)| {
            let keys = keys
                .iter()
                .map(|(key, value)| (key.clone(), value_json(value)))
                .collect();
            (bucket.clone(), Value::Object(keys))
        })
        .collect();
    Value::Object(buckets)
}

/// A value as the seed file writes it: text if it is UTF-8, base64 otherwise.
pub fn value_json(value: &[u8]) -> Value {
    match std::str::from_utf8(value) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => {
            let mut object = Map::new();
            object.insert("base64".into(), Value::String(STANDARD.encode(value)));
            Value::Object(object)
        }
    }
}

fn value_bytes(value: &Value) -> Result<Vec<u8>, String> {
    match value {
        Value::String(text) => Ok(text.clone().into_bytes()),
        Value::Object(object) => {
            let Some(encoded) = object.get("base64") else {
                return Err(format!(
                    "{VALUE_SHAPE}, found an object without a \"base64\" field"
                ));
            };
            if let Some(extra) = object.keys().find(|name| *name != "base64") {
                return Err(format!(
                    r#"{VALUE_SHAPE}; drop the field {extra:?} next to "base64""#
                ));
            }
            let Value::String(encoded) = encoded else {
                return Err(format!(
                    r#""base64" must be a string of standard base64, found {}"#,
                    kind(encoded)
                ));
            };
            STANDARD.decode(encoded).map_err(|error| {
                format!(
                    r#"invalid base64 in "base64" ({error}); use the standard alphabet with `=` padding, like {{"base64": "AP8="}}"#
                )
            })
        }
        other => Err(format!("{VALUE_SHAPE}, found {}", kind(other))),
    }
}

fn shape_hint() -> &'static str {
    r#"write an object of buckets, each an object of keys, like {"bucket": {"key": "text", "blob": {"base64": "AP8="}}}"#
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(bucket: &str, key: &str, value: &[u8]) -> Seed {
        Seed {
            bucket: bucket.into(),
            key: key.into(),
            value: value.to_vec(),
        }
    }

    fn sorted(mut seeds: Vec<Seed>) -> Vec<Seed> {
        seeds.sort_by(|a, b| (&a.bucket, &a.key).cmp(&(&b.bucket, &b.key)));
        seeds
    }

    #[test]
    fn reads_text_and_base64_values() {
        let seeds = parse(
            br#"{"users": {"alice": "{\"age\": 30}", "avatar": {"base64": "AP8="}, "": ""},
                 "": {"counter": "41"}, "empty": {}}"#,
        )
        .unwrap();
        assert_eq!(
            sorted(seeds),
            [
                seed("", "counter", b"41"),
                seed("users", "", b""),
                seed("users", "alice", br#"{"age": 30}"#),
                seed("users", "avatar", &[0, 255]),
            ]
        );
    }

    #[test]
    fn render_is_the_inverse_of_parse() {
        let seeds = vec![
            seed("a", "text", "héllo".as_bytes()),
            seed("a", "bytes", &[0xff, 0, 1]),
            seed("", "", b""),
        ];
        let rendered = serde_json::to_vec(&render(&seeds)).unwrap();
        assert_eq!(sorted(parse(&rendered).unwrap()), sorted(seeds));
    }

    #[test]
    fn buckets_without_keys_are_kept() {
        let buckets = parse_buckets(br#"{"empty": {}, "a": {"k": {"base64": "AP8="}}}"#).unwrap();
        assert_eq!(buckets["empty"], BTreeMap::new());
        assert_eq!(buckets["a"]["k"], [0, 255]);
        let rendered = serde_json::to_vec(&render_buckets(&buckets)).unwrap();
        assert_eq!(parse_buckets(&rendered).unwrap(), buckets);
        assert_eq!(
            render_buckets(&buckets),
            serde_json::json!({"empty": {}, "a": {"k": {"base64": "AP8="}}})
        );
    }

    #[test]
    fn rejects_what_is_not_a_seed_file() {
        for (text, expected) in [
            (&b"{"[..], "not valid JSON (EOF while parsing"),
            (b"", "not valid JSON"),
            (b"\xff\xfe{}", "not valid JSON"),
            (b"{\"a\": {\"k\": \"\xff\"}}", "not valid JSON"),
            (b"[]", "the file holds an array, not an object of buckets"),
            (b"\"x\"", "the file holds a string"),
            (
                b"{\"a\": [\"k\"]}",
                r#"bucket "a" holds an array, not an object of keys; write {"a": {"key": "value"}}"#,
            ),
            (b"{\"a\": \"v\"}", r#"bucket "a" holds a string"#),
            (
                b"{\"a\": {\"k\": 1}}",
                r#"bucket "a", key "k": a value must be a string (UTF-8 text) or {"base64": "..."} (any bytes), found a number"#,
            ),
            (b"{\"a\": {\"k\": null}}", "found null"),
            (b"{\"a\": {\"k\": true}}", "found a boolean"),
            (b"{\"a\": {\"k\": [1, 2]}}", "found an array"),
            (
                b"{\"a\": {\"k\": {}}}",
                "found an object without a \"base64\" field",
            ),
            (
                b"{\"a\": {\"k\": {\"hex\": \"00\"}}}",
                "without a \"base64\" field",
            ),
            (
                b"{\"a\": {\"k\": {\"base64\": \"AA==\", \"x\": 1}}}",
                r#"drop the field "x" next to "base64""#,
            ),
            (
                b"{\"a\": {\"k\": {\"base64\": 5}}}",
                r#""base64" must be a string of standard base64, found a number"#,
            ),
            (
                b"{\"a\": {\"k\": {\"base64\": \"not base64!\"}}}",
                r#"bucket "a", key "k": invalid base64 in "base64""#,
            ),
            (b"{\"a\": {\"k\": {\"base64\": \"AP8\"}}}", "invalid base64"),
            (
                b"{\"a\": {\"k\": {\"base64\": \"_-8=\"}}}",
                "use the standard alphabet",
            ),
        ] {
            let error = parse(text).expect_err(&String::from_utf8_lossy(text));
            assert!(
                error.contains(expected),
                "{}: {error}",
                String::from_utf8_lossy(text)
            );
        }
    }
}
