//! The redis backend's rows: the bench app plugged with keyvalue-virt baked for `--backend
//! redis --url redis://127.0.0.1:PORT`, embedded with the network granted, against
//! the same backend code called natively in this process over the same loopback server, so
//! the ratio is what the component and `wasi:sockets` add to the same Redis commands. Both read
//! replies the same way (`backend/redis/net.rs`: a bounded spin of non-blocking reads, then a
//! wait), so the ratio compares like with like. These overwrite and read [`REDIS_KEYS`] keys
//! that exist (`bench-app OP N KEYS`). `get`, `set` and `increment` are one round trip each;
//! `get-many` is one round trip of [`BATCH`] `GET`s in a pipeline.

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
use crate::report::median;

/// The operations timed on the redis backend: the bench app's name, and the row's label.
const REDIS_OPS: [(&str, &str); 4] = [
    ("get", "get"),
    ("set", "set"),
    ("get-many", "get-many (100 GETs pipelined)"),
    ("increment", "increment"),
];
/// Calls per run (each is a loopback round trip: tens of microseconds).
const REDIS_CALLS: usize = 3000;
/// Calls per run with `--quick`.
const REDIS_CALLS_QUICK: usize = 500;
/// The keys the bench app and the floor set before a run (the `get`s read them).
const REDIS_KEYS: usize = 300;
/// The keys of one `get-many`, as the bench app asks for them.
const BATCH: usize = 100;
/// Runs per operation, the two sides taking turns.
const REDIS_RUNS: usize = 7;
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
         keys, {calls} calls per run, {REDIS_RUNS} interleaved runs, ns per call as best \
         (median): keyvalue-virt in wasmtime 48 embedded (concurrency support off) against \
         native, the same backend code in this process over the same server",
        server.port
    );
    println!(
        "{:<31} {:>15} {:>15} {:>15} {:>7}",
        "op", "native", "keyvalue-virt", "ratio", "target"
    );
    let mut rows = Vec::new();
    let mut round_trip = None;
    for (op, label) in REDIS_OPS {
        let (n, keys) = (calls.to_string(), REDIS_KEYS.to_string());
        let args = [op, &n, &keys];
        let (mut floor, mut virt) = (Vec::new(), Vec::new());
        let per = calls as f64;
        // The two take turns, so that neither always runs on a server just warmed by the other.
        for run in 0..REDIS_RUNS {
            let virt_run = || {
                let outcome = run_component_with(&component, "bench-app", &args, network);
                parse(&outcome.assert_ok().stdout) / per
            };
            if run % 2 == 0 {
                floor.push(native_redis(&server, op, calls) / per);
                virt.push(virt_run());
            } else {
                virt.push(virt_run());
                floor.push(native_redis(&server, op, calls) / per);
            }
        }
        let best = |s: &[f64]| s.iter().copied().fold(f64::INFINITY, f64::min);
        let (floor_best, virt_best) = (best(&floor), best(&virt));
        let (floor_mid, virt_mid) = (median(&mut floor.clone()), median(&mut virt.clone()));
        println!(
            "{:<31} {:>15} {:>15} {:>15} {:>6.1}x",
            label,
            format!("{floor_best:.0} ({floor_mid:.0})"),
            format!("{virt_best:.0} ({virt_mid:.0})"),
            format!(
                "{:.2}x ({:.2}x)",
                virt_best / floor_best,
                virt_mid / floor_mid
            ),
            TARGET
        );
        if op == "get" {
            round_trip = Some((virt_best / floor_best, virt_mid / floor_mid));
        }
        rows.push(json!({
            "op": op,
            "label": label,
            "calls": calls,
            "keys": REDIS_KEYS,
            "value_size": VALUE_SIZE,
            "floor_ns_per_call": floor,
            "virt_ns_per_call": virt,
            "ratio_to_floor_median": virt_mid / floor_mid,
        }));
    }
    if let Some((best, mid)) = round_trip {
        println!(
            "redis round trip (one GET), keyvalue-virt / native: {best:.2}x best, {mid:.2}x \
             median (target {TARGET}x)"
        );
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
