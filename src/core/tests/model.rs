//! Model-based random testing of the storage core: random sequences of every operation of
//! both drafts (several buckets, odd keys, increments in both types, compare-and-swap,
//! batches, `list-keys` walks with writes between their pages) run through the core's
//! [`Bucket`] API and through a plain reference model; any difference fails with the sequence
//! shrunk by proptest.
//!
//! The core here runs with the defaults (memory backend, nothing baked in). Each case uses
//! bucket names of its own, since the memory backend keeps buckets for the thread's life.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use keyvalue_virt_core::{Bucket, Cas, open};
use proptest::prelude::*;

const BUCKETS: usize = 3;
const KEYS: [&str; 8] = ["", "a", "A", "/", "..", "é", "k\0", "n"];
const TEXTS: [&str; 10] = [
    "+5",
    "007",
    "-0",
    " 1",
    "1.5",
    "abc",
    "18446744073709551615",
    "-9223372036854775808",
    "9223372036854775807",
    "",
];

/// One operation on bucket `b` (an index) and key `k` (an index into [`KEYS`]).
#[derive(Debug, Clone)]
enum Op {
    Get(usize, usize),
    Set(usize, usize, Vec<u8>),
    SetNumber(usize, usize, i64),
    /// Stores one of [`TEXTS`], values on the edge of what `increment` reads.
    SetText(usize, usize, usize),
    Delete(usize, usize),
    Exists(usize, usize),
    IncrementU64(usize, usize, u64),
    IncrementS64(usize, usize, i64),
    CasNew(usize, usize),
    CasSwap(usize, Vec<u8>),
    CasCurrent(usize),
    GetMany(usize, Vec<usize>),
    SetMany(usize, Vec<(usize, Vec<u8>)>),
    DeleteMany(usize, Vec<usize>),
    /// Lists the bucket, applying the operations in `between` after the first page.
    Walk(usize, Vec<(usize, Option<Vec<u8>>)>),
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..8)
}

fn op() -> impl Strategy<Value = Op> {
    let b = 0..BUCKETS;
    let k = 0..KEYS.len();
    prop_oneof![
        (b.clone(), k.clone()).prop_map(|(b, k)| Op::Get(b, k)),
        (b.clone(), k.clone(), value()).prop_map(|(b, k, v)| Op::Set(b, k, v)),
        (b.clone(), k.clone(), -3i64..3).prop_map(|(b, k, n)| Op::SetNumber(b, k, n)),
        (b.clone(), k.clone(), 0..TEXTS.len()).prop_map(|(b, k, t)| Op::SetText(b, k, t)),
        (b.clone(), k.clone()).prop_map(|(b, k)| Op::Delete(b, k)),
        (b.clone(), k.clone()).prop_map(|(b, k)| Op::Exists(b, k)),
        (b.clone(), k.clone(), prop_oneof![0u64..5, Just(u64::MAX)])
            .prop_map(|(b, k, d)| Op::IncrementU64(b, k, d)),
        (
            b.clone(),
            k.clone(),
            prop_oneof![-5i64..5, Just(i64::MIN), Just(i64::MAX)]
        )
            .prop_map(|(b, k, d)| Op::IncrementS64(b, k, d)),
        (b.clone(), k.clone()).prop_map(|(b, k)| Op::CasNew(b, k)),
        (0usize..4, value()).prop_map(|(h, v)| Op::CasSwap(h, v)),
        (0usize..4).prop_map(Op::CasCurrent),
        (b.clone(), prop::collection::vec(k.clone(), 0..5)).prop_map(|(b, ks)| Op::GetMany(b, ks)),
        (b.clone(), prop::collection::vec((k.clone(), value()), 0..5))
            .prop_map(|(b, kvs)| Op::SetMany(b, kvs)),
        (b.clone(), prop::collection::vec(k.clone(), 0..5))
            .prop_map(|(b, ks)| Op::DeleteMany(b, ks)),
        (
            b,
            prop::collection::vec((k, prop::option::of(value())), 0..4)
        )
            .prop_map(|(b, w)| Op::Walk(b, w)),
    ]
}

/// The reference: each bucket a map, each key's version bumped by every write or delete of it.
#[derive(Default)]
struct Model {
    data: Vec<BTreeMap<String, Vec<u8>>>,
    versions: BTreeMap<(usize, String), u64>,
}

