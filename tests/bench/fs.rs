//! The fs backend's rows: the bench app plugged with keyvalue-virt baked for `--backend fs`
//! (`--sync always` and `--sync never`) on a fresh store directory granted at `/kv`, against
//! the floor of the same backend code called natively in this process on a directory of the
//! same filesystem, so the ratio is what the component and WASI add to the same file
//! operations. These overwrite and read [`FS_KEYS`] keys that exist (`bench-app OP N KEYS`).

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use keyvalue_virt_core::backend::fs::Fs;
use keyvalue_virt_core::backend::{Backend, BucketOps};
use keyvalue_virt_core::config::{Config as VirtConfig, SyncMode};
use keyvalue_virt_harness::{
    self as harness, baked_virt, compile, fs_config, grant, run_component_with, store_dir,
};

use serde_json::{Value, json};

use crate::report::median;
use crate::run::write_scratch;

/// The operations timed on the fs backend.
const FS_OPS: [&str; 3] = ["get", "set", "increment"];
/// Calls per run on the fs backend with `--sync never` (each costs microseconds).
const FS_CALLS_SYNC_NEVER: usize = 2000;
/// Calls per run on the fs backend with `--sync always` (each write costs a sync: milliseconds).
const FS_CALLS_SYNC_ALWAYS: usize = 300;
/// The keys the bench app and the floor set before an fs run (the `get`s read them).
const FS_KEYS: usize = 300;
/// Runs per fs configuration; the best counts.
const FS_RUNS: usize = 3;
/// The size of the values the bench app writes.
const VALUE_SIZE: usize = 100;

/// `get` calls per run in [`get_table`], and with `--quick`.
const GET_CALLS: usize = 5000;
const GET_CALLS_QUICK: usize = 1000;
/// Interleaved runs of each configuration in [`get_table`].
const GET_RUNS: usize = 7;
/// The ratios the issue asks of `get`: to native, or else to the WASI floor.
const GET_TARGET_NATIVE: f64 = 2.0;
const GET_TARGET_FLOOR: f64 = 1.2;

/// `get` three ways: the backend's code native in this process, keyvalue-virt (`--sync never`)
/// plugged into the bench app, and the WASI floor (`tests/fs-floor`: the same WASI calls and
/// nothing else) plugged the same way; embedded and, if `cli` is its version, on `wasmtime
/// run`. Each run stores [`FS_KEYS`] keys of 100 bytes and times `get`s of them; the runs of
/// the three take turns. Prints best and median per call and both ratios; returns them.
pub fn get_table(
    plugged: &dyn Fn(&[u8]) -> Vec<u8>,
    floor: &[u8],
    cli: Option<&str>,
    quick: bool,
) -> Value {
    let config = VirtConfig {
        sync: SyncMode::Never,
        ..fs_config()
    };
    let apps = [plugged(&baked_virt(&config)), plugged(floor)];
    let calls = if quick { GET_CALLS_QUICK } else { GET_CALLS };
    let (n, keys) = (calls.to_string(), FS_KEYS.to_string());
    let args = ["get", n.as_str(), keys.as_str()];

    println!();
    println!(
        "fs get: {VALUE_SIZE}-byte values, {FS_KEYS} keys, {calls} calls per run, {GET_RUNS} \
         interleaved runs, ns per call as best (median); native: the backend's code in this \
         process; floor: tests/fs-floor, the WASI calls of a get (open-at, read, drop) and \
         nothing else"
    );
    println!(
        "{:<14} {:>15} {:>15} {:>15} {:>16} {:>16}",
        "runtime",
        "native",
        "keyvalue-virt",
        "WASI floor",
        format!("virt/native({GET_TARGET_NATIVE:.1}x)"),
        format!("virt/floor({GET_TARGET_FLOOR:.1}x)")
    );
    let mut rows = Vec::new();
    let mut row = |runtime: &str, run: &mut dyn FnMut(usize) -> f64| {
        let mut samples: [Vec<f64>; 3] = Default::default();
        for round in 0..GET_RUNS {
            for i in 0..3 {
                let which = (i + round) % 3;
                let ns = match which {
                    0 => native_fs_calls("get", SyncMode::Never, calls),
                    app => run(app - 1),
                };
                samples[which].push(ns / calls as f64);
            }
        }
        let best = samples
            .each_ref()
            .map(|s| s.iter().copied().fold(f64::INFINITY, f64::min));
        let mid = samples.each_mut().map(|s| median(s));
        let cell = |i: usize| format!("{:.0} ({:.0})", best[i], mid[i]);
        let ratio =
            |a: usize, b: usize| format!("{:.2}x ({:.2}x)", best[a] / best[b], mid[a] / mid[b]);
        println!(
            "{runtime:<14} {:>15} {:>15} {:>15} {:>16} {:>16}",
            cell(0),
            cell(1),
            cell(2),
            ratio(1, 0),
            ratio(1, 2)
        );
        rows.push(json!({
            "runtime": runtime,
            "calls": calls,
            "native_ns": samples[0],
            "virt_ns": samples[1],
            "floor_ns": samples[2],
            "virt_to_native_median": mid[1] / mid[0],
            "virt_to_floor_median": mid[1] / mid[2],
        }));
    };

    let components = apps.each_ref().map(|app| compile(app));
    row("embedded", &mut |app| {
        let dir = store_dir("bench-fs-get");
        parse(
            &run_component_with(&components[app], "bench-app", &args, grant(&dir))
                .assert_ok()
                .stdout,
        )
    });
    if cli.is_some() {
        let paths = [
            write_scratch("bench-fs-get-virt.wasm", &apps[0]),
            write_scratch("bench-fs-get-floor.wasm", &apps[1]),
        ];
        row("wasmtime run", &mut |app| {
            let dir = store_dir("bench-fs-get");
            run_cli(&paths[app], &dir, &args)
        });
    }
    json!({
        "value_size": VALUE_SIZE,
        "keys": FS_KEYS,
        "target_to_native": GET_TARGET_NATIVE,
        "target_to_floor": GET_TARGET_FLOOR,
        "rows": rows,
    })
}

