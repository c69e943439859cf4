//! `cargo bench`: what a `wasi:keyvalue` call costs through keyvalue-virt, against the floor.
//!
//! The bench app (`tests/guests/src/bin/bench-app.rs`) times N calls of one operation from
//! inside the guest. It is plugged once with keyvalue-virt and once with `keyvalue-virt-null`, a
//! component that exports the same interfaces and does nothing but return same-sized results,
//! so the difference is the work keyvalue-virt does. Both run in wasmtime embedded here
//! (concurrency support off), and on the `wasmtime run` CLI when it is installed. Figures are
//! the best of several runs; compare ratios, not nanoseconds, across machines.
//!
//! Then the fs backend: the bench app plugged with keyvalue-virt baked for `--backend fs`
//! (`--sync always` and `--sync never`) on a fresh store directory granted at `/kv`, against
//! the floor of the same backend code called natively in this process on a directory of the
//! same filesystem, so the ratio is what the component and WASI add to the same file
//! operations.
//!
//! `cargo bench --bench calls -- N` sets the calls per run of the memory backend (default
//! 200000); the fs backend makes [`FS_CALLS_SYNC_NEVER`] or [`FS_CALLS_SYNC_ALWAYS`] calls.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use keyvalue_virt_artifacts::guests;
use keyvalue_virt_core::backend::fs::Fs;
use keyvalue_virt_core::backend::{Backend, BucketOps};
use keyvalue_virt_core::config::{Config as VirtConfig, SyncMode};
use keyvalue_virt_harness::{
    self as harness, baked_virt, compile, fs_config, grant, read, run_component,
    run_component_with, store_dir,
};

const OPS: [&str; 6] = ["set", "get", "exists", "increment", "get-many", "set-many"];
const RUNS: usize = 5;
const BATCH: f64 = 100.0;

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

fn main() {
    // Unless asked for, no backtraces in library errors: with `RUST_BACKTRACE=1` in the
    // environment, wasmtime captures one for every failed WASI call (a `get` makes one, the
    // lookup of a claim that is not there), which costs more than the call itself.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: no other thread has started yet.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    let calls: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(200_000);
    let app = read(Path::new(guests::BENCH_APP));
    let plugged = |virt: &[u8]| {
        keyvalue_virt_compose::plug(&app, virt)
            .unwrap_or_else(|e| panic!("failed to plug the bench app: {e}"))
    };
    let floor = plugged(&read(Path::new(guests::NULL_VIRT)));
    let virt = plugged(keyvalue_virt_artifacts::VIRT);
    let cli = wasmtime_cli();

    println!(
        "wasmtime 48 embedded (concurrency support off), {calls} calls per run, best of {RUNS}"
    );
    let (floor_c, virt_c) = (compile(&floor), compile(&virt));
    table(calls, |op| {
        let time = |component| {
            best(RUNS, || {
                parse(
                    &run_component(component, "bench-app", &[op, &calls.to_string()])
                        .assert_ok()
                        .stdout,
                )
            })
        };
        (time(&floor_c), time(&virt_c))
    });

    match &cli {
        Some(version) => {
            let (floor_path, virt_path) = (
                write_scratch("bench-floor.wasm", &floor),
                write_scratch("bench-virt.wasm", &virt),
            );
            println!();
            println!("{version} (`wasmtime run`)");
            table(calls, |op| {
                (
                    best(RUNS, || {
                        run_cli(&floor_path, None, &[op, &calls.to_string()])
                    }),
                    best(RUNS, || {
                        run_cli(&virt_path, None, &[op, &calls.to_string()])
                    }),
                )
            });
        }
        None => println!("\n(`wasmtime` is not on PATH: skipping the `wasmtime run` figures)"),
    }

    fs_tables(&plugged, cli.as_deref());
}

/// The fs backend's tables: the bench app plugged with keyvalue-virt baked for the fs backend,
/// embedded (and on `wasmtime run` if `cli` is its version), against the same backend code
/// called natively.
fn fs_tables(plugged: &dyn Fn(&[u8]) -> Vec<u8>, cli: Option<&str>) {
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
         in wasmtime 48 embedded (concurrency support off) against the floor, the same backend \
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
        "{version} (`wasmtime run --dir HOST::{}`) against the same native floor",
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
                run_cli(&path, Some(&dir), &args)
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
        "op", "sync", "calls", "floor ns", "keyvalue-virt ns", "ratio", "target"
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
    for i in 0..fs_calls(sync) {
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

/// The version line of the `wasmtime` CLI, or `None` when it is not on PATH.
fn wasmtime_cli() -> Option<String> {
    let out = Command::new("wasmtime").arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Writes `bytes` to `name` in the scratch directory, for `wasmtime run`.
fn write_scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let path = harness::scratch_dir().join(name);
    std::fs::write(&path, bytes)
        .unwrap_or_else(|e| panic!("failed to write `{}`: {e}", path.display()));
    path
}

/// Prints one row per operation: nanoseconds per call for the floor and for keyvalue-virt
/// (per key for batches of 100), and their ratio.
fn table(calls: usize, mut measure: impl FnMut(&str) -> (f64, f64)) {
    println!(
        "{:<10} {:>12} {:>16} {:>7}",
        "op", "floor ns", "keyvalue-virt ns", "ratio"
    );
    for op in OPS {
        let (floor, virt) = measure(op);
        let per = if op.ends_with("-many") {
            calls as f64 * BATCH
        } else {
            calls as f64
        };
        let unit = if op.ends_with("-many") { " /key" } else { "" };
        println!(
            "{:<10} {:>12.0} {:>16.0} {:>6.2}x{unit}",
            op,
            floor / per,
            virt / per,
            virt / floor
        );
    }
}

/// The least of `runs` measurements, in nanoseconds.
fn best(runs: usize, mut run: impl FnMut() -> f64) -> f64 {
    (0..runs).map(|_| run()).fold(f64::INFINITY, f64::min)
}

/// Reads the `OP N NANOSECONDS` line the bench app prints.
fn parse(stdout: &str) -> f64 {
    stdout
        .split_whitespace()
        .nth(2)
        .and_then(|ns| ns.parse().ok())
        .unwrap_or_else(|| panic!("unexpected bench app output: {stdout:?}"))
}

/// Runs `component` on `wasmtime run` with `args`, granting `dir` at the guest's `/kv` if
/// given, and returns the nanoseconds the bench app reports.
fn run_cli(component: &Path, dir: Option<&Path>, args: &[&str]) -> f64 {
    let mut command = Command::new("wasmtime");
    command.arg("run");
    if let Some(dir) = dir {
        command
            .arg("--dir")
            .arg(format!("{}::{}", dir.display(), harness::GUEST_DIR));
    }
    let out = command
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
