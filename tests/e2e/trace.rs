//! The trace (`--trace`): one line per operation on stderr.

use keyvalue_virt_core::config::{Config, Op};

use crate::probe::*;

/// The operations of the trace tests, under a configuration that makes some of them fail.
fn trace_config(trace: bool) -> Config {
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
    let probed = check(Some(&trace_config(true)), TRACE_OPS);
    let expected = [
        r#"open bucket="b" -> ok"#,
        r#"set bucket="b" key="k" -> ok"#,
        r#"get bucket="b" key="k" -> ok (2 bytes)"#,
        r#"get bucket="b" key="missing" -> ok none"#,
        r#"get bucket="b" key="k" -> error other: injected"#,
        r#"exists bucket="b" key="k" -> ok true"#,
        r#"list-keys bucket="b" -> ok (1 keys)"#,
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
    let probed = check(Some(&trace_config(false)), TRACE_OPS);
    assert_eq!(probed.stderr, "", "stderr without --trace");
}
