//! Scenarios shared by the test guests `draft-app` and `draft2-app`.
//!
//! Each guest imports one draft of `wasi:keyvalue` and implements [`KvBucket`] for that draft's
//! `bucket` by forwarding each call to the binding of the same name; the scenarios that read the
//! same in both drafts are written once here against that trait. Scenarios whose types differ
//! (`increment`, `bad-cursor`, `cas`) stay in the guests.

#![deny(missing_docs)]

use std::collections::{HashMap, HashSet};
use std::fmt;

/// Most keys one `list-keys` page may hold.
pub const MAX_PAGE: usize = 1000;

/// The `error` variant of `wasi:keyvalue/store`, which both drafts spell the same way.
#[derive(Debug)]
pub enum Error {
    /// `no-such-store`.
    NoSuchStore,
    /// `access-denied`.
    AccessDenied,
    /// `other(message)`.
    Other(String),
}

/// One entry of a `get-many` result: the key and its value, or `none` for a missing key.
pub type Entry = Option<(String, Vec<u8>)>;

/// A draft's `bucket` resource together with the `batch` functions on it.
pub trait KvBucket: Sized {
    /// The draft's `list-keys` cursor: `u64` in draft, `string` in draft2.
    type Cursor: Clone + fmt::Debug;

    /// `store.open`.
    fn open(identifier: &str) -> Result<Self, Error>;
    /// `bucket.get`.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error>;
    /// `bucket.set`.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error>;
    /// `bucket.delete`.
    fn delete(&self, key: &str) -> Result<(), Error>;
    /// `bucket.exists`.
    fn exists(&self, key: &str) -> Result<bool, Error>;
    /// `bucket.list-keys`, as `(keys, cursor)`.
    fn list_keys(
        &self,
        cursor: Option<&Self::Cursor>,
    ) -> Result<(Vec<String>, Option<Self::Cursor>), Error>;
    /// `batch.get-many`.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Entry>, Error>;
    /// `batch.set-many`.
    fn set_many(&self, key_values: &[(String, Vec<u8>)]) -> Result<(), Error>;
    /// `batch.delete-many`.
    fn delete_many(&self, keys: &[String]) -> Result<(), Error>;
}

/// Calls `$m!` with the scenarios of `draft-app` and `draft2-app`, the one place they are
/// listed: both apps run those under `both`, only `draft2-app` those under `draft2_only`.
///
/// Each app builds its dispatch from this list, so a listed scenario that an app does not
/// implement does not compile (and one it implements but is not listed is dead code, which the
/// lints refuse); the end-to-end tests build one test per scenario and app from it.
#[macro_export]
macro_rules! for_each_scenario {
    ($m:ident) => {
        $m! {
            both: [
                smoke,
                buckets,
                odd_keys,
                overwrite,
                pagination,
                bad_cursor,
                increment,
                batch,
                errors_never_trap,
            ],
            draft2_only: [cas],
        }
    };
}

/// Defines, where it is called, one function per scenario written once in this crate
/// (`smoke`, `buckets`, `odd_keys`, `overwrite`, `pagination`, `batch`), each running it on the
/// bucket type `$bucket`: the functions an app's dispatch names for those scenarios.
#[macro_export]
macro_rules! shared_scenarios {
    ($bucket:ty) => {
        $crate::shared_scenarios!(@ $bucket; smoke, buckets, odd_keys, overwrite, pagination, batch);
    };
    (@ $bucket:ty; $($name:ident),*) => {
        $(
            pub fn $name() {
                $crate::$name::<$bucket>()
            }
        )*
    };
}

