//! The benchmark app: `bench-app OP N [KEYS]` sets KEYS keys (default 1000) to 100-byte
//! values, then calls `wasi:keyvalue@0.2.0-draft` OP N times on them, and prints
//! `OP N NANOSECONDS` (the time of the N calls only). The host benchmark (`cargo bench`) plugs
//! it with keyvalue-virt and with a component that does nothing, and compares; for the fs
//! backend, fewer keys keep the setup short when every write is synced.

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/deps/keyvalue-0.2.0-draft",
        world: "wasi:keyvalue/imports@0.2.0-draft",
    });
}

use std::time::Instant;

use bindings::wasi::keyvalue::{atomics, batch, store};

const DEFAULT_KEYS: usize = 1000;
const BATCH: usize = 100;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let number = |arg: &str, name: &str| -> usize {
        arg.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not `{arg}`"))
    };
    let (op, n, key_count) = match args.as_slice() {
        [_, op, n] => (op.as_str(), number(n, "N"), DEFAULT_KEYS),
        [_, op, n, keys] => (op.as_str(), number(n, "N"), number(keys, "KEYS")),
        _ => panic!(
            "usage: bench-app OP N [KEYS]; OP: set, get, exists, increment, get-many, set-many"
        ),
    };
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
    println!("{op} {n} {}", start.elapsed().as_nanos());
}
