//! Reading the call log: one call as text, and the checks behind the drivers' assertions, whose
//! messages say what the app did instead.

use keyvalue_virt_compose::config;
use wasmtime::bail;

use crate::{Call, CallLog, ErrorText, Op, Outcome, Result};

/// The name of `op`, as `--fail` and the trace write it.
pub fn op_name(op: Op) -> &'static str {
    core_op(op).name()
}

/// The core's operation for the control interface's `op`: the WIT enum lists the operations in
/// the core's wire order, [`config::Op::ALL`] (checked by a test below).
fn core_op(op: Op) -> config::Op {
    config::Op::ALL[op as usize]
}

/// A bucket in a message: `` `""` ``, `` `"users"` ``.
fn bucket_text(bucket: &str) -> String {
    format!("`{bucket:?}`")
}

/// A key in a message: `` `alice` ``, escaped (`` `"a\nb"` ``) when it holds a backtick, a
/// quote or a character that does not print.
fn key_text(key: &str) -> String {
    if key.is_empty() || key.chars().any(|c| c.is_control() || c == '`' || c == '"') {
        format!("`{key:?}`")
    } else {
        format!("`{key}`")
    }
}

/// A value in a message: UTF-8 text quoted, other bytes as a list; either cut after 64 bytes.
fn value_text(value: Option<&[u8]>) -> String {
    const SHOWN: usize = 64;
    let Some(value) = value else {
        return "no value".to_owned();
    };
    let (head, cut) = match value.get(..SHOWN) {
        Some(head) if value.len() > SHOWN => (head, format!("... ({} bytes)", value.len())),
        _ => (value, String::new()),
    };
    match std::str::from_utf8(head) {
        Ok(text) => format!("{text:?}{cut}"),
        Err(_) => format!("{head:?}{cut}"),
    }
}

/// One call as a line of an assertion message: ``get `alice` -> none``.
pub fn describe_call(call: &Call) -> String {
    let mut line = op_name(call.op).to_owned();
    if call.keys.is_empty() {
        line.push(' ');
        line.push_str(&bucket_text(&call.bucket));
    } else {
        if !call.bucket.is_empty() {
            line.push_str(" in ");
            line.push_str(&bucket_text(&call.bucket));
        }
        let keys: Vec<String> = call.keys.iter().map(|key| key_text(key)).collect();
        line.push(' ');
        line.push_str(&keys.join(" "));
    }
    if !call.sizes.is_empty() {
        let sizes: Vec<String> = call.sizes.iter().map(u64::to_string).collect();
        let unit = if call.sizes == [1] { "byte" } else { "bytes" };
        line.push_str(&format!(" ({} {unit})", sizes.join(", ")));
    }
    let outcome = match &call.outcome {
        Outcome::Ok => return line,
        Outcome::Value(size) => bytes(*size),
        Outcome::None => "none".to_owned(),
        Outcome::Flag(flag) => flag.to_string(),
        Outcome::Number(n) => n.to_string(),
        Outcome::BigNumber(n) => n.to_string(),
        Outcome::Page((keys, more)) => {
            let noun = if *keys == 1 { "key" } else { "keys" };
            format!("{keys} {noun}{}", if *more { ", more" } else { "" })
        }
        Outcome::Values(sizes) => {
            let sizes: Vec<String> = sizes
                .iter()
                .map(|size| size.map_or("none".to_owned(), bytes))
                .collect();
            format!("[{}]", sizes.join(", "))
        }
        Outcome::Failed(error) => format!("error {}", ErrorText(error)),
    };
    format!("{line} -> {outcome}")
}

/// A size as the call lines show it: `1 byte`, `5 bytes`.
fn bytes(size: u64) -> String {
    if size == 1 {
        "1 byte".to_owned()
    } else {
        format!("{size} bytes")
    }
}

/// Every call of `log`, for the end of an assertion message.
pub(crate) fn describe_log(log: &CallLog) -> String {
    if log.calls.is_empty() {
        return if log.dropped > 0 {
            format!("no calls logged ({} older calls dropped)", log.dropped)
        } else {
            "no calls logged".to_owned()
        };
    }
    let calls: Vec<String> = log.calls.iter().map(describe_call).collect();
    let dropped = if log.dropped > 0 {
        format!(" ({} older calls dropped)", log.dropped)
    } else {
        String::new()
    };
    format!("calls{dropped}: {}", calls.join(", "))
}

/// Checks that `log` holds exactly `times` calls of `op` that name `key` in `bucket`.
pub(crate) fn expect_called(
    log: &CallLog,
    op: Op,
    bucket: &str,
    key: &str,
    times: usize,
) -> Result<()> {
    let saw = log
        .calls
        .iter()
        .filter(|call| call.op == op && call.bucket == bucket && call.keys.iter().any(|k| k == key))
        .count();
    if saw != times {
        bail!(
            "expected {times} `{}` of {} in bucket {}, saw {saw}; {}",
            op_name(op),
            key_text(key),
            bucket_text(bucket),
            describe_log(log)
        );
    }
    Ok(())
}