/// The fs backend's tables: the bench app plugged with keyvalue-virt baked for the fs backend,
/// embedded (and on `wasmtime run` if `cli` is its version), against the same backend code
/// called natively.
pub fn fs_tables(plugged: &dyn Fn(&[u8]) -> Vec<u8>, cli: Option<&str>) {
    let apps = SyncMode::ALL.map(|sync| {
        let config = VirtConfig {
            sync,
            ..fs_config()
        };
        (sync, plugged(&baked_virt(&config)))
    });

    println!();
    println!(
        "fs backend, {VALUE_SIZE}-byte values, {FS_KEYS} keys, best of {FS_RUNS}: keyvalue-virt \
         in wasmtime 48 embedded (concurrency support off) against native, the same backend \
         code native in this process (target: the issue's ratio, for `wasmtime run`)"
    );
    fs_header();
    for (sync, app) in &apps {
        let component = compile(app);
        for op in FS_OPS {
            let (calls, keys) = (fs_calls(*sync).to_string(), FS_KEYS.to_string());
            let args = [op, &calls, &keys];
            let (floor, virt) = fs_pair(op, *sync, || {
                let dir = store_dir("bench-fs-virt");
                parse(
                    &run_component_with(&component, "bench-app", &args, grant(&dir))
                        .assert_ok()
                        .stdout,
                )
            });
            fs_row(op, *sync, floor, virt);
        }
    }

    let Some(version) = cli else {
        println!("\n(`wasmtime` is not on PATH: skipping the fs backend's `wasmtime run` figures)");
        return;
    };
    println!();
    println!(
        "{version} (`wasmtime run --dir HOST::{}`) against the same native code",
        harness::GUEST_DIR
    );
    fs_header();
    for (sync, app) in &apps {
        let path = write_scratch(&format!("bench-fs-{}.wasm", sync.name()), app);
        for op in FS_OPS {
            let (calls, keys) = (fs_calls(*sync).to_string(), FS_KEYS.to_string());
            let args = [op, &calls, &keys];
            let (floor, virt) = fs_pair(op, *sync, || {
                let dir = store_dir("bench-fs-cli");
                run_cli(&path, &dir, &args)
            });
            fs_row(op, *sync, floor, virt);
        }
    }
}

/// The best of [`FS_RUNS`] runs of the native floor of `op` and of `virt`, in nanoseconds.
/// The two take turns, first one then the other, so that both run on a filesystem with the
/// same recent history (on ext4 without a journal, a file created within half a minute of
/// many deletions costs more).
fn fs_pair(op: &str, sync: SyncMode, mut virt: impl FnMut() -> f64) -> (f64, f64) {
    let (mut floor_best, mut virt_best) = (f64::INFINITY, f64::INFINITY);
    for run in 0..FS_RUNS {
        if run % 2 == 0 {
            floor_best = floor_best.min(native_fs(op, sync));
            virt_best = virt_best.min(virt());
        } else {
            virt_best = virt_best.min(virt());
            floor_best = floor_best.min(native_fs(op, sync));
        }
    }
    (floor_best, virt_best)
}