impl Model {
    fn write(&mut self, b: usize, key: &str, value: Option<Vec<u8>>) {
        match value {
            Some(v) => {
                self.data[b].insert(key.to_owned(), v);
            }
            None => {
                if self.data[b].remove(key).is_none() {
                    return;
                }
            }
        }
        *self.versions.entry((b, key.to_owned())).or_default() += 1;
    }

    fn version(&self, b: usize, key: &str) -> u64 {
        self.versions
            .get(&(b, key.to_owned()))
            .copied()
            .unwrap_or(0)
    }
}

/// What `increment` of the model does: `Ok(sum)` or an error, leaving the value as it was.
fn model_increment<N>(model: &mut Model, b: usize, key: &str, delta: N) -> Result<N, ()>
where
    N: Copy + std::str::FromStr + ToString + Default + CheckedAdd,
{
    let current = match model.data[b].get(key) {
        None => N::default(),
        Some(bytes) => {
            let text = std::str::from_utf8(bytes).map_err(|_| ())?;
            if text.starts_with('+') {
                return Err(());
            }
            text.parse::<N>().map_err(|_| ())?
        }
    };
    let sum = current.checked(delta).ok_or(())?;
    model.write(b, key, Some(sum.to_string().into_bytes()));
    Ok(sum)
}

trait CheckedAdd: Sized {
    fn checked(self, other: Self) -> Option<Self>;
}

impl CheckedAdd for u64 {
    fn checked(self, other: Self) -> Option<Self> {
        self.checked_add(other)
    }
}

impl CheckedAdd for i64 {
    fn checked(self, other: Self) -> Option<Self> {
        self.checked_add(other)
    }
}