/// Checks that `log` holds exactly `times` calls of `op`.
pub(crate) fn expect_count(log: &CallLog, op: Op, times: usize) -> Result<()> {
    let saw = log.calls.iter().filter(|call| call.op == op).count();
    if saw != times {
        bail!(
            "expected {times} `{}`, saw {saw}; {}",
            op_name(op),
            describe_log(log)
        );
    }
    Ok(())
}

/// Checks that `key` in `bucket`, which holds `found`, holds `expected`.
pub(crate) fn expect_value(
    log: &CallLog,
    bucket: &str,
    key: &str,
    found: Option<&[u8]>,
    expected: Option<&[u8]>,
) -> Result<()> {
    if found != expected {
        bail!(
            "expected {} in bucket {} to hold {}, it holds {}; {}",
            key_text(key),
            bucket_text(bucket),
            value_text(expected),
            value_text(found),
            describe_log(log)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    fn call(op: Op, bucket: &str, keys: &[&str], outcome: Outcome) -> Call {
        Call {
            op,
            bucket: bucket.into(),
            keys: keys.iter().map(|key| key.to_string()).collect(),
            sizes: Vec::new(),
            outcome,
        }
    }

    #[test]
    fn messages_name_the_expectation_and_list_every_call() {
        let log = CallLog {
            calls: vec![
                call(Op::Open, "", &[], Outcome::Ok),
                call(Op::Get, "", &["alice"], Outcome::None),
                Call {
                    sizes: vec![2, 0],
                    ..call(Op::SetMany, "users", &["a\"b", "c\nd"], Outcome::Ok)
                },
                call(
                    Op::Increment,
                    "",
                    &["n"],
                    Outcome::Failed(Error::Other("disk on fire".into())),
                ),
            ],
            dropped: 0,
        };
        let message = expect_called(&log, Op::Set, "", "alice", 1)
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "expected 1 `set` of `alice` in bucket `\"\"`, saw 0; calls: open `\"\"`, get \
             `alice` -> none, set-many in `\"users\"` `\"a\\\"b\"` `\"c\\nd\"` (2, 0 bytes), \
             increment `n` -> error other: disk on fire"
        );
        let message = expect_value(&log, "", "alice", None, Some(b"42"))
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with(
                "expected `alice` in bucket `\"\"` to hold \"42\", it holds no value; calls: \
                 open `\"\"`, get `alice` -> none,"
            ),
            "{message}"
        );
        assert!(expect_count(&log, Op::Get, 1).is_ok());
        assert!(expect_value(&log, "", "alice", Some(b"1"), Some(b"1")).is_ok());
        let empty = CallLog {
            calls: Vec::new(),
            dropped: 3,
        };
        assert_eq!(
            expect_count(&empty, Op::Get, 1).unwrap_err().to_string(),
            "expected 1 `get`, saw 0; no calls logged (3 older calls dropped)"
        );
    }

    /// The cases of the WIT enum `op`, read from the control build, are the core's operations
    /// in order, which [`core_op`] relies on.
    #[test]
    fn the_wit_ops_are_the_cores_in_order() {
        use wasmtime::component::types::ComponentItem;
        use wasmtime::component::{Component, Type};
        let engine = crate::engine().unwrap();
        let component = Component::new(engine, keyvalue_virt_compose::VIRT_CONTROL).unwrap();
        let control = component
            .component_type()
            .exports(engine)
            .find_map(|(name, item)| match item.ty {
                ComponentItem::ComponentInstance(control)
                    if name == keyvalue_virt_compose::CONTROL_INTERFACE =>
                {
                    Some(control)
                }
                _ => None,
            })
            .expect("the control build exports no control interface");
        let names: Vec<String> = control
            .exports(engine)
            .find_map(|(name, item)| match item.ty {
                ComponentItem::Type(Type::Enum(op)) if name == "op" => {
                    Some(op.names().map(str::to_owned).collect())
                }
                _ => None,
            })
            .expect("the control interface exports no enum `op`");
        let core: Vec<&str> = config::Op::ALL.iter().map(|op| op.name()).collect();
        assert_eq!(names, core);
        assert_eq!(op_name(Op::DeleteMany), "delete-many");
    }

    #[test]
    fn values_show_as_text_or_bytes_and_long_ones_are_cut() {
        assert_eq!(value_text(Some(b"42")), "\"42\"");
        assert_eq!(value_text(Some(&[0xff, 0])), "[255, 0]");
        assert_eq!(
            value_text(Some(&[b'a'; 70])),
            format!("{:?}... (70 bytes)", "a".repeat(64))
        );
    }
}
