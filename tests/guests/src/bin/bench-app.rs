//! The benchmark app, importing `wasi:keyvalue@0.2.0-draft`. It times its calls from inside the
//! guest and prints one `OP N NANOSECONDS` line per timed phase (the time of the N calls only).
//! The host benchmark (`cargo bench --bench calls`) plugs it with keyvalue-virt and with a
//! component that does nothing, runs it unplugged on wasmtime's host store, and compares.
//!
//! - `bench-app load N SIZE [GETS]`: in bucket `""` (the only one wasmtime's host store
//!   serves), `set` N new keys to SIZE-byte values one call each, then `get` GETS of them
//!   (default N) in a scrambled order. Prints `set N ...` and `get GETS ...`.
//! - `bench-app load-many N SIZE`: the same in batches of 100 (`set-many`, then `get-many`).
//!   Prints `set-many N ...` and `get-many N ...`, N counting keys.
//! - `bench-app OP N [KEYS]`: in bucket `bench`, set KEYS keys (default 1000) to 100-byte
//!   values, then call OP (`set`, `get`, `exists`, `increment`, `get-many`, `set-many`) N times
//!   on them: overwrites and lookups of keys that exist. The fs backend's rows use it.
//!
//! Keys of 1-MiB values start with `mib-` (so that the do-nothing component, `tests/null-virt`,
//! returns values of that size), all others with `key-`. The new-key workloads write each key
//! into one reused buffer, so that the app's own memory stays small whatever N is.

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/deps/keyvalue-0.2.0-draft",
        world: "wasi:keyvalue/imports@0.2.0-draft",
    });
}

use std::fmt::Write as _;
use std::time::Instant;

use bindings::wasi::keyvalue::{atomics, batch, store};

const DEFAULT_KEYS: usize = 1000;
const BATCH: usize = 100;
/// The value size whose keys start with `mib-`.
const MIB: usize = 1 << 20;
/// Steps through the keys in a scrambled order: `i * STRIDE mod N` visits every key once when
/// N is not a multiple of it (it is prime).
const STRIDE: u64 = 1_000_003;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let number = |arg: &str, name: &str| -> usize {
        arg.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not `{arg}`"))
    };
    match args.as_slice() {
        [_, op, n, size] if op == "load-many" => load_many(number(n, "N"), number(size, "SIZE")),
        [_, op, n, size] if op == "load" => {
            let n = number(n, "N");
            load(n, number(size, "SIZE"), n)
        }
        [_, op, n, size, gets] if op == "load" => {
            load(number(n, "N"), number(size, "SIZE"), number(gets, "GETS"))
        }
        [_, op, n] => existing(op, number(n, "N"), DEFAULT_KEYS),
        [_, op, n, keys] => existing(op, number(n, "N"), number(keys, "KEYS")),
        _ => panic!(
            "usage: bench-app load N SIZE [GETS] | load-many N SIZE | OP N [KEYS]; OP: set, get, \
             exists, increment, get-many, set-many"
        ),
    }
}

/// Writes the name of key `i` of a workload with `size`-byte values into `key`.
fn key_name(key: &mut String, size: usize, i: usize) {
    key.clear();
    let prefix = if size == MIB { "mib" } else { "key" };
    let _ = write!(key, "{prefix}-{i:07}");
}

/// The index of the `i`th key read of `n`, in a scrambled order.
fn scrambled(i: usize, n: usize) -> usize {
    ((i as u64 * STRIDE) % n as u64) as usize
}

/// Prints the timing line of `n` calls of `op` that started at `start`.
fn report(op: &str, n: usize, start: Instant) {
    println!("{op} {n} {}", start.elapsed().as_nanos());
}

/// `set` of `n` new keys, then `gets` reads of them.
fn load(n: usize, size: usize, gets: usize) {
    assert!(n > 0, "N must be at least 1");
    let bucket = store::open("").expect("open");
    let value = vec![7u8; size];
    let mut key = String::with_capacity(16);

    let start = Instant::now();
    for i in 0..n {
        key_name(&mut key, size, i);
        bucket.set(&key, &value).expect("set");
    }
    report("set", n, start);

    let start = Instant::now();
    for i in 0..gets {
        key_name(&mut key, size, scrambled(i, n));
        let got = bucket.get(&key).expect("get");
        assert!(
            std::hint::black_box(got).is_some(),
            "key `{key}` is missing"
        );
    }
    report("get", gets, start);
}

/// [`load`] in batches of [`BATCH`] keys; `n` is rounded down to whole batches.
fn load_many(n: usize, size: usize) {
    let n = n / BATCH * BATCH;
    assert!(n > 0, "N must be at least {BATCH}");
    let bucket = store::open("").expect("open");
    let mut pairs: Vec<(String, Vec<u8>)> = (0..BATCH)
        .map(|_| (String::with_capacity(16), vec![7u8; size]))
        .collect();
    let mut keys: Vec<String> = (0..BATCH).map(|_| String::with_capacity(16)).collect();

    let start = Instant::now();
    for first in (0..n).step_by(BATCH) {
        for (i, (key, _)) in pairs.iter_mut().enumerate() {
            key_name(key, size, first + i);
        }
        batch::set_many(&bucket, &pairs).expect("set-many");
    }
    report("set-many", n, start);

    let start = Instant::now();
    for first in (0..n).step_by(BATCH) {
        for (i, key) in keys.iter_mut().enumerate() {
            key_name(key, size, scrambled(first + i, n));
        }
        let got = batch::get_many(&bucket, &keys).expect("get-many");
        assert!(
            std::hint::black_box(got).iter().all(Option::is_some),
            "a key of the batch at {first} is missing"
        );
    }
    report("get-many", n, start);
}

/// `n` calls of `op` on `key_count` keys that exist (overwrites, lookups).
fn existing(op: &str, n: usize, key_count: usize) {
    assert!(key_count >= BATCH, "KEYS must be at least {BATCH}");
    let bucket = store::open("bench").expect("open");
    let keys: Vec<String> = (0..key_count).map(|i| format!("key-{i:04}")).collect();
    let value = vec![7u8; 100];
    for key in &keys {
        bucket.set(key, &value).expect("set");
    }
    let pairs: Vec<(String, Vec<u8>)> = keys[..BATCH]
        .iter()
        .map(|key| (key.clone(), value.clone()))
        .collect();

    let start = Instant::now();
    for i in 0..n {
        let key = &keys[i % key_count];
        match op {
            "set" => bucket.set(key, &value).expect("set"),
            "get" => {
                std::hint::black_box(bucket.get(key).expect("get"));
            }
            "exists" => {
                std::hint::black_box(bucket.exists(key).expect("exists"));
            }
            "increment" => {
                std::hint::black_box(atomics::increment(&bucket, "counter", 1).expect("increment"));
            }
            "get-many" => {
                std::hint::black_box(batch::get_many(&bucket, &keys[..BATCH]).expect("get-many"));
            }
            "set-many" => batch::set_many(&bucket, &pairs).expect("set-many"),
            other => panic!("unknown op `{other}`"),
        }
    }
    report(op, n, start);
}
