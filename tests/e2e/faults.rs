//! Injected faults (`--fail OP=ERROR[@N]`).

use keyvalue_virt_core::config::{Config, ErrorCase, Op, Trace};

use crate::probe::*;

/// `--fail get=ERROR` makes every `get` fail with that error (an `other` message exactly as
/// given) and leaves the other operations alone.
#[test]
fn fault_on_every_get() {
    let message = "disk on fire: \"sector 7\" ключ 🔥 (retry later)";
    for (error, shown) in [
        (ErrorCase::NoSuchStore, "error no-such-store".to_owned()),
        (ErrorCase::AccessDenied, "error access-denied".to_owned()),
        (other(message), format!("error other: {message}")),
    ] {
        let config = Config {
            faults: vec![fault(Op::Get, None, error)],
            ..Config::default()
        };
        check(
            Some(&config),
            &[
                ("set:b:k=v", "ok"),
                ("get:b:k", &shown),
                ("get:b:missing", &shown),
                ("get:b:k", &shown),
                ("exists:b:k", "ok true"),
                ("get-many:b:k", "ok [(\"k\", \"v\")]"),
                ("cas:b:k=w", "new ok, current ok \"v\", swap ok"),
            ],
        );
    }
}

/// `--fail OP=ERROR@N` fails only the Nth call of OP; each operation counts its own calls.
#[test]
fn fault_on_the_nth_call_only() {
    let config = Config {
        faults: vec![
            fault(Op::Get, Some(2), other("second get")),
            fault(Op::Exists, Some(1), ErrorCase::AccessDenied),
            fault(Op::Set, Some(3), ErrorCase::NoSuchStore),
        ],
        ..Config::default()
    };
    check(
        Some(&config),
        &[
            ("set:b:k=v", "ok"),
            ("get:b:k", "ok \"v\""),
            ("get:b:k", "error other: second get"),
            ("get:b:k", "ok \"v\""),
            ("get:b:k", "ok \"v\""),
            ("exists:b:k", "error access-denied"),
            ("exists:b:k", "ok true"),
            ("set:b:k=2", "ok"),
            ("set:b:k=3", "error no-such-store"),
            ("set:b:k=4", "ok"),
            ("get:b:k", "ok \"4\""),
        ],
    );
}

/// A fault on `open` fails the open, explicit or implicit (the probe's first use of a bucket).
#[test]
fn fault_on_open() {
    let config = Config {
        faults: vec![
            fault(Op::Open, Some(1), ErrorCase::NoSuchStore),
            fault(Op::Open, Some(3), other("third open")),
        ],
        ..Config::default()
    };
    check(
        Some(&config),
        &[
            ("open:b", "error no-such-store"),
            ("open:b", "ok"),
            ("get:b:k", "ok none"),
            ("get:c:k", "open error other: third open"),
            ("get:c:k", "ok none"),
            ("draft-inc:d:n:1", "ok 1"),
            ("draft-get-many:d:n", "ok [(\"n\", \"1\")]"),
        ],
    );
}

/// Faults on the batch, compare-and-swap and other operations, each at its own call.
#[test]
fn faults_on_batch_cas_and_other_ops() {
    let config = Config {
        faults: vec![
            fault(Op::SetMany, Some(1), other("batch write failed")),
            fault(Op::GetMany, None, ErrorCase::AccessDenied),
            fault(Op::DeleteMany, Some(2), ErrorCase::NoSuchStore),
            fault(Op::CasNew, Some(1), other("new failed")),
            fault(Op::CasCurrent, Some(1), ErrorCase::AccessDenied),
            fault(Op::Swap, Some(1), ErrorCase::NoSuchStore),
            fault(Op::Increment, Some(1), other("no counting today")),
            fault(Op::Delete, None, ErrorCase::AccessDenied),
            fault(Op::ListKeys, Some(1), other("list broken")),
        ],
        ..Config::default()
    };
    check(
        Some(&config),
        &[
            ("set-many:b:x=1,y=2", "error other: batch write failed"),
            ("get:b:x", "ok none"),
            ("set-many:b:x=1,y=2", "ok"),
            ("get-many:b:x,y", "error access-denied"),
            ("get-many:b:", "error access-denied"),
            ("draft-get-many:b:x", "error access-denied"),
            ("delete-many:b:x", "ok"),
            ("delete-many:b:y", "error no-such-store"),
            ("get:b:x", "ok none"),
            ("get:b:y", "ok \"2\""),
            ("cas:b:k=1", "new error other: new failed"),
            ("cas:b:k=2", "new ok, current error access-denied"),
            (
                "cas:b:k=3",
                "new ok, current ok none, swap error no-such-store",
            ),
            ("get:b:k", "ok none"),
            ("cas:b:k=4", "new ok, current ok none, swap ok"),
            ("get:b:k", "ok \"4\""),
            ("inc:b:n:1", "error other: no counting today"),
            ("draft-inc:b:n:1", "ok 1"),
            ("inc:b:n:1", "ok 2"),
            ("delete:b:k", "error access-denied"),
            ("list:b", "error other: list broken"),
            ("list:b", "ok [\"k\", \"n\", \"y\"]"),
        ],
    );
}

/// What a malformed cursor gets back.
const MALFORMED: &str = "error other: malformed cursor: pass `none` to start listing, then only \
    cursors returned by `list-keys` on the same bucket";

/// Runs `list`, a `list-keys` call with a malformed cursor, then two plain listings, with the
/// second `list-keys` failing (`--fail list-keys=other:second@2`) and the trace on; then `list`
/// alone with every `list-keys` refused. The malformed cursor is traced, counted and refused
/// like any other `list-keys`.
#[track_caller]
fn check_malformed_cursor(list: &str, opens: &[&str]) {
    let config = Config {
        trace: Trace::Text,
        faults: vec![fault(Op::ListKeys, Some(2), other("second"))],
        ..Config::default()
    };
    let probed = check(
        Some(&config),
        &[
            ("set:b:k=v", "ok"),
            (list, MALFORMED),
            ("list:b", "error other: second"),
            ("list:b", "ok [\"k\"]"),
        ],
    );
    let listing = |result: &str| format!(r#"list-keys bucket="b" -> {result}"#);
    let mut expected = vec![r#"open bucket="b" -> ok"#.to_owned()];
    expected.push(r#"set bucket="b" key="k" -> ok"#.to_owned());
    expected.extend(opens.iter().map(|line| (*line).to_owned()));
    expected.push(listing(MALFORMED));
    expected.push(listing("error other: second"));
    expected.push(listing("ok (1 key)"));
    let expected: Vec<String> = expected
        .into_iter()
        .map(|line| format!("{TRACE}{line}"))
        .collect();
    let got: Vec<&str> = probed.stderr.lines().collect();
    assert!(
        got == expected,
        "unexpected trace\n--- expected ---\n{}\n--- got ---\n{}",
        expected.join("\n"),
        probed.stderr
    );

    let denied = Config {
        faults: vec![fault(Op::ListKeys, None, ErrorCase::AccessDenied)],
        ..Config::default()
    };
    check(Some(&denied), &[(list, "error access-denied")]);
}

/// draft2: a malformed cursor (a string no `list-keys` returned) passes the policy first.
#[test]
fn malformed_cursor_passes_the_policy_draft2() {
    check_malformed_cursor("list-from:b:zz", &[]);
}

/// draft: a malformed cursor (a `u64` with no bucket tag) passes the policy first.
#[test]
fn malformed_cursor_passes_the_policy_draft() {
    check_malformed_cursor("draft-list-from:b:5", &[r#"open bucket="b" -> ok"#]);
}
