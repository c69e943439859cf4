//! Model-based random testing through the real component: random sequences of `wasi:keyvalue`
//! operations (several buckets, odd keys and bucket names, increments of both drafts near
//! overflow and on values that are not numbers, interleaved compare-and-swaps, batches,
//! `list-keys` walks with writes between their pages and cursors passed between buckets) run
//! through `ops-app` plugged with keyvalue-virt in wasmtime, and natively through the storage
//! core with the same interpreter; the output must match line by line, or the test fails with
//! the sequence shrunk by proptest.
//!
//! The memory backend's output must be identical. The fs backend is compared with the native
//! memory core too, where the spec leaves room only as far as it does: a `list-keys` walk is
//! compared as the set of keys it returned, leaving out keys written during the walk.
//!
//! `KEYVALUE_VIRT_MODEL_CASES` sets the number of cases against the memory backend (default
//! 64), `KEYVALUE_VIRT_MODEL_FS_CASES` against the fs backend (default a quarter of that).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use keyvalue_virt_artifacts::guests::OPS_APP;
use keyvalue_virt_compose::Shape;
use keyvalue_virt_core::config::{Config as VirtConfig, SyncMode};
use keyvalue_virt_core::{Bucket, Cas, Cursor, Error, open};
use keyvalue_virt_harness::{
    assert_no_keyvalue_imports, baked_virt, chain, compile, fs_config, grant, read,
    run_component_with, store_dir,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestError, TestRunner};
use wasmtime::component::Component;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

const SLOTS: usize = 3;
const HANDLES: usize = 3;
const BUCKET_NAMES: [&str; 6] = ["a", "b", "", "/", "..", "é\0"];
const KEYS: [&str; 10] = ["", "a", "A", "/", "..", "é", "k\0", "n", "😀", "a/b"];
/// Values on the edge of what `increment` reads.
const TEXTS: [&str; 9] = ["+5", "007", "-0", " 1", "1.5", "abc", "-", "", "0x10"];
/// Cursors no `list-keys` returned.
const CURSORS: [&str; 4] = ["", "zz", "1.", "1.0.0"];

/// Where `list` asks for a page from (see `ops-app`).
#[derive(Debug, Clone)]
enum Page {
    Start,
    Next,
    Of(usize),
    Text(String),
}

/// One line of `ops-app` (see its docs); `usize`s are slots, or handles for `Cas*`.
#[derive(Debug, Clone)]
enum Op {
    Open(usize, String),
    Get(usize, String),
    Set(usize, String, Value),
    Delete(usize, String),
    Exists(usize, String),
    List(usize, Page),
    IncS(usize, String, i64),
    IncU(usize, String, u64),
    GetMany(usize, Vec<String>),
    SetMany(usize, Vec<(String, Value)>),
    DeleteMany(usize, Vec<String>),
    Fill(usize, usize, String),
    CasNew(usize, String),
    CasCurrent(usize),
    CasSwap(usize, Value),
    CasDrop(usize),
}

/// A value, shown as text when it is text, so that a shrunk sequence reads well.
#[derive(Clone)]
struct Value(Vec<u8>);

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(text) => write!(f, "{text:?}"),
            Err(_) => write!(f, "{:?}", self.0),
        }
    }
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(&KEYS[..]).prop_map(str::to_owned)
}

