//! `cargo bench`: what a `wasi:keyvalue` call costs through keyvalue-virt, against the floor.
//!
//! The bench app (`tests/guests/src/bin/bench-app.rs`) times N calls of one operation from
//! inside the guest. It is plugged once with keyvalue-virt and once with `keyvalue-virt-null`, a
//! component that exports the same interfaces and does nothing but return same-sized results,
//! so the difference is the work keyvalue-virt does. Both run in wasmtime embedded here
//! (concurrency support off), and on the `wasmtime run` CLI when it is installed. Figures are
//! the best of several runs; compare ratios, not nanoseconds, across machines.
//!
//! `cargo bench --bench calls -- N` sets the calls per run (default 200000).

use std::path::Path;
use std::process::Command;

use keyvalue_virt_artifacts::guests;
use keyvalue_virt_harness::{self as harness, compile, read, run_component};

const OPS: [&str; 6] = ["set", "get", "exists", "increment", "get-many", "set-many"];
const RUNS: usize = 5;
const BATCH: f64 = 100.0;

fn main() {
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

    println!(
        "wasmtime 48 embedded (concurrency support off), {calls} calls per run, best of {RUNS}"
    );
    let (floor_c, virt_c) = (compile(&floor), compile(&virt));
    table(calls, |op| {
        let time = |component| {
            best(|| {
                parse(
                    &run_component(component, "bench-app", &[op, &calls.to_string()])
                        .assert_ok()
                        .stdout,
                )
            })
        };
        (time(&floor_c), time(&virt_c))
    });

    let cli = Command::new("wasmtime").arg("--version").output();
    match cli {
        Ok(out) if out.status.success() => {
            let dir = harness::scratch_dir();
            let (floor_path, virt_path) =
                (dir.join("bench-floor.wasm"), dir.join("bench-virt.wasm"));
            std::fs::write(&floor_path, &floor).expect("write the plugged floor app");
            std::fs::write(&virt_path, &virt).expect("write the plugged virt app");
            println!();
            println!(
                "{} (`wasmtime run`)",
                String::from_utf8_lossy(&out.stdout).trim()
            );
            table(calls, |op| {
                (
                    best(|| run_cli(&floor_path, op, calls)),
                    best(|| run_cli(&virt_path, op, calls)),
                )
            });
        }
        _ => println!("\n(`wasmtime` is not on PATH: skipping the `wasmtime run` figures)"),
    }
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

/// The least of [`RUNS`] measurements, in nanoseconds.
fn best(mut run: impl FnMut() -> f64) -> f64 {
    (0..RUNS).map(|_| run()).fold(f64::INFINITY, f64::min)
}

/// Reads the `OP N NANOSECONDS` line the bench app prints.
fn parse(stdout: &str) -> f64 {
    stdout
        .split_whitespace()
        .nth(2)
        .and_then(|ns| ns.parse().ok())
        .unwrap_or_else(|| panic!("unexpected bench app output: {stdout:?}"))
}

fn run_cli(component: &Path, op: &str, calls: usize) -> f64 {
    let out = Command::new("wasmtime")
        .arg("run")
        .arg(component)
        .args([op, &calls.to_string()])
        .output()
        .expect("failed to run `wasmtime run`");
    assert!(
        out.status.success(),
        "`wasmtime run` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&String::from_utf8_lossy(&out.stdout))
}
