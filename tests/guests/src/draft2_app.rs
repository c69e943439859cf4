//! The body of the draft2 apps, `draft2-app` and `draft2-spin-app`: one `wasi:cli` command
//! that checks the scenario named by `argv[1]`, prints `ok SCENARIO` on success and panics on
//! any violation. Each app includes it after generating its bindings of draft2 in its shape
//! (`bindings`) and defining `get_many` for that shape, the one call in which the shapes
//! differ.

use super::bindings::wasi::keyvalue::atomics::{self, Cas, CasError};
use super::bindings::wasi::keyvalue::{batch, store};
use keyvalue_virt_test_guests::{self as common, KvBucket, expect_other, ok, open, survived};

/// Runs the scenario `argv[1]` names.
pub fn main() {
    macro_rules! dispatch {
        (both: [$($both:ident),* $(,)?], draft2_only: [$($only:ident),* $(,)?] $(,)?) => {
            common::run_scenario(&[
                $((stringify!($both), scenarios::$both as fn()),)*
                $((stringify!($only), scenarios::$only as fn()),)*
            ])
        };
    }
    common::for_each_scenario!(dispatch);
}

/// The scenarios, named as [`common::for_each_scenario`] lists them.
mod scenarios {
    pub(super) use super::{bad_cursor, cas, errors_never_trap, increment};

    keyvalue_virt_test_guests::shared_scenarios!(super::store::Bucket);
}

impl From<store::Error> for common::Error {
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::NoSuchStore => Self::NoSuchStore,
            store::Error::AccessDenied => Self::AccessDenied,
            store::Error::Other(message) => Self::Other(message),
        }
    }
}

impl KvBucket for store::Bucket {
    type Cursor = String;

