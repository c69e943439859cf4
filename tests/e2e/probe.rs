//! Drives the `probe` app, plugged with the virt with a configuration baked in
//! (`keyvalue_virt_compose::bake`): the tests of each configuration feature check operation by operation with it.
//!
//! `probe` prints one line per operation, `ARG -> RESULT` (see `tests/guests/src/bin/probe.rs`
//! for the syntax); [`probe`] runs it and returns the results in order. Every run that does not
//! turn the trace on also checks that the virt wrote no trace line.

use keyvalue_virt_core::config::{Config, ErrorCase, Fault, Op, Seed, Trace};

use keyvalue_virt_harness::{App, run, run_configured};

/// How every trace line starts.
pub(crate) const TRACE: &str = "keyvalue-virt: ";

/// What `probe` printed, split into the results of its operations.
pub(crate) struct Probed {
    /// What follows ` -> ` on each line, one per operation.
    pub(crate) results: Vec<String>,
    /// The guest's stderr (the virt's trace).
    pub(crate) stderr: String,
}

/// Runs `probe` plugged with the virt with `config` baked in (`None`: the plain virt). The run
/// must succeed (no trap), print one line per operation, and write no trace line unless the
/// configuration turns the trace on.
#[track_caller]
pub(crate) fn probe(config: Option<&Config>, ops: &[&str]) -> Probed {
    let outcome = match config {
        Some(config) => run_configured(App::Probe, config, ops),
        None => run(App::Probe, ops),
    }
    .assert_ok();
    let probed = parse(ops, &outcome.stdout);
    if !config.is_some_and(|config| config.trace != Trace::Off) {
        assert!(
            !outcome.stderr.contains(TRACE) && !outcome.stderr.contains("{\"keyvalue-virt\""),
            "trace lines without --trace:\n{}",
            outcome.stderr
        );
    }
    Probed {
        stderr: outcome.stderr,
        ..probed
    }
}

/// Splits `probe`'s stdout into the result of each of `ops`, checking that the lines echo the
/// operations in order.
#[track_caller]
pub(crate) fn parse(ops: &[&str], stdout: &str) -> Probed {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        ops.len(),
        "expected one line per operation, got:\n{stdout}"
    );
    let results = ops
        .iter()
        .zip(lines)
        .map(|(op, line)| {
            let prefix = format!("{} -> ", echo(op));
            line.strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("line {line:?} does not start with {prefix:?}"))
                .to_owned()
        })
        .collect();
    Probed {
        results,
        stderr: String::new(),
    }
}

/// The operation as `probe` echoes it (long arguments are cut short).
pub(crate) fn echo(op: &str) -> String {
    if op.len() <= 100 {
        return op.to_owned();
    }
    let head: String = op.chars().take(40).collect();
    format!("{head}... ({} bytes)", op.len())
}

/// A result as a failure message shows it: cut short when long (a listing of 2000 keys).
pub(crate) fn clip(result: &str) -> String {
    if result.len() <= 300 {
        return result.to_owned();
    }
    let head: String = result.chars().take(200).collect();
    format!("{head}... ({} bytes)", result.len())
}

/// Asserts that each operation returned what `expected` says, line for line.
#[track_caller]
pub(crate) fn assert_results(ops: &[&str], probed: &Probed, expected: &[&str]) {
    assert_eq!(
        ops.len(),
        expected.len(),
        "the test lists one result per op"
    );
    let show = |results: &[&str]| {
        ops.iter()
            .zip(results)
            .map(|(op, result)| format!("  {} -> {}\n", echo(op), clip(result)))
            .collect::<String>()
    };
    let got: Vec<&str> = probed.results.iter().map(String::as_str).collect();
    assert!(
        got == expected,
        "unexpected results\n--- expected ---\n{}--- got ---\n{}",
        show(expected),
        show(&got)
    );
}

/// Runs `ops` and asserts their results.
#[track_caller]
pub(crate) fn check(config: Option<&Config>, ops: &[(&str, &str)]) -> Probed {
    let (ops, expected): (Vec<&str>, Vec<&str>) = ops.iter().copied().unzip();
    let probed = probe(config, &ops);
    assert_results(&ops, &probed, &expected);
    probed
}

/// Asserts that `result` is `error other` with a message containing every one of `parts`.
#[track_caller]
pub(crate) fn assert_other(result: &str, parts: &[&str]) {
    let message = result
        .strip_prefix("error other: ")
        .unwrap_or_else(|| panic!("expected `error other: ...`, got {result:?}"));
    for part in parts {
        assert!(
            message.contains(part),
            "the message {message:?} does not mention {part:?}"
        );
    }
}

pub(crate) fn seed(bucket: &str, key: &str, value: impl Into<Vec<u8>>) -> Seed {
    Seed {
        bucket: bucket.into(),
        key: key.into(),
        value: value.into(),
    }
}

pub(crate) fn fault(op: Op, nth: Option<u64>, error: ErrorCase) -> Fault {
    Fault::new(op, nth, error)
}

pub(crate) fn other(message: &str) -> ErrorCase {
    ErrorCase::Other(message.into())
}

/// How `probe` shows a value over 64 bytes.
pub(crate) fn long_value(value: &[u8]) -> String {
    let hash = value.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("ok ({} bytes, fnv1a64 {hash:016x})", value.len())
}

/// The value `probe`'s `fill` writes under its `index`th key.
pub(crate) fn fill_value(index: usize, size: usize) -> Vec<u8> {
    (0..size).map(|j| ((index + j) % 251) as u8).collect()
}
