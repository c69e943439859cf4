//! The redis backend's rows: the bench app plugged with keyvalue-virt baked for `--backend
//! redis --url redis://127.0.0.1:PORT`, embedded with the network granted, against the floor
//! of the same backend code called natively in this process over the same loopback server, so
//! the ratio is what the component and `wasi:sockets` add to the same Redis commands. These
//! overwrite and read [`REDIS_KEYS`] keys that exist (`bench-app OP N KEYS`).

use std::hint::black_box;
use std::process::{Command, Stdio};
use std::time::Instant;

use keyvalue_virt_core::backend::redis::Redis;
use keyvalue_virt_core::backend::{Backend, BucketOps};
use keyvalue_virt_harness::redis::{RedisConfigured, RedisServer};
use keyvalue_virt_harness::{baked_virt, compile, run_component_with};
use serde_json::{Value, json};
use wasmtime_wasi::WasiCtxBuilder;

use crate::fs::parse;

/// The operations timed on the redis backend.
const REDIS_OPS: [&str; 4] = ["get", "set", "get-many", "increment"];
/// Calls per run (each is a loopback round trip: tens of microseconds).
const REDIS_CALLS: usize = 3000;
/// Calls per run with `--quick`.
const REDIS_CALLS_QUICK: usize = 500;
/// The keys the bench app and the floor set before a run (the `get`s read them).
const REDIS_KEYS: usize = 300;
/// The keys of one `get-many`, as the bench app asks for them.
const BATCH: usize = 100;
/// Runs per operation; the best counts.
const REDIS_RUNS: usize = 5;
/// The size of the values the bench app writes.
const VALUE_SIZE: usize = 100;
/// keyvalue-virt / floor the issue asks for.
const TARGET: f64 = 1.3;

/// Whether `redis-server` can be started.
pub fn available() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The redis backend's table: the bench app plugged with keyvalue-virt baked for a
/// `redis-server` started here, embedded, against the same backend code called natively.
/// Returns the rows for `results.json`.
pub fn redis_table(plugged: &dyn Fn(&[u8]) -> Vec<u8>, quick: bool) -> Value {
    let server = RedisServer::start();
    let config = server.config();
    let component = compile(&plugged(&baked_virt(&config)));
    let calls = if quick {
        REDIS_CALLS_QUICK
    } else {
        REDIS_CALLS
    };

    println!();
    println!(
        "redis backend (redis-server on 127.0.0.1:{}), {VALUE_SIZE}-byte values, {REDIS_KEYS} \
         keys, {calls} calls, best of {REDIS_RUNS}: keyvalue-virt in wasmtime 48 embedded \
         (concurrency support off) against the floor, the same backend code native in this \
         process over the same server; get-many asks for {BATCH} keys per call",
        server.port
    );
    println!(
        "{:<10} {:>10} {:>16} {:>7} {:>7}",
        "op", "floor ns", "keyvalue-virt ns", "ratio", "target"
    );
    let mut rows = Vec::new();
    for op in REDIS_OPS {
        let (n, keys) = (calls.to_string(), REDIS_KEYS.to_string());
        let args = [op, &n, &keys];
        let (mut floor, mut virt) = (f64::INFINITY, f64::INFINITY);
        // The two take turns, so that neither always runs on a server just warmed by the other.
        for run in 0..REDIS_RUNS {
            let virt_run = || {
                let outcome = run_component_with(&component, "bench-app", &args, network);
                parse(&outcome.assert_ok().stdout)
            };
            if run % 2 == 0 {
                floor = floor.min(native_redis(&server, op, calls));
                virt = virt.min(virt_run());
            } else {
                virt = virt.min(virt_run());
                floor = floor.min(native_redis(&server, op, calls));
            }
        }
        let per = calls as f64;
        println!(
            "{:<10} {:>10.0} {:>16.0} {:>6.2}x {:>5.1}x",
            op,
            floor / per,
            virt / per,
            virt / floor,
            TARGET
        );
        rows.push(json!({
            "op": op,
            "calls": calls,
            "keys": REDIS_KEYS,
            "value_size": VALUE_SIZE,
            "floor_ns_per_call": floor / per,
            "virt_ns_per_call": virt / per,
            "ratio_to_floor": virt / floor,
        }));
    }
    json!({ "runtime": "embedded", "target_ratio": TARGET, "rows": rows })
}

/// Lets the guest use the host's network, as `wasmtime run -S inherit-network` does (embedded,
/// TCP must be allowed too: wasmtime-wasi 48 denies it by default).
fn network(builder: &mut WasiCtxBuilder) {
    builder.inherit_network().allow_tcp(true);
}

/// The floor of one redis run: what the bench app does, with the same backend code called
/// directly in this process over its own connection to `server`. Returns the nanoseconds of
/// the calls.
fn native_redis(server: &RedisServer, op: &str, calls: usize) -> f64 {
    let bucket = Redis::new(&server.config().redis)
        .and_then(|redis| redis.open("bench"))
        .unwrap_or_else(|e| panic!("failed to open the native store: {e}"));
    let keys: Vec<String> = (0..REDIS_KEYS).map(|i| format!("key-{i:04}")).collect();
    let value = vec![7u8; VALUE_SIZE];
    for key in &keys {
        bucket.set(key.clone(), value.clone()).expect("set");
    }

    let start = Instant::now();
    for i in 0..calls {
        let key = &keys[i % REDIS_KEYS];
        match op {
            "get" => {
                black_box(bucket.get(key).expect("get"));
            }
            "set" => bucket.set(key.clone(), value.clone()).expect("set"),
            "get-many" => {
                black_box(bucket.get_many(&keys[..BATCH]).expect("get-many"));
            }
            // What draft's `increment` does in the component: the backend's own step for a `u64`.
            "increment" => {
                let sum = bucket.add("counter", 1, true).expect("increment");
                assert!(black_box(sum).is_some(), "INCRBY was not taken");
            }
            other => panic!("no native floor for `{other}`"),
        }
    }
    start.elapsed().as_nanos() as f64
}