    fn open(identifier: &str) -> Result<Self, common::Error> {
        Ok(store::open(identifier)?)
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, common::Error> {
        Ok(store::Bucket::get(self, key)?)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), common::Error> {
        Ok(store::Bucket::set(self, key, value)?)
    }
    fn delete(&self, key: &str) -> Result<(), common::Error> {
        Ok(store::Bucket::delete(self, key)?)
    }
    fn exists(&self, key: &str) -> Result<bool, common::Error> {
        Ok(store::Bucket::exists(self, key)?)
    }
    fn list_keys(
        &self,
        cursor: Option<&String>,
    ) -> Result<(Vec<String>, Option<String>), common::Error> {
        let response = store::Bucket::list_keys(self, cursor.map(String::as_str))?;
        Ok((response.keys, response.cursor))
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<common::Entry>, common::Error> {
        Ok(super::get_many(self, keys)?)
    }
    fn set_many(&self, key_values: &[(String, Vec<u8>)]) -> Result<(), common::Error> {
        Ok(batch::set_many(self, key_values)?)
    }
    fn delete_many(&self, keys: &[String]) -> Result<(), common::Error> {
        Ok(batch::delete_many(self, keys)?)
    }
}

fn add(bucket: &store::Bucket, key: &str, delta: i64) -> Result<i64, common::Error> {
    Ok(atomics::increment(bucket, key, delta)?)
}

/// `bad-cursor`: cursors that `list-keys` never returned, or returned for another bucket, fail.
fn bad_cursor() {
    let a: store::Bucket = open("bad-cursor-a");
    let b: store::Bucket = open("bad-cursor-b");
    let empty: store::Bucket = open("bad-cursor-empty");
    for i in 0..1500 {
        ok("set in a", KvBucket::set(&a, &format!("a-{i}"), b"a"));
        ok("set in b", KvBucket::set(&b, &format!("b-{i}"), b"b"));
    }
    for (name, bucket) in [("a", &a), ("empty", &empty)] {
        for cursor in ["garbage", ""] {
            expect_other(
                &format!("list-keys(some({cursor:?})) on bucket `{name}`"),
                KvBucket::list_keys(bucket, Some(&cursor.to_string())),
            );
        }
    }

    let (_, cursor) = common::page(&a, None);
    let cursor = cursor.expect("list-keys of 1500 keys returned no cursor after the first page");
    expect_other(
        "cursor of bucket `a` used on bucket `b`",
        KvBucket::list_keys(&b, Some(&cursor)),
    );
    expect_other(
        "cursor of bucket `a` used on an empty bucket",
        KvBucket::list_keys(&empty, Some(&cursor)),
    );
    // The failed calls changed nothing: `a`'s cursor still continues `a`'s walk.
    let (rest, _) = common::page(&a, Some(&cursor));
    assert!(
        rest.iter().all(|k| k.starts_with("a-")),
        "bucket `a` listed a key of another bucket"
    );
    assert_eq!(common::list_all(&b).len(), 1500, "bucket `b` lost keys");
}

/// `increment`: adds to decimal ASCII numbers, counts a missing key as 0, rejects the rest.
fn increment() {
    let bucket: store::Bucket = open("increment");
    assert_eq!(
        ok("increment of a missing key", add(&bucket, "inc-new", 7)),
        7
    );
    common::assert_holds(&bucket, "inc-new", b"7");
    assert_eq!(ok("increment", add(&bucket, "inc-new", 5)), 12);
    assert_eq!(ok("increment by 0", add(&bucket, "inc-new", 0)), 12);
    assert_eq!(ok("increment", add(&bucket, "inc-new", 100)), 112);
    common::assert_holds(&bucket, "inc-new", b"112");
    for i in 1..=50 {
        assert_eq!(ok("increment in loop", add(&bucket, "inc-loop", 1)), i);
    }
    common::assert_holds(&bucket, "inc-loop", b"50");

    ok("set", KvBucket::set(&bucket, "inc-41", b"41"));
    assert_eq!(ok("increment of 41", add(&bucket, "inc-41", 1)), 42);
    common::assert_holds(&bucket, "inc-41", b"42");

    ok("set", KvBucket::set(&bucket, "inc-10", b"10"));
    assert_eq!(ok("10 + -3", add(&bucket, "inc-10", -3)), 7);
    common::assert_holds(&bucket, "inc-10", b"7");
    assert_eq!(ok("0 + -5", add(&bucket, "inc-neg", -5)), -5);
    common::assert_holds(&bucket, "inc-neg", b"-5");
    assert_eq!(ok("-5 + 2", add(&bucket, "inc-neg", 2)), -3);
    common::assert_holds(&bucket, "inc-neg", b"-3");
    assert_eq!(ok("-3 + 3", add(&bucket, "inc-neg", 3)), 0);
    common::assert_holds(&bucket, "inc-neg", b"0");

    let not_s64: [&[u8]; 5] = [b"abc", b"", b"1.5", &[0xff], b"9223372036854775808"];
    for value in not_s64 {
        ok("set", KvBucket::set(&bucket, "inc-bad", value));
        expect_other(
            &format!("increment of {:?}", String::from_utf8_lossy(value)),
            add(&bucket, "inc-bad", 1),
        );
        common::assert_holds(&bucket, "inc-bad", value);
    }

    for (value, delta) in [
        (i64::MAX, 1),
        (i64::MIN, -1),
        (i64::MAX, i64::MAX),
        (-2, i64::MIN),
    ] {
        let text = value.to_string();
        ok("set", KvBucket::set(&bucket, "inc-edge", text.as_bytes()));
        expect_other(
            &format!("{value} + {delta}"),
            add(&bucket, "inc-edge", delta),
        );
        common::assert_holds(&bucket, "inc-edge", text.as_bytes());
    }
    for (value, delta, sum) in [
        (i64::MAX - 1, 1, i64::MAX),
        (i64::MIN + 1, -1, i64::MIN),
        (i64::MIN, i64::MAX, -1),
    ] {
        ok(
            "set",
            KvBucket::set(&bucket, "inc-edge", value.to_string().as_bytes()),
        );
        assert_eq!(
            ok("increment to an edge", add(&bucket, "inc-edge", delta)),
            sum
        );
        common::assert_holds(&bucket, "inc-edge", sum.to_string().as_bytes());
    }
}

/// Asserts that `cas` observes `expected` as the key's current value.
#[track_caller]
fn assert_current(what: &str, cas: &Cas, expected: Option<&[u8]>) {
    let current = ok(&format!("{what}: current()"), current(cas));
    assert_eq!(
        current.as_deref(),
        expected,
        "{what}: current() is {current:?}, expected {expected:?}"
    );
}

/// Swaps `value` in, panicking unless the swap succeeds.
#[track_caller]
fn swap_ok(what: &str, cas: Cas, value: &[u8]) {
    match atomics::swap(cas, value) {
        Ok(()) => {}
        Err(CasError::CasFailed(_)) => panic!("{what}: swap failed with cas-failed"),
        Err(CasError::StoreError(e)) => panic!(
            "{what}: swap failed with store-error({})",
            common::brief(&e.into())
        ),
    }
}

/// Swaps `value` in, expecting `cas-failed`; returns the up-to-date handle it carries.
#[track_caller]
fn swap_conflict(what: &str, cas: Cas, value: &[u8]) -> Cas {
    match atomics::swap(cas, value) {
        Err(CasError::CasFailed(fresh)) => fresh,
        Ok(()) => panic!("{what}: swap succeeded, expected cas-failed"),
        Err(CasError::StoreError(e)) => {
            panic!(
                "{what}: expected cas-failed, got store-error({})",
                common::brief(&e.into())
            )
        }
    }
}

fn new_cas(bucket: &store::Bucket, key: &str) -> Cas {
    ok(
        &format!("cas.new({key:?})"),
        Cas::new(bucket, key).map_err(Into::into),
    )
}

fn current(cas: &Cas) -> Result<Option<Vec<u8>>, common::Error> {
    Ok(cas.current()?)
}

/// Logs the outcome of a hostile `swap` that may succeed or fail but must return.
fn survived_swap(what: &str, result: Result<(), CasError>) {
    match result {
        Ok(()) => eprintln!("{what}: Ok"),
        Err(CasError::CasFailed(_)) => eprintln!("{what}: cas-failed"),
        Err(CasError::StoreError(e)) => {
            eprintln!("{what}: store-error({})", common::brief(&e.into()))
        }
    }
}

/// `cas`: a swap stores its value only if nothing wrote or deleted the key since the handle.
fn cas() {
    let bucket: store::Bucket = open("cas");

    ok("set", KvBucket::set(&bucket, "cas-plain", b"v1"));
    let cas = new_cas(&bucket, "cas-plain");
    assert_current("plain", &cas, Some(b"v1"));
    swap_ok("plain", cas, b"v2");
    common::assert_holds(&bucket, "cas-plain", b"v2");

    for (what, rival) in [
        ("set after new", &b"rival"[..]),
        ("set of the same value after new", &b"v1"[..]),
    ] {
        ok("set", KvBucket::set(&bucket, "cas-conflict", b"v1"));
        let cas = new_cas(&bucket, "cas-conflict");
        ok("rival set", KvBucket::set(&bucket, "cas-conflict", rival));
        let fresh = swap_conflict(what, cas, b"mine");
        common::assert_holds(&bucket, "cas-conflict", rival);
        assert_current(what, &fresh, Some(rival));
        swap_ok(
            &format!("{what}, retried with the returned handle"),
            fresh,
            b"mine",
        );
        common::assert_holds(&bucket, "cas-conflict", b"mine");
    }

    ok("set", KvBucket::set(&bucket, "cas-deleted", b"v1"));
    let cas = new_cas(&bucket, "cas-deleted");
    ok("rival delete", KvBucket::delete(&bucket, "cas-deleted"));
    let fresh = swap_conflict("delete after new", cas, b"mine");
    common::assert_missing(&bucket, "cas-deleted");
    assert_current("delete after new", &fresh, None);
    swap_ok("delete after new, retried", fresh, b"mine");
    common::assert_holds(&bucket, "cas-deleted", b"mine");

    let cas = new_cas(&bucket, "cas-missing");
    assert_current("missing", &cas, None);
    swap_ok("missing key, still missing", cas, b"created");
    common::assert_holds(&bucket, "cas-missing", b"created");

    let cas = new_cas(&bucket, "cas-aba");
    ok("rival set", KvBucket::set(&bucket, "cas-aba", b"rival"));
    ok("rival delete", KvBucket::delete(&bucket, "cas-aba"));
    let fresh = swap_conflict("missing key, created and deleted since", cas, b"mine");
    common::assert_missing(&bucket, "cas-aba");
    swap_ok("missing key, retried", fresh, b"mine");
    common::assert_holds(&bucket, "cas-aba", b"mine");

    let cas = new_cas(&bucket, "cas-by-increment");
    assert_eq!(
        ok("rival increment", add(&bucket, "cas-by-increment", 1)),
        1
    );
    let fresh = swap_conflict("increment after new", cas, b"mine");
    assert_current("increment after new", &fresh, Some(b"1"));

    ok("set", KvBucket::set(&bucket, "cas-by-batch", b"v1"));
    let cas = new_cas(&bucket, "cas-by-batch");
    let rival = [("cas-by-batch".to_string(), b"rival".to_vec())];
    ok("rival set-many", KvBucket::set_many(&bucket, &rival));
    swap_conflict("set-many after new", cas, b"mine");
    let cas = new_cas(&bucket, "cas-by-batch");
    ok(
        "rival delete-many",
        KvBucket::delete_many(&bucket, &["cas-by-batch".to_string()]),
    );
    swap_conflict("delete-many after new", cas, b"mine");

    let other: store::Bucket = open("cas-other");
    ok("set", KvBucket::set(&bucket, "cas-isolated", b"v1"));
    let cas = new_cas(&bucket, "cas-isolated");
    ok(
        "set in another bucket",
        KvBucket::set(&other, "cas-isolated", b"x"),
    );
    ok(
        "set of another key",
        KvBucket::set(&bucket, "cas-isolated-2", b"x"),
    );
    swap_ok("writes to other keys and buckets", cas, b"mine");

    let (retries, value) = cas_counter(&bucket, "cas-counter", 100, |_| false);
    assert_eq!(retries, 0, "retries without rivals");
    assert_eq!(value, 100, "counter after 100 cas increments");
    common::assert_holds(&bucket, "cas-counter", b"100");

    let (retries, value) = cas_counter(&bucket, "cas-contended", 100, |i| i % 10 == 0);
    assert_eq!(retries, 10, "one retry per rival increment");
    assert_eq!(value, 110, "100 cas increments and 10 rival increments");
    common::assert_holds(&bucket, "cas-contended", b"110");
}

/// Increments `key` `times` times by compare-and-swap, retrying on conflict; before the swap of
/// increment `i` a rival `increment` runs if `rival(i)`. Returns the retries and the final value.
fn cas_counter(
    bucket: &store::Bucket,
    key: &str,
    times: u32,
    rival: impl Fn(u32) -> bool,
) -> (u32, i64) {
    let mut retries = 0;
    for i in 0..times {
        let mut cas = new_cas(bucket, key);
        let mut rival_pending = rival(i);
        loop {
            let current = ok("current()", current(&cas));
            let n: i64 = match current {
                None => 0,
                Some(bytes) => std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("counter holds {bytes:?}, not a number")),
            };
            if std::mem::take(&mut rival_pending) {
                ok("rival increment", add(bucket, key, 1));
            }
            match atomics::swap(cas, (n + 1).to_string().as_bytes()) {
                Ok(()) => break,
                Err(CasError::CasFailed(fresh)) => {
                    retries += 1;
                    assert!(retries <= times, "cas counter keeps failing");
                    cas = fresh;
                }
                Err(CasError::StoreError(e)) => {
                    panic!("cas counter: store-error({})", common::brief(&e.into()))
                }
            }
        }
    }
    let value = ok("get counter", KvBucket::get(bucket, key)).expect("counter is missing");
    let value = String::from_utf8(value).expect("counter is not UTF-8");
    (retries, value.parse().expect("counter is not a number"))
}

/// `errors-never-trap`: hostile inputs get `Ok` or `Err`, never a trap.
fn errors_never_trap() {
    common::hostile_common::<store::Bucket>();
    let bucket: store::Bucket = open("hostile-draft2");
    let huge = "c".repeat(1 << 20);
    for cursor in ["", "garbage", "0", "1000", "\0", "-1", &huge, "ключ🔑"] {
        survived(
            &format!("list-keys(some({}))", common::show(cursor)),
            KvBucket::list_keys(&bucket, Some(&cursor.to_string())),
        );
    }
    let huge_number = "9".repeat(1 << 20);
    for value in [
        huge_number.as_bytes(),
        b"-0",
        b"0000000000000000000000000001",
        b" 1",
        b"+1",
    ] {
        ok("set", KvBucket::set(&bucket, "hostile-inc", value));
        for delta in [i64::MIN, -1, 0, i64::MAX] {
            survived(
                &format!(
                    "increment of {}",
                    common::show(&String::from_utf8_lossy(value))
                ),
                add(&bucket, "hostile-inc", delta),
            );
        }
    }
    survived("increment of a huge key", add(&bucket, &huge_number, 1));

    for key in ["", "\0", huge.as_str()] {
        let Ok(cas) = Cas::new(&bucket, key) else {
            eprintln!("cas.new({}): Err", common::show(key));
            continue;
        };
        survived("current()", current(&cas));
        survived_swap("swap of 1 MiB", atomics::swap(cas, &vec![0xab; 1 << 20]));
    }
    // Handles dropped without a swap, and a handle that outlives its bucket.
    for _ in 0..1000 {
        drop(Cas::new(&bucket, "hostile-dropped"));
    }
    let orphan = Cas::new(&bucket, "hostile-orphan");
    drop(bucket);
    if let Ok(cas) = orphan {
        survived("current() after the bucket was dropped", current(&cas));
        survived_swap(
            "swap after the bucket was dropped",
            atomics::swap(cas, b"v"),
        );
    }
}