/// Calls per fs run with `sync`.
fn fs_calls(sync: SyncMode) -> usize {
    match sync {
        SyncMode::Always => FS_CALLS_SYNC_ALWAYS,
        SyncMode::Never => FS_CALLS_SYNC_NEVER,
    }
}

/// The ratio to the floor the issue asks of `op` on `wasmtime run`.
fn fs_target(op: &str) -> f64 {
    if op == "get" { 2.0 } else { 1.5 }
}

/// Prints the columns of an fs table.
fn fs_header() {
    println!(
        "{:<10} {:<6} {:>6} {:>10} {:>16} {:>7} {:>7}",
        "op", "sync", "calls", "native ns", "keyvalue-virt ns", "ratio", "target"
    );
}

/// Prints one row of an fs table: nanoseconds per call for the floor and for keyvalue-virt,
/// their ratio and the target ratio.
fn fs_row(op: &str, sync: SyncMode, floor: f64, virt: f64) {
    let calls = fs_calls(sync);
    let per = calls as f64;
    println!(
        "{:<10} {:<6} {:>6} {:>10.0} {:>16.0} {:>6.2}x {:>5.1}x",
        op,
        sync.name(),
        calls,
        floor / per,
        virt / per,
        virt / floor,
        fs_target(op)
    );
}

/// The floor of one fs run: what the bench app does, with the same backend code called
/// directly in this process on a fresh store directory. Returns the nanoseconds of the calls.
fn native_fs(op: &str, sync: SyncMode) -> f64 {
    native_fs_calls(op, sync, fs_calls(sync))
}

/// [`native_fs`] with `calls` calls.
fn native_fs_calls(op: &str, sync: SyncMode, calls: usize) -> f64 {
    let dir = store_dir("bench-fs-floor");
    let bucket = Fs::new(&dir, true, sync == SyncMode::Always)
        .open("bench")
        .unwrap_or_else(|e| panic!("failed to open the native store: {e:?}"));
    let keys: Vec<String> = (0..FS_KEYS).map(|i| format!("key-{i:04}")).collect();
    let value = vec![7u8; VALUE_SIZE];
    for key in &keys {
        bucket.set(key.clone(), value.clone()).expect("set");
    }

    let start = Instant::now();
    for i in 0..calls {
        let key = &keys[i % FS_KEYS];
        match op {
            "get" => {
                black_box(bucket.get(key).expect("get"));
            }
            "set" => bucket.set(key.clone(), value.clone()).expect("set"),
            // What `increment` does in the component: a decimal `u64` updated in place.
            "increment" => bucket
                .update("counter", &mut |old| {
                    let current: u64 = old.map_or(0, |bytes| {
                        std::str::from_utf8(bytes)
                            .ok()
                            .and_then(|text| text.parse().ok())
                            .expect("the counter holds a number")
                    });
                    Ok(black_box(current + 1).to_string().into_bytes())
                })
                .expect("increment"),
            other => panic!("no native floor for `{other}`"),
        }
    }
    start.elapsed().as_nanos() as f64
}

/// Reads the `OP N NANOSECONDS` line the bench app prints.
pub fn parse(stdout: &str) -> f64 {
    stdout
        .split_whitespace()
        .nth(2)
        .and_then(|ns| ns.parse().ok())
        .unwrap_or_else(|| panic!("unexpected bench app output: {stdout:?}"))
}

/// Runs `component` on `wasmtime run` with `args`, granting `dir` at the guest's `/kv`, and
/// returns the nanoseconds the bench app reports.
fn run_cli(component: &Path, dir: &Path, args: &[&str]) -> f64 {
    let out = Command::new("wasmtime")
        .arg("run")
        .arg("--dir")
        .arg(format!("{}::{}", dir.display(), harness::GUEST_DIR))
        .arg(component)
        .args(args)
        .output()
        .expect("failed to run `wasmtime run`");
    assert!(
        out.status.success(),
        "`wasmtime run` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&String::from_utf8_lossy(&out.stdout))
}
