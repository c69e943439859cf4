//! The control build's row: the bench app plugged with the build `keyvalue-virt plug
//! --control` uses (memory backend, the call log on at its default limit of 1000 calls, so
//! that every timed call past the first thousand also drops the oldest logged call) against
//! the same app plugged with the shipped memory build, embedded. It times `get` and `set` of
//! keys that exist (`bench-app OP N 1000`), interleaved rounds, and prints the medians and
//! their ratio (the issue asks for at most 1.1x), with both components' sizes.

use keyvalue_virt_artifacts::{VIRT, VIRT_CONTROL};
use keyvalue_virt_compose::plug_control;

use crate::report::median;
use crate::run;

/// The operations timed.
const OPS: [&str; 2] = ["get", "set"];
/// The keys the app stores before the timed calls (the calls cycle over them).
const KEYS: usize = 1000;

/// Times `get` and `set` through both builds and prints the table; `plugged` plugs the bench
/// app with a component.
pub fn control_table(app: &[u8], plugged: &dyn Fn(&[u8]) -> Vec<u8>, quick: bool) {
    let (calls, rounds) = if quick { (20_000, 3) } else { (200_000, 7) };
    let with = plug_control(app, VIRT_CONTROL)
        .unwrap_or_else(|e| panic!("failed to plug the bench app with --control: {e}"));
    let pres = [run::prepare(&plugged(VIRT)), run::prepare(&with)];
    println!(
        "\ncontrol interface: `get`/`set` of {KEYS} existing keys, {calls} calls a run, memory \
         backend, embedded; median ns per call of {rounds} interleaved rounds"
    );
    println!(
        "{:<5} {:>17} {:>14} {:>7}",
        "op", "without --control", "with --control", "ratio"
    );
    for op in OPS {
        let mut samples: [Vec<f64>; 2] = Default::default();
        for round in 0..rounds {
            for i in 0..2 {
                let which = (i + round) % 2;
                let args = [op.to_owned(), calls.to_string(), KEYS.to_string()];
                let (stdout, _) = run::embedded(&pres[which], &args);
                samples[which].push(ns_per_call(&stdout, op));
            }
        }
        let [without, with] = samples.map(|mut s| median(&mut s));
        println!(
            "{op:<5} {:>14.0} ns {:>11.0} ns {:>6.2}x",
            without,
            with,
            with / without
        );
    }
    println!(
        "component sizes: {} bytes without --control (memory backend), {} with (every backend \
         and the control interface)",
        VIRT.len(),
        VIRT_CONTROL.len()
    );
}

/// The nanoseconds per call of the `OP N NANOSECONDS` line of `op` in `stdout`.
fn ns_per_call(stdout: &str, op: &str) -> f64 {
    stdout
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields[..] {
                [name, calls, ns] if name == op => {
                    Some(ns.parse::<f64>().ok()? / calls.parse::<f64>().ok()?)
                }
                _ => None,
            }
        })
        .unwrap_or_else(|| panic!("no `{op}` line in the bench app's output: {stdout:?}"))
}
