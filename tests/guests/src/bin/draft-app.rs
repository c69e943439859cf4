//! A `wasi:cli` command that imports `wasi:keyvalue@0.2.0-draft` and checks one scenario,
//! named by `argv[1]`; it prints `ok SCENARIO` on success and panics on any violation.

use bindings::wasi::keyvalue::{atomics, batch, store};
use keyvalue_virt_test_guests::{self as common, KvBucket, expect_other, ok, open, survived};

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/deps/keyvalue-0.2.0-draft",
        world: "wasi:keyvalue/imports@0.2.0-draft",
    });
}

fn main() {
    macro_rules! dispatch {
        (both: [$($both:ident),* $(,)?], draft2_only: [$($only:ident),* $(,)?] $(,)?) => {
            common::run_scenario(&[
                $((stringify!($both), scenarios::$both as fn()),)*

            ])
        };
    }
    common::for_each_scenario!(dispatch);
}

/// The scenarios, named as [`common::for_each_scenario`] lists them.
mod scenarios {
    pub(crate) use super::{bad_cursor, errors_never_trap, increment};

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
    type Cursor = u64;

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
    fn list_keys(&self, cursor: Option<&u64>) -> Result<(Vec<String>, Option<u64>), common::Error> {
        let response = store::Bucket::list_keys(self, cursor.copied())?;
        Ok((response.keys, response.cursor))
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<common::Entry>, common::Error> {
        Ok(batch::get_many(self, keys)?)
    }
    fn set_many(&self, key_values: &[(String, Vec<u8>)]) -> Result<(), common::Error> {
        Ok(batch::set_many(self, key_values)?)
    }
    fn delete_many(&self, keys: &[String]) -> Result<(), common::Error> {
        Ok(batch::delete_many(self, keys)?)
    }
}

fn add(bucket: &store::Bucket, key: &str, delta: u64) -> Result<u64, common::Error> {
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
        for cursor in [u64::MAX, 12345] {
            expect_other(
                &format!("list-keys(some({cursor})) on bucket `{name}`"),
                KvBucket::list_keys(bucket, Some(&cursor)),
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

    let not_u64: [&[u8]; 6] = [b"abc", b"", b"1.5", &[0xff], b"-5", b"18446744073709551616"];
    for value in not_u64 {
        ok("set", KvBucket::set(&bucket, "inc-bad", value));
        expect_other(
            &format!("increment of {:?}", String::from_utf8_lossy(value)),
            add(&bucket, "inc-bad", 1),
        );
        common::assert_holds(&bucket, "inc-bad", value);
    }

    let max = u64::MAX.to_string();
    ok(
        "set u64::MAX",
        KvBucket::set(&bucket, "inc-max", max.as_bytes()),
    );
    expect_other("u64::MAX + 1", add(&bucket, "inc-max", 1));
    common::assert_holds(&bucket, "inc-max", max.as_bytes());
    assert_eq!(
        ok(
            "increment of a missing key by u64::MAX",
            add(&bucket, "inc-new-max", u64::MAX)
        ),
        u64::MAX
    );
    common::assert_holds(&bucket, "inc-new-max", max.as_bytes());
    expect_other("u64::MAX + 1 again", add(&bucket, "inc-new-max", 1));
    ok("set 1", KvBucket::set(&bucket, "inc-one", b"1"));
    expect_other("1 + u64::MAX", add(&bucket, "inc-one", u64::MAX));
    common::assert_holds(&bucket, "inc-one", b"1");
}

/// `errors-never-trap`: hostile inputs get `Ok` or `Err`, never a trap.
fn errors_never_trap() {
    common::hostile_common::<store::Bucket>();
    let bucket: store::Bucket = open("hostile-draft");
    for cursor in [0, 1, 999, 1000, 1001, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
        survived(
            &format!("list-keys(some({cursor}))"),
            KvBucket::list_keys(&bucket, Some(&cursor)),
        );
    }
    let huge_number = "9".repeat(1 << 20);
    for value in [
        huge_number.as_bytes(),
        b"0000000000000000000000000001",
        b" 1",
        b"+1",
        b"1 ",
    ] {
        ok("set", KvBucket::set(&bucket, "hostile-inc", value));
        survived(
            &format!(
                "increment of {}",
                common::show(&String::from_utf8_lossy(value))
            ),
            add(&bucket, "hostile-inc", u64::MAX),
        );
    }
    survived("increment of a huge key", add(&bucket, &huge_number, 1));
}
