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

use keyvalue_virt_artifacts::guests;
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
    let floor = socket_floor(&server, calls);
    json!({ "runtime": "embedded", "target_ratio": TARGET, "rows": rows, "wasi_floor": floor })
}

/// The WASI floor of a round trip (`tests/guests/src/bin/socket-floor.rs`, embedded as the
/// bench app is) against the same `GET` made natively with the fewest calls ([`native_trips`]),
/// runs taking turns: what the runtime alone adds to a round trip, hence the best ratio any
/// code in the component can reach. Also prints what each WASI call of a round trip costs,
/// and how often the runtime's I/O thread (a tokio worker) is switched to per trip.
fn socket_floor(server: &RedisServer, calls: usize) -> Value {
    let component = compile(&std::fs::read(guests::SOCKET_FLOOR).expect("read socket-floor"));
    let (port, n) = (server.port.to_string(), calls.to_string());
    let (mut native, mut trips) = (Vec::new(), Vec::<(String, Vec<(f64, f64, f64)>)>::new());
    let mut calls_ns = Vec::new();
    let mut switches = 0;
    for run in 0..REDIS_RUNS {
        if run % 2 == 0 {
            native.push(native_trips(server.port, calls));
        }
        let before = worker_switches();
        let outcome = run_component_with(&component, "socket-floor", &[&port, &n], network);
        switches += worker_switches() - before;
        for line in outcome.assert_ok().stdout.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                ["call", name, ns] if run == 0 => calls_ns.push(format!("{name} {ns}")),
                ["trip", name, mean, median, _send, first] => {
                    let number = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN);
                    let figures = (number(mean), number(median), number(first));
                    match trips.iter_mut().find(|(known, _)| known == name) {
                        Some((_, runs)) => runs.push(figures),
                        None => trips.push((name.to_string(), vec![figures])),
                    }
                }
                _ => {}
            }
        }
        if run % 2 == 1 {
            native.push(native_trips(server.port, calls));
        }
    }
    let summary = |runs: &[(f64, f64)]| {
        let best = runs.iter().map(|r| r.0).fold(f64::INFINITY, f64::min);
        let mut medians: Vec<f64> = runs.iter().map(|r| r.1).collect();
        (best, median(&mut medians))
    };
    let (native_best, native_mid) = summary(&native);
    println!(
        "WASI floor of one GET round trip (tests/guests/src/bin/socket-floor.rs embedded, against \
         the same GET natively over std::net with non-blocking reads), ns per trip as best mean \
         (median of the runs' medians):"
    );
    println!(
        "  {:<44} {:>17}",
        "native: write, reads",
        format!("{native_best:.0} ({native_mid:.0})")
    );
    let mut rows = vec![json!({ "name": "native", "runs": native })];
    for (name, runs) in &trips {
        let (best, mid) = summary(&runs.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>());
        let first = median(&mut runs.iter().map(|r| r.2).collect::<Vec<_>>());
        println!(
            "  {:<44} {:>17} {:>15}   first read had the reply: {first:.0}%",
            format!("wasi {name}"),
            format!("{best:.0} ({mid:.0})"),
            format!("{:.2}x ({:.2}x)", best / native_best, mid / native_mid)
        );
        rows.push(json!({ "name": name, "runs": runs }));
    }
    println!("  one WASI call, ns: {}", calls_ns.join(", "));
    let per_trip = switches as f64 / (REDIS_RUNS * calls * trips.len()) as f64;
    println!(
        "  switches to the runtime's I/O thread per trip (over the floor's trips): {per_trip:.2}"
    );
    json!({ "trips": rows, "calls": calls_ns, "io_thread_switches_per_trip": per_trip })
}

/// `calls` round trips of `GET floor` in this process with the calls the WASI floor makes
/// (one `write`, non-blocking reads until the whole reply is in): the mean and the median ns.
fn native_trips(port: u16, calls: usize) -> (f64, f64) {
    use std::io::{ErrorKind, Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream.set_nonblocking(true).expect("non-blocking");
    let get = b"*2\r\n$3\r\nGET\r\n$5\r\nfloor\r\n";
    let reply_len = 6 + VALUE_SIZE + 2;
    let mut chunk = [0; 4096];
    // The value the socket floor sets, in case this runs first.
    let mut set = format!("*3\r\n$3\r\nSET\r\n$5\r\nfloor\r\n${VALUE_SIZE}\r\n").into_bytes();
    set.extend_from_slice(&[b'7'; VALUE_SIZE]);
    set.extend_from_slice(b"\r\n");
    stream.write_all(&set).expect("write");
    let mut got = 0;
    while got < 5 {
        match stream.read(&mut chunk) {
            Ok(0) => panic!("redis-server closed the connection"),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let start = Instant::now();
        stream.write_all(get).expect("write");
        let mut got = 0;
        while got < reply_len {
            match stream.read(&mut chunk) {
                Ok(0) => panic!("redis-server closed the connection"),
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
        }
        times.push(start.elapsed().as_nanos() as f64);
    }
    let mean = times.iter().sum::<f64>() / calls as f64;
    (mean, median(&mut times))
}

/// Context switches so far of this process's tokio worker threads (`tokio-rt-worker`:
/// wasmtime-wasi's I/O threads), from `/proc`; 0 where that cannot be read.
fn worker_switches() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|comm| comm.starts_with("tokio-"))
        })
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|line| line.contains("ctxt_switches"))
                .filter_map(|line| line.split_whitespace().last()?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
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
