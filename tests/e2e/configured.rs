//! The virt with a configuration baked in ([`bake::bake`]), plugged into the `probe` app and
//! run in wasmtime: every configuration feature, checked operation by operation.
//!
//! `probe` prints one line per operation, `ARG -> RESULT` (see `tests/guests/src/bin/probe.rs`
//! for the syntax); [`probe`] runs it and returns the results in order. Every run that does not
//! turn the trace on also checks that the virt wrote no trace line.

use std::path::{Path, PathBuf};

use keyvalue_virt_compose::bake;
use keyvalue_virt_compose::config::{BackendKind, Config, Fault, FaultError, Op, SLOT_MAGIC, Seed};
use wasmtime_wasi::FsPerms;

use crate::harness::{
    App, baked_virt, run, run_configured, run_configured_with, run_plugged, scratch_dir,
};

/// How every trace line starts.
const TRACE: &str = "keyvalue-virt: ";

/// What `probe` printed, split into the results of its operations.
struct Probed {
    /// What follows ` -> ` on each line, one per operation.
    results: Vec<String>,
    /// The guest's stderr (the virt's trace).
    stderr: String,
}

/// Runs `probe` plugged with the virt with `config` baked in (`None`: the plain virt). The run
/// must succeed (no trap), print one line per operation, and write no trace line unless the
/// configuration turns the trace on.
#[track_caller]
fn probe(config: Option<&Config>, ops: &[&str]) -> Probed {
    let outcome = match config {
        Some(config) => run_configured(App::Probe, config, ops),
        None => run(App::Probe, ops),
    }
    .assert_ok();
    let probed = parse(ops, &outcome.stdout);
    if !config.is_some_and(|config| config.trace) {
        assert!(
            !outcome.stderr.contains(TRACE),
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
fn parse(ops: &[&str], stdout: &str) -> Probed {
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
fn echo(op: &str) -> String {
    if op.len() <= 100 {
        return op.to_owned();
    }
    let head: String = op.chars().take(40).collect();
    format!("{head}... ({} bytes)", op.len())
}

/// A result as a failure message shows it: cut short when long (a listing of 2000 keys).
fn clip(result: &str) -> String {
    if result.len() <= 300 {
        return result.to_owned();
    }
    let head: String = result.chars().take(200).collect();
    format!("{head}... ({} bytes)", result.len())
}

/// Asserts that each operation returned what `expected` says, line for line.
#[track_caller]
fn assert_results(ops: &[&str], probed: &Probed, expected: &[&str]) {
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
fn check(config: Option<&Config>, ops: &[(&str, &str)]) -> Probed {
    let (ops, expected): (Vec<&str>, Vec<&str>) = ops.iter().copied().unzip();
    let probed = probe(config, &ops);
    assert_results(&ops, &probed, &expected);
    probed
}

/// Asserts that `result` is `error other` with a message containing every one of `parts`.
#[track_caller]
fn assert_other(result: &str, parts: &[&str]) {
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

fn seed(bucket: &str, key: &str, value: impl Into<Vec<u8>>) -> Seed {
    Seed {
        bucket: bucket.into(),
        key: key.into(),
        value: value.into(),
    }
}

fn fault(op: Op, nth: Option<u64>, error: FaultError) -> Fault {
    Fault { op, nth, error }
}

fn other(message: &str) -> FaultError {
    FaultError::Other(message.into())
}

/// How `probe` shows a value over 64 bytes.
fn long_value(value: &[u8]) -> String {
    let hash = value.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("ok ({} bytes, fnv1a64 {hash:016x})", value.len())
}

/// The value `probe`'s `fill` writes under its `index`th key.
fn fill_value(index: usize, size: usize) -> Vec<u8> {
    (0..size).map(|j| ((index + j) % 251) as u8).collect()
}

// ---- plain component ----------------------------------------------------------------------

/// The operations of the defaults test and what a component without configuration returns.
fn default_behaviour() -> Vec<(&'static str, String)> {
    let big = long_value(&fill_value(0, 4 << 20));
    [
        ("open:any", "ok"),
        ("open:", "ok"),
        ("open:default", "ok"),
        ("open:secret", "ok"),
        ("set:b:k=v", "ok"),
        ("get:b:k", "ok \"v\""),
        ("fill:b:big:1:4194304", "ok"),
        ("get:b:big0", &big),
        ("fill:many:k:1500:1", "ok"),
        ("exists:many:k1499", "ok true"),
        ("get:many:k1499", "ok \"\\xf4\""),
        ("inc:b:n:-3", "ok -3"),
        ("draft-inc:b:m:7", "ok 7"),
        ("cas:b:k=w", "new ok, current ok \"v\", swap ok"),
        ("get:b:k", "ok \"w\""),
        ("set-many:b:x=1,y=2", "ok"),
        ("delete-many:b:x,k", "ok"),
        ("list:b", "ok [\"big0\", \"m\", \"n\", \"y\"]"),
    ]
    .into_iter()
    .map(|(op, result)| (op, result.to_owned()))
    .collect()
}

/// A component with nothing baked in opens any bucket and has no limits, faults or trace.
#[test]
fn plain_component_uses_the_defaults() {
    let expected = default_behaviour();
    let pairs: Vec<(&str, &str)> = expected.iter().map(|(op, r)| (*op, r.as_str())).collect();
    check(None, &pairs);
}

/// Baking `Config::default()` changes nothing.
#[test]
fn default_config_behaves_like_plain() {
    let expected = default_behaviour();
    let pairs: Vec<(&str, &str)> = expected.iter().map(|(op, r)| (*op, r.as_str())).collect();
    check(Some(&Config::default()), &pairs);
}

// ---- seeds --------------------------------------------------------------------------------

fn binary_value() -> Vec<u8> {
    (0..=255).collect()
}

/// Seeds in several buckets, binary and empty values, an empty key, and the counter that
/// wasmtime's key-value test program expects its in-memory store to hold.
fn seeds_config() -> Config {
    Config {
        seeds: vec![
            seed("", "atomics_key", "5"),
            seed("a", "k1", "one"),
            seed("a", "k2", "two"),
            seed("b", "k1", "other bucket"),
            seed("b", "", "empty key"),
            seed("bin", "bytes", binary_value()),
            seed("bin", "small", *b"\0\xff\"\\\n"),
            seed("bin", "empty", ""),
        ],
        ..Config::default()
    }
}

#[test]
fn seeds_are_visible_in_their_buckets() {
    let bytes = long_value(&binary_value());
    check(
        Some(&seeds_config()),
        &[
            ("get:a:k1", "ok \"one\""),
            ("get:a:k2", "ok \"two\""),
            ("get:b:k1", "ok \"other bucket\""),
            ("get:b:", "ok \"empty key\""),
            ("get:a:missing", "ok none"),
            ("get:c:k1", "ok none"),
            ("exists:a:k1", "ok true"),
            ("list:a", "ok [\"k1\", \"k2\"]"),
            ("list:b", "ok [\"\", \"k1\"]"),
            ("list:bin", "ok [\"bytes\", \"empty\", \"small\"]"),
            ("list:c", "ok []"),
            (
                "get-many:a:k2,nope,k1",
                "ok [(\"k2\", \"two\"), none, (\"k1\", \"one\")]",
            ),
            (
                "draft-get-many:b:,k1",
                "ok [(\"\", \"empty key\"), (\"k1\", \"other bucket\")]",
            ),
            ("get:bin:bytes", &bytes),
            ("get:bin:small", "ok \"\\x00\\xff\\\"\\\\\\n\""),
            ("get:bin:empty", "ok \"\""),
            // Seeds are stored once per instance: a later open does not restore them.
            ("set:a:k1=changed", "ok"),
            ("delete:a:k2", "ok"),
            ("open:a", "ok"),
            ("get:a:k1", "ok \"changed\""),
            ("get:a:k2", "ok none"),
        ],
    );
}

/// wasmtime's `keyvalue` test program expects bucket `""` to hold `atomics_key` = 5 and the
/// draft's `increment` by 1 to return 6, then `list-keys` to return just that key.
#[test]
fn seeded_counter_works_like_wasmtimes_test_program() {
    check(
        Some(&seeds_config()),
        &[
            ("draft-inc::atomics_key:1", "ok 6"),
            ("list:", "ok [\"atomics_key\"]"),
            ("inc::atomics_key:1", "ok 7"),
            ("get::atomics_key", "ok \"7\""),
        ],
    );
}

/// A large configuration (a 3 MiB value and 2000 keys) lives in memory pages that baking adds
/// past the module's initial memory. The allocator must never hand them out: not before the
/// configuration is read, nor after (the app stores 200 values of 64 KiB and reads the seeds
/// back byte for byte).
///
/// The virt reads its configuration during its first call, after the canonical ABI has copied
/// that call's arguments into the virt's memory with its allocator: the first `open` passes a
/// 1 MiB name, larger than the free heap of the initial memory (about 55 KiB) and smaller than
/// the configuration, so an allocator that took the added pages for free heap would write the
/// name over the configuration, and `open` would fail with "corrupt".
#[test]
fn large_seed_survives_heavy_allocation() {
    let blob: Vec<u8> = (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut seeds = vec![seed("big", "blob", blob.clone())];
    seeds.extend((0..2000).map(|i| seed("big", &format!("key{i:04}"), format!("v{i}"))));
    let config = Config {
        seeds,
        ..Config::default()
    };

    let mut keys: Vec<String> = (0..2000).map(|i| format!("key{i:04}")).collect();
    keys.push("blob".into());
    keys.sort();
    let listed = format!("ok {keys:?}");
    let blob = long_value(&blob);
    let huge_open = format!("open:{}", "x".repeat(1 << 20));
    check(
        Some(&config),
        &[
            (&huge_open, "ok"),
            ("get:big:blob", &blob),
            ("fill:scratch:f:200:65536", "ok"),
            ("get:big:blob", &blob),
            ("get:big:key0000", "ok \"v0\""),
            ("get:big:key1999", "ok \"v1999\""),
            (
                "get-many:big:key0500,key1500",
                "ok [(\"key0500\", \"v500\"), (\"key1500\", \"v1500\")]",
            ),
            ("list:big", &listed),
            ("get:scratch:f199", &long_value(&fill_value(199, 65536))),
            ("fill:scratch:g:200:65536", "ok"),
            ("get:big:blob", &blob),
        ],
    );
}

// ---- buckets ------------------------------------------------------------------------------

/// With an allow list only the listed buckets open; a bucket both allowed and denied is denied.
#[test]
fn allow_list_opens_only_listed_buckets() {
    let config = Config {
        allow: vec!["a".into(), "".into(), "secret".into()],
        deny: vec!["secret".into()],
        ..Config::default()
    };
    check(
        Some(&config),
        &[
            ("open:a", "ok"),
            ("open:", "ok"),
            ("open:b", "error access-denied"),
            ("open:A", "error access-denied"),
            ("open:default", "error access-denied"),
            ("open:secret", "error access-denied"),
            ("get:b:k", "open error access-denied"),
            ("draft-inc:b:n:1", "open error access-denied"),
            ("set:a:k=v", "ok"),
            ("get:a:k", "ok \"v\""),
            ("draft-inc::n:1", "ok 1"),
        ],
    );
}

/// With a deny list the denied buckets never open and every other bucket does.
#[test]
fn deny_list_closes_denied_buckets() {
    let config = Config {
        deny: vec!["secret".into(), "".into()],
        ..Config::default()
    };
    check(
        Some(&config),
        &[
            ("open:secret", "error access-denied"),
            ("open:", "error access-denied"),
            ("open:other", "ok"),
            ("open:Secret", "ok"),
            ("open:default", "ok"),
            ("get:secret:k", "open error access-denied"),
            ("draft-inc::n:1", "open error access-denied"),
            ("set:other:k=v", "ok"),
            ("get:other:k", "ok \"v\""),
        ],
    );
}

// ---- read-only ----------------------------------------------------------------------------

/// A read-only store serves reads of its seeds and refuses every write, leaving data as it was.
#[test]
fn read_only_refuses_every_write() {
    let config = Config {
        read_only: true,
        seeds: vec![seed("ro", "k", "v"), seed("ro", "n", "5")],
        ..Config::default()
    };
    check(
        Some(&config),
        &[
            ("get:ro:k", "ok \"v\""),
            ("exists:ro:k", "ok true"),
            ("list:ro", "ok [\"k\", \"n\"]"),
            ("get-many:ro:k,x", "ok [(\"k\", \"v\"), none]"),
            ("draft-get-many:ro:n", "ok [(\"n\", \"5\")]"),
            ("set:ro:k=changed", "error access-denied"),
            ("set:ro:new=1", "error access-denied"),
            ("delete:ro:k", "error access-denied"),
            ("inc:ro:n:1", "error access-denied"),
            ("inc:ro:fresh:1", "error access-denied"),
            ("draft-inc:ro:n:1", "error access-denied"),
            ("set-many:ro:k=x,new=y", "error access-denied"),
            ("delete-many:ro:k,n", "error access-denied"),
            (
                "cas:ro:k=swapped",
                "new ok, current ok \"v\", swap error access-denied",
            ),
            ("set:other:k=v", "error access-denied"),
            ("get:ro:k", "ok \"v\""),
            ("get:ro:n", "ok \"5\""),
            ("exists:ro:new", "ok false"),
            ("exists:ro:fresh", "ok false"),
            ("list:ro", "ok [\"k\", \"n\"]"),
            ("list:other", "ok []"),
        ],
    );
}

// ---- limits -------------------------------------------------------------------------------

/// A value at `--max-value-size` is stored; one byte more is refused, by every write.
#[test]
fn max_value_size_refuses_larger_values() {
    let config = Config {
        max_value_size: Some(8),
        ..Config::default()
    };
    let ops = [
        "set:b:k=12345678",
        "set:b:k=123456789",
        "get:b:k",
        "set:b:e=",
        "set-many:b:x=1,y=123456789",
        "get-many:b:x,y",
        "set-many:b:x=1,y=12345678",
        "get-many:b:x,y",
        "cas:b:k=123456789",
        "cas:b:k=abcdefgh",
        "inc:b:n:99999999",
        "inc:b:n:1",
        "get:b:n",
        "get:b:k",
    ];
    let probed = probe(Some(&config), &ops);
    let r = &probed.results;
    let limit = ["--max-value-size", "9 bytes", "8 bytes"];
    assert_eq!(r[0], "ok");
    assert_other(&r[1], &limit);
    assert_eq!(r[2], "ok \"12345678\"", "a refused set changed the value");
    assert_eq!(r[3], "ok");
    assert_other(&r[4], &limit);
    assert_eq!(
        r[5], "ok [none, none]",
        "a refused set-many stored something"
    );
    assert_eq!(r[6], "ok");
    assert_eq!(r[7], "ok [(\"x\", \"1\"), (\"y\", \"12345678\")]");
    let swap = r[8]
        .strip_prefix("new ok, current ok \"12345678\", swap ")
        .unwrap_or_else(|| panic!("unexpected cas result {:?}", r[8]));
    assert_other(swap, &limit);
    assert_eq!(r[9], "new ok, current ok \"12345678\", swap ok");
    assert_eq!(r[10], "ok 99999999");
    assert_other(&r[11], &["--max-value-size"]);
    assert_eq!(
        r[12], "ok \"99999999\"",
        "a refused increment changed the value"
    );
    assert_eq!(r[13], "ok \"abcdefgh\"");
}

/// A bucket at `--max-keys` refuses new keys but still overwrites and deletes existing ones.
#[test]
fn max_keys_refuses_new_keys_in_a_full_bucket() {
    let config = Config {
        max_keys: Some(3),
        ..Config::default()
    };
    let ops = [
        "set:b:a=1",
        "set:b:b=2",
        "set:b:c=3",
        "set:b:d=4",
        "set:b:a=updated",
        "inc:b:n:1",
        "cas:b:d=4",
        "set-many:b:a=x,c=y",
        "list:b",
        "delete:b:b",
        "set:b:d=4",
        "list:b",
        "delete:b:d",
        // Batches are not atomic: `x` fits and is stored, `y` does not.
        "set-many:b:x=1,y=2",
        "list:b",
        "get-many:b:a,c,x",
        "set:other:a=1",
        "set:other:b=2",
        "set:other:c=3",
        "list:other",
    ];
    let probed = probe(Some(&config), &ops);
    let r = &probed.results;
    let full = ["--max-keys", "\"b\"", "3"];
    assert_eq!(r[..3], ["ok", "ok", "ok"]);
    assert_other(&r[3], &full);
    assert_eq!(r[4], "ok", "overwriting a key of a full bucket");
    assert_other(&r[5], &full);
    let swap = r[6]
        .strip_prefix("new ok, current ok none, swap ")
        .unwrap_or_else(|| panic!("unexpected cas result {:?}", r[6]));
    assert_other(swap, &full);
    assert_eq!(r[7], "ok", "set-many overwriting keys of a full bucket");
    assert_eq!(r[8], "ok [\"a\", \"b\", \"c\"]");
    assert_eq!(r[9..12], ["ok", "ok", "ok [\"a\", \"c\", \"d\"]"]);
    assert_eq!(r[12], "ok");
    assert_other(&r[13], &full);
    assert_eq!(r[14], "ok [\"a\", \"c\", \"x\"]");
    assert_eq!(r[15], "ok [(\"a\", \"x\"), (\"c\", \"y\"), (\"x\", \"1\")]");
    assert_eq!(r[16..], ["ok", "ok", "ok", "ok [\"a\", \"b\", \"c\"]"]);
}

// ---- faults -------------------------------------------------------------------------------

/// `--fail get=ERROR` makes every `get` fail with that error (an `other` message exactly as
/// given) and leaves the other operations alone.
#[test]
fn fault_on_every_get() {
    let message = "disk on fire: \"sector 7\" ключ 🔥 (retry later)";
    for (error, shown) in [
        (FaultError::NoSuchStore, "error no-such-store".to_owned()),
        (FaultError::AccessDenied, "error access-denied".to_owned()),
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
            fault(Op::Exists, Some(1), FaultError::AccessDenied),
            fault(Op::Set, Some(3), FaultError::NoSuchStore),
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
            fault(Op::Open, Some(1), FaultError::NoSuchStore),
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
            fault(Op::GetMany, None, FaultError::AccessDenied),
            fault(Op::DeleteMany, Some(2), FaultError::NoSuchStore),
            fault(Op::CasNew, Some(1), other("new failed")),
            fault(Op::CasCurrent, Some(1), FaultError::AccessDenied),
            fault(Op::Swap, Some(1), FaultError::NoSuchStore),
            fault(Op::Increment, Some(1), other("no counting today")),
            fault(Op::Delete, None, FaultError::AccessDenied),
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

// ---- trace --------------------------------------------------------------------------------

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

// ---- corrupt configuration ----------------------------------------------------------------

/// The configuration the corruption tests bake, and alter in the baked bytes.
fn corruptible() -> Config {
    Config {
        allow: vec!["b".into()],
        seeds: vec![seed("b", "k", "seeded for the corruption test")],
        ..Config::default()
    }
}

/// The offset of the only occurrence of `needle` in `haystack`.
#[track_caller]
fn find_once(haystack: &[u8], needle: &[u8]) -> usize {
    let mut hits = haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, window)| window == &needle)
        .map(|(at, _)| at);
    let first = hits.next().expect("not found in the baked component");
    assert!(hits.next().is_none(), "found more than once");
    first
}

/// Bakes [`corruptible`], lets `edit` alter the component bytes at the offset of the encoded
/// configuration (which starts with `KVCF`), then runs the probe with it: every operation must
/// return `error other` saying that the configuration is corrupt and to rebuild, with no trap.
#[track_caller]
fn assert_corrupt_config_reported(edit: impl FnOnce(&mut Vec<u8>, usize), problem: &str) {
    let config = corruptible();
    let mut virt = baked_virt(&config);
    let at = find_once(&virt, &config.encode());
    assert_eq!(&virt[at..at + 4], b"KVCF");
    edit(&mut virt, at);
    let ops = [
        "open:b",
        "get:b:k",
        "draft-inc:b:n:1",
        "open:b",
        "open:other",
    ];
    let outcome = run_plugged(App::Probe, &virt, &ops).assert_ok();
    let probed = parse(&ops, &outcome.stdout);
    for (op, result) in ops.iter().zip(&probed.results) {
        let result = result.strip_prefix("open ").unwrap_or(result);
        assert!(
            result.starts_with("error other: the baked configuration"),
            "{op}: {result}"
        );
        assert_other(result, &[problem, "rebuild", "keyvalue-virt build"]);
    }
    assert_eq!(outcome.stderr, "", "stderr of a corrupt configuration");
}

/// A format version this build does not read.
#[test]
fn corrupt_version_is_reported_not_trapped() {
    assert_corrupt_config_reported(
        |virt, at| virt[at + 4] = 99,
        "the configuration format is not the one this build reads",
    );
}

/// A list count far beyond the configuration's end.
#[test]
fn corrupt_length_is_reported_not_trapped() {
    // After `KVCF`, the version, the backend and the `dir` flag (0): the allow list's count.
    assert_corrupt_config_reported(
        |virt, at| virt[at + 7..at + 11].copy_from_slice(&0x7fff_fff0_u32.to_le_bytes()),
        "truncated",
    );
}

/// A configuration slot whose address points past the end of memory.
#[test]
fn slot_outside_memory_is_reported_not_trapped() {
    assert_corrupt_config_reported(
        |virt, _| {
            let slot = find_once(virt, SLOT_MAGIC);
            virt[slot + 16..slot + 20].copy_from_slice(&0xffff_0000_u32.to_le_bytes());
        },
        "outside memory",
    );
}

/// The baked bytes the corruption tests alter are really the configuration: unaltered, they
/// read back and the component runs with them.
#[test]
fn corruptible_config_reads_back_intact() {
    let config = corruptible();
    let virt = baked_virt(&config);
    assert_eq!(bake::read(&virt).unwrap(), Some(config.clone()));
    check(
        Some(&config),
        &[
            ("get:b:k", "ok \"seeded for the corruption test\""),
            ("open:other", "error access-denied"),
        ],
    );
}

// ---- fs backend -------------------------------------------------------------------------

/// The fs backend storing in the guest directory `/kv`.
fn fs_config(read_only: bool) -> Config {
    Config {
        backend: BackendKind::Fs,
        dir: Some("/kv".into()),
        read_only,
        ..Config::default()
    }
}

/// An empty host directory for one test.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = scratch_dir().join(format!("configured-{name}-{}", std::process::id()));
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("failed to remove `{}`: {e}", dir.display()),
    }
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("failed to create `{}`: {e}", dir.display()));
    dir
}

/// Runs `ops` with `config`, `host` granted to the guest as `/kv`, and asserts their results.
#[track_caller]
fn check_in_dir(config: &Config, host: &Path, ops: &[(&str, &str)]) {
    let (ops, expected): (Vec<&str>, Vec<&str>) = ops.iter().copied().unzip();
    let outcome = run_configured_with(App::Probe, config, &ops, |wasi| {
        wasi.preopened_dir(host, "/kv", FsPerms::ReadWrite)
            .unwrap_or_else(|e| panic!("failed to grant `{}`: {e:?}", host.display()));
    })
    .assert_ok();
    assert!(
        !outcome.stderr.contains(TRACE),
        "trace lines without --trace:\n{}",
        outcome.stderr
    );
    assert_results(&ops, &parse(&ops, &outcome.stdout), &expected);
}

/// The fs backend keeps the data in the granted directory: a new instance reads what an earlier
/// one wrote, through both drafts, and a read-only component reads it and writes nothing.
#[test]
fn fs_backend_keeps_data_across_instances() {
    let dir = fresh_dir("fs-keeps-data");
    check_in_dir(
        &fs_config(false),
        &dir,
        &[
            ("set:b:k=v", "ok"),
            ("inc:b:n:5", "ok 5"),
            ("set-many:b:x=1,y=2", "ok"),
            ("delete:b:x", "ok"),
            ("set:c:k=other bucket", "ok"),
            ("list:b", "ok [\"k\", \"n\", \"y\"]"),
        ],
    );
    assert_eq!(
        std::fs::read(dir.join("FORMAT")).expect("the store has no FORMAT file"),
        b"keyvalue-virt store, format 1\n"
    );
    check_in_dir(
        &fs_config(false),
        &dir,
        &[
            ("get:b:k", "ok \"v\""),
            ("draft-inc:b:n:1", "ok 6"),
            ("get-many:b:x,y", "ok [none, (\"y\", \"2\")]"),
            ("list:b", "ok [\"k\", \"n\", \"y\"]"),
            ("get:c:k", "ok \"other bucket\""),
            ("list:d", "ok []"),
            ("cas:b:k=w", "new ok, current ok \"v\", swap ok"),
        ],
    );
    check_in_dir(
        &fs_config(true),
        &dir,
        &[
            ("get:b:k", "ok \"w\""),
            ("get:b:n", "ok \"6\""),
            ("set:b:k=read-only", "error access-denied"),
            ("delete:b:y", "error access-denied"),
            ("list:b", "ok [\"k\", \"n\", \"y\"]"),
            ("get:b:k", "ok \"w\""),
        ],
    );
}

/// The fs backend with its directory not granted: `open` says how to grant it.
#[test]
fn fs_backend_without_a_granted_dir_says_how_to_grant_it() {
    let ops = ["open:b", "get:b:k", "draft-inc:b:n:1"];
    let probed = probe(Some(&fs_config(false)), &ops);
    // `get` and `draft-inc` fail at their implicit `open`.
    for result in &probed.results {
        let result = result.strip_prefix("open ").unwrap_or(result);
        assert_other(result, &["`/kv`", "--dir"]);
    }
}

/// The fs backend without `--dir`: `open` says that it needs one.
#[test]
fn fs_backend_without_a_dir_says_it_needs_one() {
    let config = Config {
        backend: BackendKind::Fs,
        ..Config::default()
    };
    let probed = probe(Some(&config), &["open:b"]);
    assert_other(&probed.results[0], &["needs a store directory", "--dir"]);
}