/// Runs the scenario that `argv[1]` names (`_` may stand for `-`) from `scenarios`, which
/// pairs each scenario's identifier with its function, and prints `ok NAME` after it. Panics
/// with the list of scenarios when the name is missing or unknown.
pub fn run_scenario(scenarios: &[(&str, fn())]) {
    let known = || {
        scenarios
            .iter()
            .map(|(name, _)| name.replace('_', "-"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(name) = std::env::args().nth(1) else {
        panic!("usage: <app> SCENARIO; scenarios: {}", known());
    };
    let wanted = name.replace('-', "_");
    match scenarios.iter().find(|(scenario, _)| *scenario == wanted) {
        Some((_, run)) => run(),
        None => panic!("unknown scenario `{name}`; scenarios: {}", known()),
    }
    println!("ok {name}");
}

/// Unwraps `result` of the operation described by `what`, panicking with the error otherwise.
#[track_caller]
pub fn ok<T>(what: &str, result: Result<T, Error>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: expected Ok, got Err({})", brief(&e)),
    }
}

/// Asserts that `result` of the operation described by `what` is `Err(other(_))`, and prints the
/// message to stderr for the humans.
#[track_caller]
pub fn expect_other<T: fmt::Debug>(what: &str, result: Result<T, Error>) {
    match result {
        Err(e @ Error::Other(_)) => eprintln!("{what}: Err({}) as expected", brief(&e)),
        Ok(value) => {
            let value: String = format!("{value:?}").chars().take(300).collect();
            panic!("{what}: expected Err(other(_)), got Ok({value}…)")
        }
        Err(e) => panic!("{what}: expected Err(other(_)), got Err({})", brief(&e)),
    }
}

/// Logs the outcome of a hostile call that may succeed or fail but must return.
pub fn survived<T>(what: &str, result: Result<T, Error>) {
    match result {
        Ok(_) => eprintln!("{what}: Ok"),
        Err(e) => eprintln!("{what}: Err({})", brief(&e)),
    }
}

/// `e` for a message, with a long `other` message cut short (it may quote a huge key).
pub fn brief(e: &Error) -> String {
    match e {
        Error::Other(message) => format!("other({})", clip(message, 300)),
        e => format!("{e:?}"),
    }
}

/// Opens `identifier`, panicking if that fails.
#[track_caller]
pub fn open<B: KvBucket>(identifier: &str) -> B {
    ok(&format!("open({identifier:?})"), B::open(identifier))
}

/// `key` quoted for messages; a long key is cut to its first 40 characters and its length.
pub fn show(key: &str) -> String {
    clip(key, 40)
}

/// `text` quoted, cut to its first `max` characters and its length if it is longer.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(max).collect();
        format!("{head:?}… ({} bytes)", text.len())
    }
}

/// Asserts that `key` holds `value` in `bucket`, via `get` and `exists`.
#[track_caller]
pub fn assert_holds<B: KvBucket>(bucket: &B, key: &str, value: &[u8]) {
    let got = ok(&format!("get({})", show(key)), bucket.get(key));
    assert!(
        got.as_deref() == Some(value),
        "get({}): expected some({} bytes), got {}",
        show(key),
        value.len(),
        match &got {
            Some(v) if v.len() <= 64 => format!("some({v:?})"),
            Some(v) => format!("some({} bytes, differing)", v.len()),
            None => "none".to_string(),
        }
    );
    assert!(
        ok(&format!("exists({})", show(key)), bucket.exists(key)),
        "exists({}) is false, but get returned the value",
        show(key)
    );
}

/// Asserts that `key` holds nothing in `bucket`, via `get` and `exists`.
#[track_caller]
pub fn assert_missing<B: KvBucket>(bucket: &B, key: &str) {
    let got = ok(&format!("get({})", show(key)), bucket.get(key));
    assert!(
        got.is_none(),
        "get({}): expected none, got some({} bytes)",
        show(key),
        got.map_or(0, |v| v.len())
    );
    assert!(
        !ok(&format!("exists({})", show(key)), bucket.exists(key)),
        "exists({}) is true, but get returned none",
        show(key)
    );
}

/// Calls `list-keys` once, asserting the page size limit.
#[track_caller]
pub fn page<B: KvBucket>(
    bucket: &B,
    cursor: Option<&B::Cursor>,
) -> (Vec<String>, Option<B::Cursor>) {
    let (keys, next) = ok(&format!("list-keys({cursor:?})"), bucket.list_keys(cursor));
    assert!(
        keys.len() <= MAX_PAGE,
        "list-keys({cursor:?}) returned {} keys; a page holds at most {MAX_PAGE}",
        keys.len()
    );
    (keys, next)
}

