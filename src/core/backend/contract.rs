//! What [`BucketOps`] promises, written once and run against every backend.
//!
//! Each check takes a fresh [`Backend`] (the in-memory backend's buckets live per thread, and
//! every test runs on a thread of its own; the fs backend gets a new store directory), so the
//! checks are independent. A new backend joins by adding one line to the `contract!` call.
//! The helpers here ([`walk`], [`Scratch`]) serve the backends' own unit tests too.

use crate::backend::memory::Memory;
use crate::backend::{Backend, BucketOps, MAX_POSITION};
use crate::error::Error;
use crate::prelude::*;

/// Keys and bucket names a store must keep apart and intact.
fn odd_names() -> Vec<String> {
    [
        "",
        "..",
        "../escape",
        "/",
        "/etc/passwd",
        "a/b",
        "a\\b",
        "\0",
        "CON",
        "con",
        "nul.txt",
        "FORMAT",
        "NAME",
        ".",
        "k",
        "K",
        "é",
        "🦀",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(["x".repeat(1000)])
    .collect()
}

/// Every key of `bucket`, walked in pages of `max_keys`; checks the page bounds on the way.
pub(crate) fn walk(bucket: &impl BucketOps, max_keys: usize) -> Vec<String> {
    let mut all = Vec::new();
    let mut from = Some(0);
    while let Some(position) = from {
        assert!(position < MAX_POSITION, "position {position} out of range");
        let mut page = Vec::new();
        from = bucket
            .keys(position, &mut page, max_keys, usize::MAX)
            .unwrap();
        assert!(page.len() <= max_keys, "a page over its key limit");
        assert!(
            !page.is_empty() || position == 0,
            "an empty page before the end"
        );
        all.extend(page);
    }
    all
}

fn sorted(keys: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut keys: Vec<String> = keys.into_iter().collect();
    keys.sort();
    keys
}

fn set_get_delete_round_trip(backend: &impl Backend) {
    let b = backend.open("b").unwrap();
    assert_eq!(b.get("k").unwrap(), None);
    assert!(!b.exists("k").unwrap());
    b.set("k".into(), b"v".to_vec()).unwrap();
    assert_eq!(b.get("k").unwrap(), Some(b"v".to_vec()));
    assert!(b.exists("k").unwrap());
    b.set("k".into(), b"w".to_vec()).unwrap();
    assert_eq!(b.get("k").unwrap(), Some(b"w".to_vec()));
    b.set("empty".into(), Vec::new()).unwrap();
    assert_eq!(b.get("empty").unwrap(), Some(Vec::new()));
    assert_eq!(b.count().unwrap(), 2);
    b.delete("k").unwrap();
    assert!(!b.exists("k").unwrap());
    assert_eq!(b.get("k").unwrap(), None);
    b.delete("k").unwrap();
    b.delete("never").unwrap();
    assert_eq!(b.count().unwrap(), 1);
}

fn opens_of_one_name_share_and_buckets_are_isolated(backend: &impl Backend) {
    let a1 = backend.open("a").unwrap();
    let a2 = backend.open("a").unwrap();
    let b = backend.open("b").unwrap();
    a1.set("k".into(), vec![1]).unwrap();
    assert_eq!(a2.get("k").unwrap(), Some(vec![1]));
    assert_eq!(b.get("k").unwrap(), None);
    assert_eq!(a1.tag(), a2.tag());
    assert_ne!(a1.tag(), b.tag());
    assert_ne!(a1.tag(), 0);
}

fn odd_keys_and_bucket_names_stay_apart(backend: &impl Backend) {
    let names = odd_names();
    for bucket in &names {
        let b = backend.open(bucket).unwrap();
        for key in &names {
            b.set(key.clone(), format!("{bucket}|{key}").into_bytes())
                .unwrap();
        }
    }
    for bucket in &names {
        let b = backend.open(bucket).unwrap();
        for key in &names {
            assert_eq!(
                b.get(key).unwrap(),
                Some(format!("{bucket}|{key}").into_bytes()),
                "bucket {bucket:?} key {key:?}"
            );
        }
        assert_eq!(sorted(walk(&b, 5)), sorted(names.iter().cloned()));
    }
}

fn values_of_any_size_round_trip(backend: &impl Backend) {
    let b = backend.open("b").unwrap();
    let big: Vec<u8> = (0..(1 << 20) + 7).map(|i| (i % 251) as u8).collect();
    let binary = vec![0, 255, 0, 10, 13];
    b.set("big".into(), big.clone()).unwrap();
    b.set("binary".into(), binary.clone()).unwrap();
    assert_eq!(b.get("big").unwrap(), Some(big));
    assert_eq!(b.get("binary").unwrap(), Some(binary));
}

fn untouched_keys_are_listed_once_despite_changes_mid_walk(backend: &impl Backend) {
    let b = backend.open("b").unwrap();
    for i in 0..600 {
        b.set(format!("k{i}"), vec![]).unwrap();
    }
    assert_eq!(
        sorted(walk(&b, 7)),
        sorted((0..600).map(|i| format!("k{i}")))
    );

    let mut seen = Vec::new();
    let mut page = Vec::new();
    let mut from = b.keys(0, &mut page, 100, usize::MAX).unwrap();
    seen.append(&mut page);
    // Touch keys behind and ahead of the cursor, then finish the walk.
    b.delete("k3").unwrap();
    b.delete("k400").unwrap();
    b.set("late".into(), vec![]).unwrap();
    b.set("k5".into(), b"rewritten".to_vec()).unwrap();
    while let Some(position) = from {
        from = b.keys(position, &mut page, 100, usize::MAX).unwrap();
        seen.append(&mut page);
    }
    for i in (0..600).filter(|&i| i != 3 && i != 400) {
        let key = format!("k{i}");
        assert_eq!(seen.iter().filter(|k| **k == key).count(), 1, "{key}");
    }
    assert!(seen.iter().filter(|k| *k == "late").count() <= 1);
}

/// Lists `b` in the component's pages (`PAGE_KEYS`, `PAGE_BYTES`) while it is drained: `count`
/// keys of ~4 KB (a few hundred per page), each page deleted after it was listed or, with
/// `insert`, 100 new keys added after each page. Every original key is listed exactly once.
pub(crate) fn drain_walk(b: &impl BucketOps, insert: bool, count: usize) {
    use crate::bucket::{PAGE_BYTES, PAGE_KEYS};
    let long = |name: String| format!("{name}-{}", "x".repeat(4000));
    let keys: Vec<String> = (0..count).map(|i| long(format!("k{i}"))).collect();
    for chunk in keys.chunks(100) {
        b.set_many(chunk.iter().map(|k| (k.clone(), vec![b'v'])).collect())
            .unwrap();
    }
    let (mut seen, mut from, mut added) = (Vec::new(), Some(0), 0);
    while let Some(position) = from {
        let mut page = Vec::new();
        from = b.keys(position, &mut page, PAGE_KEYS, PAGE_BYTES).unwrap();
        if insert {
            let new = (added..added + 100).map(|i| (long(format!("new{i}")), vec![]));
            b.set_many(new.collect()).unwrap();
            added += 100;
        } else {
            b.delete_many(&page).unwrap();
        }
        seen.extend(page);
    }
    let mut counts = alloc::collections::BTreeMap::<&str, usize>::new();
    for key in &seen {
        *counts.entry(key).or_default() += 1;
    }
    let missed = keys
        .iter()
        .filter(|k| !counts.contains_key(k.as_str()))
        .count();
    let repeated = counts.values().filter(|&&n| n > 1).count();
    assert_eq!(
        (missed, repeated),
        (0, 0),
        "{} keys listed: {missed} of {count} never seen, {repeated} seen twice",
        seen.len()
    );
}

// 800 keys: four pages, and quick enough on the fs backend (the redis tests drain 2,000).
fn a_drain_walk_of_long_keys_lists_every_key_once(backend: &impl Backend) {
    drain_walk(&backend.open("drain").unwrap(), false, 800);
    drain_walk(&backend.open("grow").unwrap(), true, 800);
}

fn deleted_keys_free_their_place_and_walks_stay_exact(backend: &impl Backend) {
    let b = backend.open("b").unwrap();
    for i in 0..100 {
        b.set(format!("k{i}"), vec![]).unwrap();
    }
    for i in (0..100).step_by(3) {
        b.delete(&format!("k{i}")).unwrap();
    }
    for i in 0..10 {
        b.set(format!("new{i}"), vec![]).unwrap();
    }
    let expected = (0..100)
        .filter(|i| i % 3 != 0)
        .map(|i| format!("k{i}"))
        .chain((0..10).map(|i| format!("new{i}")));
    assert_eq!(sorted(walk(&b, 7)), sorted(expected));
    assert_eq!(b.count().unwrap(), 76);
}

fn pages_stop_once_the_keys_reach_the_byte_budget(backend: &impl Backend) {
    let b = backend.open("b").unwrap();
    for i in 0..10 {
        b.set(format!("{i}{}", "x".repeat(99)), vec![]).unwrap();
    }
    let mut page = Vec::new();
    let next = b.keys(0, &mut page, 1000, 250).unwrap();
    let bytes: usize = page.iter().map(String::len).sum();
    assert!(next.is_some());
    assert!(
        bytes >= 250 && bytes - 100 < 250,
        "{} keys, {bytes} bytes",
        page.len()
    );
    // Even a budget smaller than one key lets a page hold a key.
    let mut page = Vec::new();
    b.keys(0, &mut page, 1000, 1).unwrap();
    assert_eq!(page.len(), 1);
}

/// The looser form of the check above, for a backend whose pages may end before the budget
/// (the redis backend ends pages between `SCAN` batches): no key of a page starts past the
/// budget, a page holds at least one key, and the walk lists every key once.
#[cfg(feature = "redis")]
fn pages_never_pass_the_byte_budget(backend: &impl Backend) {
    let b = backend.open("b").unwrap();
    let keys: Vec<String> = (0..10).map(|i| format!("{i}{}", "x".repeat(99))).collect();
    for key in &keys {
        b.set(key.clone(), vec![]).unwrap();
    }
    let (mut from, mut seen) = (Some(0), Vec::new());
    while let Some(position) = from {
        let mut page = Vec::new();
        from = b.keys(position, &mut page, 1000, 250).unwrap();
        let bytes: usize = page.iter().map(String::len).sum();
        assert!(!page.is_empty() && bytes - 100 < 250, "{} keys", page.len());
        seen.extend(page);
    }
    assert_eq!(sorted(seen), sorted(keys));
    let mut page = Vec::new();
    b.keys(0, &mut page, 1000, 1).unwrap();
    assert_eq!(page.len(), 1);
}

fn a_failed_update_leaves_the_value(backend: &impl Backend) {
    let b = backend.open("b").unwrap();
    b.set("n".into(), b"7".to_vec()).unwrap();
    let error = b
        .update("n", &mut |old| {
            assert_eq!(old, Some(&b"7"[..]));
            Err(Error::AccessDenied)
        })
        .unwrap_err();
    assert_eq!(error, Error::AccessDenied);
    assert_eq!(b.get("n").unwrap(), Some(b"7".to_vec()));
    b.update("fresh", &mut |old| {
        assert!(old.is_none());
        Ok(b"1".to_vec())
    })
    .unwrap();
    assert_eq!(b.get("fresh").unwrap(), Some(b"1".to_vec()));
}

pub(crate) fn swap_detects_writes_since_watch(backend: &impl Backend) {
    let b = backend.open("b").unwrap();
    b.set("k".into(), b"1".to_vec()).unwrap();
    let seen = b.watch("k").unwrap();
    b.set("k".into(), b"2".to_vec()).unwrap();
    let now = b.swap("k", seen, b"3".to_vec()).unwrap().unwrap_err();
    assert_eq!(b.get("k").unwrap(), Some(b"2".to_vec()));
    assert_eq!(b.swap("k", now, b"3".to_vec()).unwrap(), Ok(()));
    assert_eq!(b.get("k").unwrap(), Some(b"3".to_vec()));
    b.unwatch("k");

    // Missing and untouched: the swap creates it.
    let seen = b.watch("new").unwrap();
    assert_eq!(b.swap("new", seen, b"x".to_vec()).unwrap(), Ok(()));
    b.unwatch("new");
    assert_eq!(b.get("new").unwrap(), Some(b"x".to_vec()));
}

/// Missing when watched, then created and deleted again: not untouched. The memory backend
/// keeps what it needs to tell; the fs backend keeps no trace of a deleted key (its files
/// grow with the live keys), and redis compares values, so for them the swap succeeds, as
/// a compare of values would.
pub(crate) fn swap_fails_for_a_key_created_and_deleted_since_watch(backend: &impl Backend) {
    let b = backend.open("b").unwrap();
    let seen = b.watch("gone").unwrap();
    b.set("gone".into(), vec![]).unwrap();
    b.delete("gone").unwrap();
    assert!(b.swap("gone", seen, vec![]).unwrap().is_err());
    assert_eq!(b.get("gone").unwrap(), None);
    b.unwatch("gone");
}

fn create_writes_only_keys_that_never_held_a_value(backend: &impl Backend) {
    let b = backend.open("b").unwrap();
    assert!(b.create("new".into(), b"seed".to_vec()).unwrap());
    assert_eq!(b.get("new").unwrap(), Some(b"seed".to_vec()));
    assert!(!b.create("new".into(), b"again".to_vec()).unwrap());
    assert_eq!(b.get("new").unwrap(), Some(b"seed".to_vec()));
    b.set("set".into(), b"mine".to_vec()).unwrap();
    assert!(!b.create("set".into(), b"seed".to_vec()).unwrap());
    assert_eq!(b.get("set").unwrap(), Some(b"mine".to_vec()));
}

/// A new directory per test under the system's temporary directory, removed when the test
/// ends; the fs backend's store is its `store` subdirectory.
#[cfg(feature = "fs")]
pub(crate) struct Scratch(pub(crate) std::path::PathBuf);

#[cfg(feature = "fs")]
impl Scratch {
    pub(crate) fn new() -> Scratch {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kv-core-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("store")).unwrap();
        Scratch(dir)
    }

    /// The store directory.
    pub(crate) fn store(&self) -> std::path::PathBuf {
        self.0.join("store")
    }

    /// A writable fs backend on the store directory.
    pub(crate) fn fs(&self) -> crate::backend::fs::Fs {
        crate::backend::fs::Fs::new(self.store(), true, false)
    }

    /// Opens `bucket` of [`Scratch::fs`].
    pub(crate) fn open(&self, bucket: &str) -> crate::backend::fs::Bucket {
        self.fs().open(bucket).unwrap()
    }
}