/// A `cas` handle of the core and the version the model saw for it.
struct Handle {
    cas: Cas,
    bucket: usize,
    key: String,
    seen: u64,
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    static CASE: AtomicU64 = AtomicU64::new(0);
    let case = CASE.fetch_add(1, Ordering::Relaxed);
    let buckets: Vec<Bucket> = (0..BUCKETS)
        .map(|b| open(&format!("model-{case}-{b}")).unwrap())
        .collect();
    let mut model = Model {
        data: vec![BTreeMap::new(); BUCKETS],
        ..Model::default()
    };
    let mut handles: Vec<Handle> = Vec::new();
    let key = |k: usize| KEYS[k].to_owned();
    for op in ops {
        match op {
            Op::Get(b, k) => {
                prop_assert_eq!(
                    buckets[b].get(&key(k)).unwrap(),
                    model.data[b].get(&key(k)).cloned()
                );
            }
            Op::Set(b, k, v) => {
                buckets[b].set(key(k), v.clone()).unwrap();
                model.write(b, &key(k), Some(v));
            }
            Op::SetNumber(b, k, n) => {
                let v = n.to_string().into_bytes();
                buckets[b].set(key(k), v.clone()).unwrap();
                model.write(b, &key(k), Some(v));
            }
            Op::SetText(b, k, t) => {
                let v = TEXTS[t].as_bytes().to_vec();
                buckets[b].set(key(k), v.clone()).unwrap();
                model.write(b, &key(k), Some(v));
            }
            Op::Delete(b, k) => {
                buckets[b].delete(&key(k)).unwrap();
                model.write(b, &key(k), None);
            }
            Op::Exists(b, k) => {
                prop_assert_eq!(
                    buckets[b].exists(&key(k)).unwrap(),
                    model.data[b].contains_key(&key(k))
                );
            }
            Op::IncrementU64(b, k, d) => {
                let got = buckets[b].increment(&key(k), d).map_err(|_| ());
                prop_assert_eq!(got, model_increment(&mut model, b, &key(k), d));
            }
            Op::IncrementS64(b, k, d) => {
                let got = buckets[b].increment(&key(k), d).map_err(|_| ());
                prop_assert_eq!(got, model_increment(&mut model, b, &key(k), d));
            }
            Op::CasNew(b, k) => {
                if handles.len() < 4 {
                    let cas = buckets[b].cas(key(k)).unwrap();
                    let seen = model.version(b, &key(k));
                    handles.push(Handle {
                        cas,
                        bucket: b,
                        key: key(k),
                        seen,
                    });
                }
            }
            Op::CasSwap(h, v) => {
                if let Some(handle) = handles.get_mut(h) {
                    let (b, k) = (handle.bucket, handle.key.clone());
                    let untouched = model.version(b, &k) == handle.seen;
                    prop_assert_eq!(handle.cas.swap(v.clone()).unwrap(), untouched);
                    if untouched {
                        // A successful swap consumes the handle (`swap` takes it in WIT).
                        model.write(b, &k, Some(v));
                        handles.remove(h);
                    } else {
                        // A failed one hands it back, holding the latest version.
                        handle.seen = model.version(b, &k);
                    }
                }
            }
            Op::CasCurrent(h) => {
                if let Some(handle) = handles.get(h) {
                    let expected = model.data[handle.bucket].get(&handle.key).cloned();
                    prop_assert_eq!(handle.cas.current().unwrap(), expected);
                }
            }
            Op::GetMany(b, ks) => {
                let keys: Vec<String> = ks.iter().map(|&k| key(k)).collect();
                let got = buckets[b].get_many(keys.clone()).unwrap();
                let expected: Vec<(String, Option<Vec<u8>>)> = keys
                    .into_iter()
                    .map(|k| {
                        let v = model.data[b].get(&k).cloned();
                        (k, v)
                    })
                    .collect();
                prop_assert_eq!(got, expected);
            }
            Op::SetMany(b, kvs) => {
                let pairs: Vec<(String, Vec<u8>)> =
                    kvs.iter().map(|(k, v)| (key(*k), v.clone())).collect();
                buckets[b].set_many(pairs.clone()).unwrap();
                for (k, v) in pairs {
                    model.write(b, &k, Some(v));
                }
            }
            Op::DeleteMany(b, ks) => {
                let keys: Vec<String> = ks.iter().map(|&k| key(k)).collect();
                buckets[b].delete_many(keys.clone()).unwrap();
                for k in keys {
                    model.write(b, &k, None);
                }
            }
            Op::Walk(b, between) => {
                let before: BTreeSet<String> = model.data[b].keys().cloned().collect();
                let mut seen = Vec::new();
                let first = buckets[b].list_keys(None).unwrap();
                seen.extend(first.keys);
                let mut touched = BTreeSet::new();
                for (k, v) in between {
                    touched.insert(key(k));
                    match v.clone() {
                        Some(v) => buckets[b].set(key(k), v).unwrap(),
                        None => buckets[b].delete(&key(k)).unwrap(),
                    }
                    model.write(b, &key(k), v);
                }
                let mut cursor = first.next;
                while let Some(next) = cursor {
                    let page = buckets[b].list_keys(Some(next)).unwrap();
                    seen.extend(page.keys);
                    cursor = page.next;
                }
                let after: BTreeSet<String> = model.data[b].keys().cloned().collect();
                // Every key untouched during the walk is listed exactly once; nothing listed is
                // a key that never existed during the walk.
                for k in before
                    .intersection(&after)
                    .filter(|k| !touched.contains(*k))
                {
                    prop_assert_eq!(seen.iter().filter(|s| *s == k).count(), 1, "key {:?}", k);
                }
                for k in &seen {
                    prop_assert!(before.contains(k) || after.contains(k) || touched.contains(k));
                }
            }
        }
    }
    for (b, bucket) in buckets.iter().enumerate() {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = bucket.list_keys(cursor).unwrap();
            all.extend(page.keys);
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        all.sort();
        let expected: Vec<String> = model.data[b].keys().cloned().collect();
        prop_assert_eq!(all, expected);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// The core agrees with the model on every operation of every sequence.
    #[test]
    fn the_core_agrees_with_the_model(ops in prop::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}

/// One operation of the backend trait, on key `k` (an index into [`KEYS`]).
#[cfg(feature = "fs")]
#[derive(Debug, Clone)]
enum BackendOp {
    Get(usize),
    Set(usize, Vec<u8>),
    Delete(usize),
    Exists(usize),
    Create(usize, Vec<u8>),
    Append(usize, u8),
    Watch(usize),
    Swap(usize, Vec<u8>),
    Walk(usize),
    Count,
}

#[cfg(feature = "fs")]
fn backend_op() -> impl Strategy<Value = BackendOp> {
    let k = 0..KEYS.len();
    prop_oneof![
        k.clone().prop_map(BackendOp::Get),
        (k.clone(), value()).prop_map(|(k, v)| BackendOp::Set(k, v)),
        k.clone().prop_map(BackendOp::Delete),
        k.clone().prop_map(BackendOp::Exists),
        (k.clone(), value()).prop_map(|(k, v)| BackendOp::Create(k, v)),
        (k.clone(), any::<u8>()).prop_map(|(k, b)| BackendOp::Append(k, b)),
        k.clone().prop_map(BackendOp::Watch),
        (k, value()).prop_map(|(k, v)| BackendOp::Swap(k, v)),
        (1usize..4).prop_map(BackendOp::Walk),
        Just(BackendOp::Count),
    ]
}

/// What one backend answered, comparable across backends (versions differ in value, so a
/// swap compares whether it took effect, with the version each backend last handed out).
#[cfg(feature = "fs")]
fn apply<B: keyvalue_virt_core::backend::BucketOps>(
    bucket: &B,
    op: &BackendOp,
    watched: &mut BTreeMap<usize, u64>,
) -> String {
    let key = |k: usize| KEYS[k].to_owned();
    match op {
        BackendOp::Get(k) => format!("{:?}", bucket.get(&key(*k)).unwrap()),
        BackendOp::Set(k, v) => format!("{:?}", bucket.set(key(*k), v.clone()).unwrap()),
        BackendOp::Delete(k) => format!("{:?}", bucket.delete(&key(*k)).unwrap()),
        BackendOp::Exists(k) => format!("{:?}", bucket.exists(&key(*k)).unwrap()),
        BackendOp::Create(k, v) => format!("{:?}", bucket.create(key(*k), v.clone()).unwrap()),
        BackendOp::Append(k, byte) => {
            let result = bucket.update(&key(*k), &mut |old| {
                let mut value = old.map(<[u8]>::to_vec).unwrap_or_default();
                value.push(*byte);
                Ok(value)
            });
            format!("{result:?}")
        }
        BackendOp::Watch(k) => {
            watched.insert(*k, bucket.watch(&key(*k)).unwrap());
            "watched".into()
        }
        BackendOp::Swap(k, v) => match watched.get(k) {
            None => "unwatched".into(),
            Some(&seen) => match bucket.swap(&key(*k), seen, v.clone()).unwrap() {
                Ok(()) => {
                    watched.remove(k);
                    "swapped".into()
                }
                Err(now) => {
                    watched.insert(*k, now);
                    "conflict".into()
                }
            },
        },
        BackendOp::Walk(page) => {
            let mut all = Vec::new();
            let mut from = Some(0);
            while let Some(position) = from {
                from = bucket.keys(position, &mut all, *page, usize::MAX).unwrap();
            }
            all.sort();
            format!("{all:?}")
        }
        BackendOp::Count => format!("{}", bucket.count().unwrap()),
    }
}

#[cfg(feature = "fs")]
proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    /// The fs backend answers every sequence of backend operations as the memory backend does.
    #[test]
    fn the_fs_backend_agrees_with_the_memory_backend(ops in prop::collection::vec(backend_op(), 1..40)) {
        use keyvalue_virt_core::backend::Backend;
        use keyvalue_virt_core::backend::fs::Fs;
        use keyvalue_virt_core::backend::memory::Memory;
        static CASE: AtomicU64 = AtomicU64::new(0);
        let case = CASE.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("kv-model-{}-{case}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let memory = Memory.open(&format!("differential-{case}")).unwrap();
        let fs = Fs::new(&dir, true, false).open("b").unwrap();
        let (mut memory_watched, mut fs_watched) = (BTreeMap::new(), BTreeMap::new());
        // The memory backend forgets a deleted key (seeds are written before anything is
        // deleted there), while the fs backend keeps its tombstone, so `create` after a
        // delete is the one place they may differ.
        let mut deleted = BTreeSet::new();
        for op in &ops {
            match op {
                BackendOp::Delete(k) => {
                    deleted.insert(*k);
                }
                BackendOp::Create(k, _) if deleted.contains(k) => continue,
                _ => {}
            }
            let expected = apply(&memory, op, &mut memory_watched);
            let got = apply(&fs, op, &mut fs_watched);
            prop_assert_eq!(got, expected, "after {:?}", op);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
