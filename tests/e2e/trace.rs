//! The trace (`--trace`): one line per operation on stderr.

use keyvalue_virt_core::config::{Config, Op, Trace};

use crate::probe::*;

/// The operations of the trace tests, under a configuration that makes some of them fail.
fn trace_config(trace: Trace) -> Config {
    Config {
        trace,
        deny: vec!["secret".into()],
        max_value_size: Some(4),
        faults: vec![fault(Op::Get, Some(3), other("injected"))],
        ..Config::default()
    }
}

const TRACE_OPS: &[(&str, &str)] = &[
    ("open:b", "ok"),
    ("set:b:k=v1", "ok"),
    ("get:b:k", "ok \"v1\""),
    ("get:b:missing", "ok none"),
    ("get:b:k", "error other: injected"),
    ("exists:b:k", "ok true"),
    ("list:b", "ok [\"k\"]"),
    ("inc:b:n:5", "ok 5"),
    ("draft-inc:b:n:1", "ok 6"),
    ("get-many:b:k,nope", "ok [(\"k\", \"v1\"), none]"),
    ("set-many:b:x=1,y=2", "ok"),
    ("delete-many:b:x,y", "ok"),
    ("delete:b:k", "ok"),
    ("cas:b:c=1", "new ok, current ok none, swap ok"),
    (
        "set:b:big=12345",
        "error other: the value for key \"big\" is 5 bytes, over the limit of 4 bytes (--max-value-size); store a smaller value",
    ),
    ("open:secret", "error access-denied"),
];

/// With `--trace`, the virt writes one line per operation to stderr, with its result.
#[test]
fn trace_writes_one_line_per_operation() {
    let probed = check(Some(&trace_config(Trace::Text)), TRACE_OPS);
    let expected = [
        r#"open bucket="b" -> ok"#,
        r#"set bucket="b" key="k" -> ok"#,
        r#"get bucket="b" key="k" -> ok (2 bytes)"#,
        r#"get bucket="b" key="missing" -> ok none"#,
        r#"get bucket="b" key="k" -> error other: injected"#,
        r#"exists bucket="b" key="k" -> ok true"#,
        r#"list-keys bucket="b" -> ok (1 key)"#,
        r#"increment bucket="b" key="n" -> ok 5"#,
        r#"open bucket="b" -> ok"#,
        r#"increment bucket="b" key="n" -> ok 6"#,
        r#"get-many bucket="b" keys=2 -> ok (1 of 2 found)"#,
        r#"set-many bucket="b" keys=2 -> ok"#,
        r#"delete-many bucket="b" keys=2 -> ok"#,
        r#"delete bucket="b" key="k" -> ok"#,
        r#"cas-new bucket="b" key="c" -> ok"#,
        r#"cas-current bucket="b" key="c" -> ok none"#,
        r#"swap bucket="b" key="c" -> ok true"#,
        r#"set bucket="b" key="big" -> error other: the value for key "big" is 5 bytes, over the limit of 4 bytes (--max-value-size); store a smaller value"#,
        r#"open bucket="secret" -> error access-denied: bucket "secret" is denied (--deny-bucket)"#,
    ]
    .map(|line| format!("{TRACE}{line}"));
    let got: Vec<&str> = probed.stderr.lines().collect();
    assert!(
        got == expected,
        "unexpected trace\n--- expected ---\n{}\n--- got ---\n{}",
        expected.join("\n"),
        probed.stderr
    );
}

/// Without `--trace` the same operations write nothing to stderr.
#[test]
fn trace_off_writes_nothing() {
    let probed = check(Some(&trace_config(Trace::Off)), TRACE_OPS);
    assert_eq!(probed.stderr, "", "stderr without --trace");
}

/// With `--trace=json`, one JSON object per operation, each line starting
/// `{"keyvalue-virt":1,`: every key of a batch and the size of every value written, the
/// result as the control interface's `outcome` names it, and keys and messages escaped (a
/// quote, a backslash, control characters; other characters as they are).
#[test]
fn json_trace_writes_every_key_and_size() {
    let config = Config {
        trace: Trace::Json,
        deny: vec!["secret".into()],
        faults: vec![fault(Op::Get, Some(2), other("no \"x\" here"))],
        ..Config::default()
    };
    let probed = check(
        Some(&config),
        &[
            ("set-many:b:x=1,y=22", "ok"),
            ("get-many:b:x,nope", "ok [(\"x\", \"1\"), none]"),
            ("set:b:q\"b\\s=v", "ok"),
            ("set:b:t\tc\u{1}\u{1f}=v", "ok"),
            ("set:b:clé日本😀=vvv", "ok"),
            ("exists:b:x", "ok true"),
            ("inc:b:n:5", "ok 5"),
            ("get:b:x", "ok \"1\""),
            ("get:b:x", "error other: no \"x\" here"),
            ("delete-many:b:x,y", "ok"),
            ("open:secret", "error access-denied"),
        ],
    );
    let expected = [
        r#"{"keyvalue-virt":1,"op":"open","bucket":"b","keys":[],"result":"ok"}"#,
        r#"{"keyvalue-virt":1,"op":"set-many","bucket":"b","keys":["x","y"],"sizes":[1,2],"result":"ok"}"#,
        r#"{"keyvalue-virt":1,"op":"get-many","bucket":"b","keys":["x","nope"],"result":"values","found":[1,null]}"#,
        r#"{"keyvalue-virt":1,"op":"set","bucket":"b","keys":["q\"b\\s"],"sizes":[1],"result":"ok"}"#,
        r#"{"keyvalue-virt":1,"op":"set","bucket":"b","keys":["t\tc\u0001\u001f"],"sizes":[1],"result":"ok"}"#,
        r#"{"keyvalue-virt":1,"op":"set","bucket":"b","keys":["clé日本😀"],"sizes":[3],"result":"ok"}"#,
        r#"{"keyvalue-virt":1,"op":"exists","bucket":"b","keys":["x"],"result":"flag","flag":true}"#,
        r#"{"keyvalue-virt":1,"op":"increment","bucket":"b","keys":["n"],"result":"number","number":5}"#,
        r#"{"keyvalue-virt":1,"op":"get","bucket":"b","keys":["x"],"result":"value","size":1}"#,
        r#"{"keyvalue-virt":1,"op":"get","bucket":"b","keys":["x"],"result":"failed","error":"other","message":"no \"x\" here"}"#,
        r#"{"keyvalue-virt":1,"op":"delete-many","bucket":"b","keys":["x","y"],"result":"ok"}"#,
        r#"{"keyvalue-virt":1,"op":"open","bucket":"secret","keys":[],"result":"failed","error":"access-denied","message":"bucket \"secret\" is denied (--deny-bucket)"}"#,
    ];
    let got: Vec<&str> = probed.stderr.lines().collect();
    assert!(
        got == expected,
        "unexpected trace\n--- expected ---\n{}\n--- got ---\n{}",
        expected.join("\n"),
        probed.stderr
    );
    // Every line is JSON that gives back the keys as the app wrote them.
    let keys: Vec<serde_json::Value> = got
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["keys"].clone())
        .collect();
    assert_eq!(keys[3], serde_json::json!(["q\"b\\s"]));
    assert_eq!(keys[4], serde_json::json!(["t\tc\u{1}\u{1f}"]));
    assert_eq!(keys[5], serde_json::json!(["clé日本😀"]));
}