#[cfg(feature = "fs")]
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// For each backend, a module with one test per check; `$fresh` makes a new backend and
/// `$backend` borrows it.
macro_rules! contract {
    ($($(#[$attr:meta])* $name:ident: $fresh:expr, |$held:ident| $backend:expr;)*) => {$(
        $(#[$attr])*
        mod $name {
            use super::*;

            macro_rules! check {
                ($check:ident) => {
                    #[test]
                    fn $check() {
                        let $held = $fresh;
                        super::$check(&$backend);
                    }
                };
            }

            check!(set_get_delete_round_trip);
            check!(opens_of_one_name_share_and_buckets_are_isolated);
            check!(odd_keys_and_bucket_names_stay_apart);
            check!(values_of_any_size_round_trip);
            check!(untouched_keys_are_listed_once_despite_changes_mid_walk);
            check!(a_drain_walk_of_long_keys_lists_every_key_once);
            check!(deleted_keys_free_their_place_and_walks_stay_exact);
            check!(pages_stop_once_the_keys_reach_the_byte_budget);
            check!(a_failed_update_leaves_the_value);
            check!(swap_detects_writes_since_watch);
            check!(create_writes_only_keys_that_never_held_a_value);
        }
    )*};
}

contract! {
    memory: Memory, |held| held;
    #[cfg(feature = "fs")]
    fs: Scratch::new(), |held| held.fs();
}

// The redis backend compares values, not versions, in a compare-and-swap (see its module
// documentation), so it keeps every check but the one that a created and deleted key fails;
// its pages end between `SCAN` batches, so it keeps the looser form of the byte budget check.
#[cfg(feature = "redis")]
mod redis {
    use crate::backend::redis::tests::Fresh;

    macro_rules! check {
        ($($check:ident)*) => {
            $(
                #[test]
                fn $check() {
                    let fresh = Fresh::new();
                    super::$check(&fresh.1);
                }
            )*

            /// The same checks as a user with only the permissions the backend needs.
            mod least_privilege {
                use crate::backend::redis::tests::Fresh;
                $(
                    #[test]
                    fn $check() {
                        let fresh = Fresh::least_privilege();
                        super::super::$check(&fresh.1);
                    }
                )*
            }

            /// The same checks on the primary that a Sentinel names.
            mod sentinel {
                use crate::backend::redis::tests_sentinel::Behind;
                $(
                    #[test]
                    fn $check() {
                        let behind = Behind::new();
                        super::super::$check(&behind.1);
                    }
                )*
            }
        };
    }

    check!(
        set_get_delete_round_trip
        opens_of_one_name_share_and_buckets_are_isolated
        odd_keys_and_bucket_names_stay_apart
        values_of_any_size_round_trip
        untouched_keys_are_listed_once_despite_changes_mid_walk
        a_drain_walk_of_long_keys_lists_every_key_once
        deleted_keys_free_their_place_and_walks_stay_exact
        pages_never_pass_the_byte_budget
        a_failed_update_leaves_the_value
        create_writes_only_keys_that_never_held_a_value
    );

    #[cfg(feature = "redis-tls")]
    type Check = fn(&crate::backend::redis::Redis);

    /// The checks above, each with a key prefix of its own.
    #[cfg(feature = "redis-tls")]
    const CHECKS: [(&str, Check); 10] = [
        ("a", super::set_get_delete_round_trip),
        ("b", super::opens_of_one_name_share_and_buckets_are_isolated),
        ("c", super::odd_keys_and_bucket_names_stay_apart),
        ("d", super::values_of_any_size_round_trip),
        (
            "e",
            super::untouched_keys_are_listed_once_despite_changes_mid_walk,
        ),
        ("f", super::a_drain_walk_of_long_keys_lists_every_key_once),
        (
            "g",
            super::deleted_keys_free_their_place_and_walks_stay_exact,
        ),
        ("h", super::pages_never_pass_the_byte_budget),
        ("i", super::a_failed_update_leaves_the_value),
        ("j", super::create_writes_only_keys_that_never_held_a_value),
    ];

    /// Every check above over TLS (`rediss://`), on one server with a test CA, each under a
    /// key prefix of its own.
    #[cfg(feature = "redis-tls")]
    #[test]
    fn over_tls() {
        let secure = crate::backend::redis::tests_tls::Secure::new();
        for (prefix, check) in CHECKS {
            check(&secure.backend(&std::format!("{prefix}:")));
        }
    }

    /// Every check above on a cluster of three primaries that speak only TLS, reached by the
    /// host name its certificate holds while the cluster names its nodes by IP address.
    #[cfg(feature = "redis-tls")]
    #[test]
    fn over_tls_on_a_cluster() {
        let secure = crate::backend::redis::tests_tls::SecureCluster::new();
        for (prefix, check) in CHECKS {
            check(&secure.backend(&std::format!("{prefix}:")));
        }
    }
}