/// Walks `list-keys` from `none` until the cursor is `none` and returns every key in order.
#[track_caller]
pub fn list_all<B: KvBucket>(bucket: &B) -> Vec<String> {
    let mut all = Vec::new();
    let mut cursor = None;
    for _ in 0..10_000 {
        let (keys, next) = page(bucket, cursor.as_ref());
        all.extend(keys);
        match next {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
    panic!("list-keys walk did not end after 10000 pages")
}

/// Asserts that `listed` holds each of `expected` exactly once and nothing else.
#[track_caller]
pub fn assert_same_keys(what: &str, listed: &[String], expected: &HashSet<String>) {
    let counts = count(listed);
    for (key, n) in &counts {
        assert!(*n == 1, "{what}: key {} listed {n} times", show(key));
        assert!(
            expected.contains(*key),
            "{what}: key {} listed but never set",
            show(key)
        );
    }
    for key in expected {
        assert!(
            counts.contains_key(key),
            "{what}: key {} was set but not listed",
            show(key)
        );
    }
}

fn count(keys: &[String]) -> HashMap<&String, usize> {
    let mut counts = HashMap::new();
    for key in keys {
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// `smoke`: set, get, exists and delete one key in bucket `""`.
pub fn smoke<B: KvBucket>() {
    let bucket: B = open("");
    assert_missing(&bucket, "smoke");
    ok("set(\"smoke\")", bucket.set("smoke", b"hello"));
    assert_holds(&bucket, "smoke", b"hello");
    ok("delete(\"smoke\")", bucket.delete("smoke"));
    assert_missing(&bucket, "smoke");
}

/// `buckets`: several identifiers open; the same identifier shares data; buckets are isolated.
pub fn buckets<B: KvBucket>() {
    let empty: B = open("");
    let default: B = open("default");
    let a: B = open("a");
    let b: B = open("b");

    ok("set in `a`", a.set("buckets-k", b"in a"));
    let a_again: B = open("a");
    assert_holds(&a_again, "buckets-k", b"in a");
    ok(
        "set via second handle of `a`",
        a_again.set("buckets-k2", b"via a again"),
    );
    assert_holds(&a, "buckets-k2", b"via a again");
    for (name, other) in [("b", &b), ("", &empty), ("default", &default)] {
        assert!(
            ok("get", other.get("buckets-k")).is_none(),
            "key set in bucket `a` is visible in bucket `{name}`"
        );
    }

    ok("set in `b`", b.set("buckets-k", b"in b"));
    assert_holds(&a, "buckets-k", b"in a");
    assert_holds(&b, "buckets-k", b"in b");
    ok("delete in `b`", b.delete("buckets-k"));
    assert_holds(&a, "buckets-k", b"in a");
    assert_missing(&b, "buckets-k");

    ok("set in `\"\"`", empty.set("buckets-k", b"in empty"));
    assert_holds(&open::<B>(""), "buckets-k", b"in empty");
    assert_missing(&b, "buckets-k");

    let listed: HashSet<String> = ["buckets-k", "buckets-k2"].map(String::from).into();
    assert_same_keys("list-keys of `a`", &list_all(&a), &listed);
    assert_same_keys("list-keys of `b`", &list_all(&b), &HashSet::new());
}

/// `odd-keys`: unusual keys and values round-trip through `get`, `exists` and `list-keys`.
pub fn odd_keys<B: KvBucket>() {
    let bucket: B = open("odd-keys");
    let keys: Vec<String> = [
        "",
        "/",
        "..",
        "a/../b",
        "\0",
        "ключ🔑",
        &"k".repeat(5000),
        "Key",
        "key",
    ]
    .map(String::from)
    .into();
    let values: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![7],
        (0..=255).collect(),
        (0..8 << 20).map(|i: u32| (i % 251) as u8).collect(),
    ];

    // Every value under every key, the key's last value then checked against the whole set.
    for value in &values {
        for key in &keys {
            ok(&format!("set({})", show(key)), bucket.set(key, value));
            assert_holds(&bucket, key, value);
        }
    }
    let expected = |i: usize| &values[i % values.len()];
    for (i, key) in keys.iter().enumerate() {
        ok(&format!("set({})", show(key)), bucket.set(key, expected(i)));
    }
    for (i, key) in keys.iter().enumerate() {
        assert_holds(&bucket, key, expected(i));
    }
    assert_same_keys(
        "list-keys of odd keys",
        &list_all(&bucket),
        &keys.iter().cloned().collect(),
    );
    for near in ["b", "a", "KEY", " ", "ключ"] {
        assert_missing(&bucket, near);
    }

    ok("delete(\"Key\")", bucket.delete("Key"));
    assert_missing(&bucket, "Key");
    assert_holds(&bucket, "key", expected(8));
    for key in &keys {
        ok(&format!("delete({})", show(key)), bucket.delete(key));
        assert_missing(&bucket, key);
    }
    assert_same_keys(
        "list-keys after delete",
        &list_all(&bucket),
        &HashSet::new(),
    );
}

/// `overwrite`: the last write wins; deleting a missing key is fine.
pub fn overwrite<B: KvBucket>() {
    let bucket: B = open("overwrite");
    ok("set 1", bucket.set("overwrite-k", b"first"));
    assert_holds(&bucket, "overwrite-k", b"first");
    ok("set 2", bucket.set("overwrite-k", b"second, longer"));
    assert_holds(&bucket, "overwrite-k", b"second, longer");
    ok("set 3", bucket.set("overwrite-k", b"3"));
    assert_holds(&bucket, "overwrite-k", b"3");
    ok("set 4", bucket.set("overwrite-k", b""));
    assert_holds(&bucket, "overwrite-k", b"");

    ok(
        "delete of a missing key",
        bucket.delete("overwrite-never-set"),
    );
    ok("delete", bucket.delete("overwrite-k"));
    ok("delete again", bucket.delete("overwrite-k"));
    assert_missing(&bucket, "overwrite-k");

    for i in 0..100u32 {
        let value = i.to_le_bytes();
        ok("set in loop", bucket.set("overwrite-ryw", &value));
        assert_holds(&bucket, "overwrite-ryw", &value);
    }
    assert_same_keys(
        "list-keys after overwrites",
        &list_all(&bucket),
        &HashSet::from(["overwrite-ryw".to_string()]),
    );
}

/// `pagination`: 5000 keys walk in pages of at most 1000; a walk survives writes during it.
pub fn pagination<B: KvBucket>() {
    let bucket: B = open("pagination");
    let inserted: HashSet<String> = (0..5000).map(|i| format!("page-{i:04}")).collect();
    for key in &inserted {
        ok("set", bucket.set(key, key.as_bytes()));
    }
    let listed = list_all(&bucket);
    assert_same_keys("walk over 5000 keys", &listed, &inserted);

    let bucket: B = open("pagination-during-writes");
    let originals: Vec<String> = (0..5000).map(|i| format!("walk-{i:04}")).collect();
    let original: HashSet<&String> = originals.iter().collect();
    for key in &originals {
        ok("set", bucket.set(key, b"v"));
    }
    let mut touched = HashSet::new();
    let mut written = HashSet::new();
    let mut listed = Vec::new();
    let mut cursor = None;
    for round in 0.. {
        assert!(round < 1000, "list-keys walk did not end after 1000 pages");
        let (keys, next) = page(&bucket, cursor.as_ref());
        listed.extend(keys);
        let Some(next) = next else { break };
        cursor = Some(next);
        // Touch keys spread over the whole range, both already listed and not yet listed ones.
        for i in (round % 97..originals.len()).step_by(97) {
            ok("delete during walk", bucket.delete(&originals[i]));
            touched.insert(originals[i].clone());
        }
        for j in 0..50 {
            let key = format!("walk-new-{round}-{j}");
            ok("set during walk", bucket.set(&key, b"new"));
            written.insert(key.clone());
            touched.insert(key);
        }
    }
    assert!(
        !touched.is_empty(),
        "walk ended after one page; no writes happened during it"
    );
    for (key, n) in count(&listed) {
        assert!(n == 1, "walk during writes: key {key:?} listed {n} times");
        assert!(
            original.contains(key) || written.contains(key),
            "walk during writes: key {key:?} listed but never set"
        );
    }
    let listed: HashSet<&String> = listed.iter().collect();
    for key in originals.iter().filter(|k| !touched.contains(*k)) {
        assert!(
            listed.contains(key),
            "walk during writes: untouched key {key:?} was not listed"
        );
    }
}

/// `batch`: `set-many`, `get-many` and `delete-many`, including empty lists and duplicates.
pub fn batch<B: KvBucket>() {
    let bucket: B = open("batch");
    let pairs: Vec<(String, Vec<u8>)> = (0..10)
        .map(|i| (format!("batch-{i}"), format!("value {i}").into_bytes()))
        .collect();
    ok("set-many", bucket.set_many(&pairs));
    for (key, value) in &pairs {
        assert_holds(&bucket, key, value);
    }

    let wanted: Vec<String> = [
        "batch-3",
        "batch-missing",
        "batch-0",
        "batch-9",
        "batch-3",
        "",
        "batch-0",
    ]
    .map(String::from)
    .into();
    let got = ok("get-many", bucket.get_many(&wanted));
    assert_eq!(got.len(), wanted.len(), "get-many: one entry per key asked");
    for (key, entry) in wanted.iter().zip(&got) {
        let expected = pairs.iter().find(|(k, _)| k == key);
        match (entry, expected) {
            (None, None) => {}
            (Some((k, v)), Some((_, value))) => {
                assert_eq!(k, key, "get-many: entry for {key:?} names another key");
                assert_eq!(v, value, "get-many: wrong value for {key:?}");
            }
            (got, _) => panic!("get-many: for {key:?} expected {expected:?}, got {got:?}"),
        }
    }

    assert!(
        ok("get-many of []", bucket.get_many(&[])).is_empty(),
        "get-many of no keys returned entries"
    );
    ok("set-many of []", bucket.set_many(&[]));
    ok("delete-many of []", bucket.delete_many(&[]));

    let doomed: Vec<String> = ["batch-1", "batch-2", "batch-missing", "batch-1"]
        .map(String::from)
        .into();
    ok("delete-many", bucket.delete_many(&doomed));
    for key in &doomed {
        assert_missing(&bucket, key);
    }
    let remaining: HashSet<String> = pairs
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| !doomed.contains(k))
        .collect();
    assert_same_keys(
        "list-keys after delete-many",
        &list_all(&bucket),
        &remaining,
    );
    let got = ok("get-many after delete-many", bucket.get_many(&doomed));
    assert!(
        got.iter().all(Option::is_none),
        "get-many after delete-many returned {got:?}"
    );
}

/// The part of `errors-never-trap` that reads the same in both drafts: every call returns.
pub fn hostile_common<B: KvBucket>() {
    let huge = "x".repeat(1 << 20);
    for identifier in ["\0", "../..", "/", "ключ🔑", &huge, "A", "a\u{0}b"] {
        survived(&format!("open({})", show(identifier)), B::open(identifier));
    }
    let bucket: B = open("hostile");
    for key in ["", "\0", &huge, "\u{10ffff}"] {
        survived("set", bucket.set(key, b"v"));
        survived("get", bucket.get(key));
        survived("exists", bucket.exists(key));
        survived("delete", bucket.delete(key));
        survived("delete again", bucket.delete(key));
    }
    let many: Vec<String> = (0..20_000).map(|i| format!("hostile-{i}")).collect();
    survived("get-many of 20000 missing keys", bucket.get_many(&many));
    survived(
        "delete-many of 20000 missing keys",
        bucket.delete_many(&many),
    );
    let duplicates: Vec<(String, Vec<u8>)> = (0..100)
        .map(|i| ("hostile-dup".to_string(), vec![i]))
        .collect();
    survived(
        "set-many with one key 100 times",
        bucket.set_many(&duplicates),
    );
    survived("get", bucket.get("hostile-dup"));
    let wide: Vec<(String, Vec<u8>)> = many.iter().map(|k| (k.clone(), Vec::new())).collect();
    survived("set-many of 20000 keys", bucket.set_many(&wide));
    survived("delete-many of 20000 keys", bucket.delete_many(&many));
    survived("list-keys", bucket.list_keys(None));
}