fn keys() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(key(), 0..5)
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..6).prop_map(Value),
        1 => (-3i64..3).prop_map(|n| n.to_string()).prop_map(|s| Value(s.into_bytes())),
        1 => prop_oneof![
            (i64::MAX - 2..=i64::MAX).prop_map(|n| n.to_string()),
            (i64::MIN..=i64::MIN + 2).prop_map(|n| n.to_string()),
            (u64::MAX - 2..=u64::MAX).prop_map(|n| n.to_string()),
            prop::sample::select(&TEXTS[..]).prop_map(str::to_owned),
        ]
        .prop_map(|s| Value(s.into_bytes())),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let s = || 0..SLOTS;
    let h = || 0..HANDLES;
    let from = prop_oneof![
        2 => Just(Page::Start),
        4 => Just(Page::Next),
        1 => s().prop_map(Page::Of),
        1 => prop::sample::select(&CURSORS[..]).prop_map(|c| Page::Text(c.to_owned())),
    ];
    prop_oneof![
        1 => (s(), prop::sample::select(&BUCKET_NAMES[..])).prop_map(|(s, n)| Op::Open(s, n.into())),
        3 => (s(), key()).prop_map(|(s, k)| Op::Get(s, k)),
        4 => (s(), key(), value()).prop_map(|(s, k, v)| Op::Set(s, k, v)),
        2 => (s(), key()).prop_map(|(s, k)| Op::Delete(s, k)),
        1 => (s(), key()).prop_map(|(s, k)| Op::Exists(s, k)),
        4 => (s(), from).prop_map(|(s, f)| Op::List(s, f)),
        3 => (s(), key(), prop_oneof![-3i64..3, Just(i64::MAX), Just(i64::MIN)])
            .prop_map(|(s, k, d)| Op::IncS(s, k, d)),
        2 => (s(), key(), prop_oneof![0u64..3, Just(u64::MAX), Just(1 << 63)])
            .prop_map(|(s, k, d)| Op::IncU(s, k, d)),
        2 => (s(), keys()).prop_map(|(s, ks)| Op::GetMany(s, ks)),
        2 => (s(), prop::collection::vec((key(), value()), 0..5))
            .prop_map(|(s, kvs)| Op::SetMany(s, kvs)),
        1 => (s(), keys()).prop_map(|(s, ks)| Op::DeleteMany(s, ks)),
        2 => (s(), prop::sample::select(&[3usize, 999, 1000, 1100][..]), prop::sample::select(&["f", "", "é"][..]))
            .prop_map(|(s, n, p)| Op::Fill(s, n, p.into())),
        3 => (s(), key()).prop_map(|(s, k)| Op::CasNew(s, k)),
        2 => h().prop_map(Op::CasCurrent),
        3 => (h(), value()).prop_map(|(h, v)| Op::CasSwap(h, v)),
        1 => h().prop_map(Op::CasDrop),
    ]
}

/// A walk over more than one page: a bucket filled past a page, the first page, random
/// operations, then the walk continued (or another slot's walk continued from its cursor).
fn walk() -> impl Strategy<Value = Vec<Op>> {
    (
        0..SLOTS,
        prop::sample::select(&[1000usize, 1100][..]),
        prop::collection::vec(op(), 0..6),
        prop_oneof![3 => Just(None), 1 => (0..SLOTS).prop_map(Some)],
    )
        .prop_map(|(s, n, between, other)| {
            let mut ops = vec![Op::Fill(s, n, "w".into()), Op::List(s, Page::Start)];
            ops.extend(between);
            if let Some(t) = other {
                ops.push(Op::List(t, Page::Of(s)));
            }
            ops.push(Op::List(s, Page::Next));
            ops
        })
}

/// A sequence: every slot opened first, then random operations and walks. With
/// `one_big_fill`, every `fill` after the first of more than 3 keys fills 3, so that no bucket
/// holds 2,000 keys and every walk has the same pages in any backend (the second page ends it).
fn sequence(one_big_fill: bool) -> impl Strategy<Value = Vec<Op>> {
    (
        prop::collection::vec(prop::sample::select(&BUCKET_NAMES[..]), SLOTS),
        prop::collection::vec(
            prop_oneof![12 => op().prop_map(|op| vec![op]), 1 => walk()],
            1..40,
        ),
    )
        .prop_map(move |(names, fragments)| {
            let opens = names
                .into_iter()
                .enumerate()
                .map(|(s, name)| Op::Open(s, name.to_owned()));
            let mut big = false;
            let ops = fragments.into_iter().flatten().map(move |op| match op {
                Op::Fill(s, n, prefix) if n > 3 && one_big_fill => {
                    let n = if big { 3 } else { n };
                    big = true;
                    Op::Fill(s, n, prefix)
                }
                op => op,
            });
            opens.chain(ops).collect()
        })
}

/// `ops-app`'s hex token.
fn x(bytes: impl AsRef<[u8]>) -> String {
    let mut out = String::from("x");
    for b in bytes.as_ref() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn list<T>(items: &[T], show: impl Fn(&T) -> String) -> String {
    if items.is_empty() {
        return "-".to_owned();
    }
    items.iter().map(show).collect::<Vec<_>>().join(",")
}

/// The sequence as `ops-app` reads it.
fn script(ops: &[Op]) -> String {
    let mut out = String::new();
    for op in ops {
        let line = match op {
            Op::Open(s, name) => format!("open {s} {}", x(name)),
            Op::Get(s, k) => format!("get {s} {}", x(k)),
            Op::Set(s, k, v) => format!("set {s} {} {}", x(k), x(&v.0)),
            Op::Delete(s, k) => format!("delete {s} {}", x(k)),
            Op::Exists(s, k) => format!("exists {s} {}", x(k)),
            Op::List(s, from) => match from {
                Page::Start => format!("list {s} start"),
                Page::Next => format!("list {s} next"),
                Page::Of(t) => format!("list {s} of:{t}"),
                Page::Text(c) => format!("list {s} text:{}", x(c)),
            },
            Op::IncS(s, k, d) => format!("incs {s} {} {d}", x(k)),
            Op::IncU(s, k, d) => format!("incu {s} {} {d}", x(k)),
            Op::GetMany(s, ks) => format!("get-many {s} {}", list(ks, |k| x(k))),
            Op::SetMany(s, kvs) => format!(
                "set-many {s} {}",
                list(kvs, |(k, v)| format!("{}={}", x(k), x(&v.0)))
            ),
            Op::DeleteMany(s, ks) => format!("delete-many {s} {}", list(ks, |k| x(k))),
            Op::Fill(s, n, prefix) => format!("fill {s} {n} {}", x(prefix)),
            Op::CasNew(s, k) => format!("cas-new {s} {}", x(k)),
            Op::CasCurrent(h) => format!("cas-current {h}"),
            Op::CasSwap(h, v) => format!("cas-swap {h} {}", x(&v.0)),
            Op::CasDrop(h) => format!("cas-drop {h}"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The keys `fill` writes.
fn fill_keys(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// A bucket slot of the native interpreter.
struct Slot {
    name: String,
    bucket: Bucket,
    cursor: Option<String>,
}

fn err(e: Error) -> String {
    format!("err {}", e.case_name())
}

fn show<T>(result: Result<T, Error>, f: impl FnOnce(T) -> String) -> String {
    result.map_or_else(err, f)
}

fn ok(_: ()) -> String {
    "ok".to_owned()
}

fn value_line(v: Option<Vec<u8>>) -> String {
    v.map_or_else(|| "none".to_owned(), |v| format!("some {}", x(v)))
}

/// What `ops-app` does, on the core: one output line per operation.
fn native(ops: &[Op]) -> Vec<String> {
    let mut slots: Vec<Option<Slot>> = (0..SLOTS).map(|_| None).collect();
    let mut handles: Vec<Option<Cas>> = Vec::new();
    ops.iter()
        .map(|op| native_op(op, &mut slots, &mut handles))
        .collect()
}

fn native_op(op: &Op, slots: &mut [Option<Slot>], handles: &mut Vec<Option<Cas>>) -> String {
    match op {
        Op::CasCurrent(h) | Op::CasSwap(h, _) | Op::CasDrop(h) => {
            let Some(cas) = handles.get_mut(*h).and_then(Option::take) else {
                return "no-handle".to_owned();
            };
            return match op {
                Op::CasCurrent(_) => {
                    let line = show(cas.current(), value_line);
                    handles[*h] = Some(cas);
                    line
                }
                Op::CasSwap(_, v) => match cas.swap(v.0.clone()) {
                    Ok(true) => "swapped".to_owned(),
                    Ok(false) => {
                        handles[*h] = Some(cas);
                        "cas-failed".to_owned()
                    }
                    Err(e) => err(e),
                },
                _ => "ok".to_owned(),
            };
        }
        Op::Open(s, name) => {
            slots[*s] = None;
            return show(open(name), |bucket| {
                slots[*s] = Some(Slot {
                    name: name.clone(),
                    bucket,
                    cursor: None,
                });
                "ok".to_owned()
            });
        }
        _ => {}
    }
    let s = match op {
        Op::Get(s, _)
        | Op::Set(s, _, _)
        | Op::Delete(s, _)
        | Op::Exists(s, _)
        | Op::List(s, _)
        | Op::IncS(s, _, _)
        | Op::IncU(s, _, _)
        | Op::GetMany(s, _)
        | Op::SetMany(s, _)
        | Op::DeleteMany(s, _)
        | Op::Fill(s, _, _)
        | Op::CasNew(s, _) => *s,
        _ => unreachable!("handled above"),
    };
    let other = match op {
        Op::List(_, Page::Of(t)) => Some(slots[*t].as_ref().and_then(|slot| slot.cursor.clone())),
        _ => None,
    };
    let Some(slot) = slots[s].as_mut() else {
        return "no-bucket".to_owned();
    };
    let bucket = &slot.bucket;
    match op {
        Op::Get(_, k) => show(bucket.get(k), value_line),
        Op::Set(_, k, v) => show(bucket.set(k.clone(), v.0.clone()), ok),
        Op::Delete(_, k) => show(bucket.delete(k), ok),
        Op::Exists(_, k) => show(bucket.exists(k), |b| b.to_string()),
        Op::List(_, from) => {
            let cursor = match (from, other) {
                (Page::Start, _) => None,
                (Page::Next, _) => match slot.cursor.take() {
                    Some(cursor) => Some(cursor),
                    None => return "no-cursor".to_owned(),
                },
                (Page::Of(_), Some(Some(cursor))) => Some(cursor),
                (Page::Of(_), _) => return "no-cursor".to_owned(),
                (Page::Text(text), _) => Some(text.clone()),
            };
            let page = cursor
                .map(|text| text.parse::<Cursor>())
                .transpose()
                .and_then(|cursor| bucket.list_keys(cursor));
            match page {
                Ok(page) => {
                    slot.cursor = page.next.map(|cursor| cursor.to_string());
                    let end = if slot.cursor.is_some() { "more" } else { "end" };
                    format!("keys {} {end}", list(&page.keys, |k| x(k)))
                }
                Err(e) => {
                    slot.cursor = None;
                    err(e)
                }
            }
        }
        Op::IncS(_, k, d) => show(bucket.increment(k, *d), |n| format!("s64 {n}")),
        Op::IncU(_, k, d) => show(open(&slot.name).and_then(|old| old.increment(k, *d)), |n| {
            format!("u64 {n}")
        }),
        Op::GetMany(_, ks) => show(bucket.get_many(ks.clone()), |pairs| {
            let mut line = "many".to_owned();
            for (k, v) in pairs {
                match v {
                    Some(v) => {
                        let _ = write!(line, " {}={}", x(k), x(v));
                    }
                    None => line.push_str(" none"),
                }
            }
            line
        }),
        Op::SetMany(_, kvs) => show(
            bucket.set_many(kvs.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect()),
            ok,
        ),
        Op::DeleteMany(_, ks) => show(bucket.delete_many(ks.clone()), ok),
        Op::Fill(_, n, prefix) => show(
            bucket.set_many(
                fill_keys(*n, prefix)
                    .into_iter()
                    .map(|k| (k, Vec::new()))
                    .collect(),
            ),
            ok,
        ),
        Op::CasNew(_, k) => match bucket.cas(k.clone()) {
            Ok(cas) => {
                handles.push(Some(cas));
                format!("cas {}", handles.len() - 1)
            }
            Err(e) => err(e),
        },
        _ => unreachable!("handled above"),
    }
}

/// The native interpreter on a thread of its own: the memory backend keeps buckets per thread,
/// so each case starts from an empty store, as a fresh component instance does.
fn native_fresh(ops: &[Op]) -> Vec<String> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| native(ops))
            .join()
            .expect("the native interpreter panicked")
    })
}

/// A walk `list-keys` in progress: its bucket, the keys it returned so far and the keys written
/// since it started.
struct Walk {
    bucket: String,
    keys: BTreeSet<String>,
    touched: BTreeSet<String>,
}

/// The output with what the spec leaves to the backend taken out: each page's keys become `*`,
/// and a walk from the start that ends is followed by a line with the set of keys it returned,
/// leaving out the keys written during it.
fn order_free(ops: &[Op], lines: &[String]) -> Vec<String> {
    let mut names: Vec<Option<String>> = vec![None; SLOTS];
    let mut handles: Vec<(String, String)> = Vec::new();
    let mut walks: BTreeMap<usize, Walk> = BTreeMap::new();
    let mut out = Vec::new();
    for (op, line) in ops.iter().zip(lines) {
        // Keys this operation may write, and in which bucket.
        let written: Option<(usize, Vec<String>)> = match op {
            Op::Set(s, k, _) | Op::Delete(s, k) | Op::IncS(s, k, _) | Op::IncU(s, k, _) => {
                Some((*s, vec![k.clone()]))
            }
            Op::SetMany(s, kvs) => Some((*s, kvs.iter().map(|(k, _)| k.clone()).collect())),
            Op::DeleteMany(s, ks) => Some((*s, ks.clone())),
            Op::Fill(s, n, prefix) => Some((*s, fill_keys(*n, prefix))),
            _ => None,
        };
        let written = match (op, written) {
            (_, Some((s, keys))) => names[s].clone().map(|name| (name, keys)),
            (Op::CasSwap(h, _), _) => handles
                .get(*h)
                .map(|(name, key)| (name.clone(), vec![key.clone()])),
            _ => None,
        };
        if let Some((name, keys)) = written {
            for walk in walks.values_mut().filter(|walk| walk.bucket == name) {
                walk.touched.extend(keys.iter().cloned());
            }
        }
        match op {
            Op::Open(s, name) => {
                walks.remove(s);
                names[*s] = (line == "ok").then(|| name.clone());
            }
            Op::CasNew(s, k) if line.starts_with("cas ") => {
                handles.push((names[*s].clone().unwrap_or_default(), k.clone()));
            }
            Op::List(s, from) => {
                let Some(page) = line.strip_prefix("keys ") else {
                    if line != "no-cursor" {
                        walks.remove(s);
                    }
                    out.push(line.clone());
                    continue;
                };
                let (keys, end) = page.rsplit_once(' ').unwrap_or((page, ""));
                out.push(format!("keys * {end}"));
                let keys = keys.split(',').filter(|k| *k != "-").map(str::to_owned);
                match from {
                    Page::Start => {
                        let bucket = names[*s].clone().unwrap_or_default();
                        walks.insert(
                            *s,
                            Walk {
                                bucket,
                                keys: keys.collect(),
                                touched: BTreeSet::new(),
                            },
                        );
                    }
                    Page::Next => {
                        if let Some(walk) = walks.get_mut(s) {
                            walk.keys.extend(keys);
                        }
                    }
                    // A walk from another slot's cursor starts part way: no set to compare.
                    Page::Of(_) | Page::Text(_) => {
                        walks.remove(s);
                    }
                }
                if end == "end"
                    && let Some(walk) = walks.remove(s)
                {
                    let touched: BTreeSet<String> = walk.touched.iter().map(x).collect();
                    let keys: Vec<&str> = walk
                        .keys
                        .iter()
                        .filter(|k| !touched.contains(*k))
                        .map(String::as_str)
                        .collect();
                    out.push(format!("walk {}", keys.join(",")));
                }
                continue;
            }
            _ => {}
        }
        out.push(line.clone());
    }
    out
}

/// Where `ops-app` runs: plugged with keyvalue-virt, compiled once.
struct Target {
    component: Component,
    /// The fs backend's store directory is granted fresh per case.
    fs: bool,
}

impl Target {
    fn new(virt: &[u8], fs: bool) -> Target {
        let app = keyvalue_virt_compose::plug(&read(Path::new(OPS_APP)), virt)
            .unwrap_or_else(|e| panic!("failed to plug `ops-app`: {}", chain(&e)));
        assert_no_keyvalue_imports(&app);
        Target {
            component: compile(&app),
            fs,
        }
    }

    /// One output line per operation, from a fresh instance (and store).
    fn run(&self, ops: &[Op]) -> Result<Vec<String>, TestCaseError> {
        static CASE: AtomicU64 = AtomicU64::new(0);
        let stdin = MemoryInputPipe::new(script(ops));
        let dir = self.fs.then(|| {
            let case = CASE.fetch_add(1, Ordering::Relaxed);
            store_dir(&format!("model-{}-{case}", std::process::id()))
        });
        let outcome = run_component_with(&self.component, "ops-app", &[], |builder| {
            if let Some(dir) = &dir {
                grant(dir)(builder);
            }
            builder.stdin(stdin);
        });
        if let Some(case_dir) = dir.as_deref().and_then(Path::parent) {
            let _ = std::fs::remove_dir_all(case_dir);
        }
        if let Err(failure) = &outcome.result {
            return Err(TestCaseError::fail(format!(
                "ops-app failed: {failure}\n--- stderr ---\n{}",
                outcome.stderr
            )));
        }
        Ok(outcome.stdout.lines().map(str::to_owned).collect())
    }
}

fn cases(var: &str, default: u32) -> u32 {
    match std::env::var(var) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{var}={text:?} is not a number of cases")),
        Err(_) => default,
    }
}

/// Runs `cases` random sequences through `target` and natively, comparing the output (after
/// [`order_free`] if `order_free_walks` is set).
fn check(target: &Target, cases: u32, order_free_walks: bool) {
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let result = TestRunner::new(config).run(&sequence(order_free_walks), |ops| {
        let expected = native_fresh(&ops);
        let actual = target.run(&ops)?;
        let (expected, actual) = if order_free_walks {
            (order_free(&ops, &expected), order_free(&ops, &actual))
        } else {
            (expected, actual)
        };
        for (i, (want, got)) in expected.iter().zip(&actual).enumerate() {
            if want != got {
                return Err(TestCaseError::fail(format!(
                    "operation {i} ({:?}): the core says `{want}`, the component `{got}`",
                    ops.get(i)
                )));
            }
        }
        prop_assert_eq!(expected.len(), actual.len(), "output lines");
        Ok(())
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, ops)) => {
            let numbered: String = ops
                .iter()
                .zip(script(&ops).lines())
                .enumerate()
                .map(|(i, (op, line))| {
                    let op = format!("{op:?}");
                    format!("{i:>3}: {op:<40} {line}\n")
                })
                .collect();
            panic!(
                "{reason}\nshrunk sequence ({} operations; as Rust, then as ops-app reads it):\n{numbered}",
                ops.len()
            );
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn the_component_and_the_core_agree_on_random_sequences() {
    let virt = keyvalue_virt_compose::virt_in(&VirtConfig::default(), Shape::Draft2);
    let target = Target::new(virt, false);
    check(&target, cases("KEYVALUE_VIRT_MODEL_CASES", 64), false);
}

#[test]
fn the_fs_backend_agrees_with_the_memory_core_up_to_key_order() {
    // Without syncs: writes stay atomic, and the test does not wait on the disk.
    let config = VirtConfig {
        sync: SyncMode::Never,
        ..fs_config()
    };
    let target = Target::new(&baked_virt(&config), true);
    let default = cases("KEYVALUE_VIRT_MODEL_CASES", 64) / 4;
    check(
        &target,
        cases("KEYVALUE_VIRT_MODEL_FS_CASES", default),
        true,
    );
}
