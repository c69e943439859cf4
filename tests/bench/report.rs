//! The measurements, their medians and ratios: the printed tables and `results.json`.

use std::path::Path;

use serde_json::{Value, json};

use crate::{Config, KEY_SIZE, Runtime, Workload, size_name};

/// The operations the workloads time, in table order.
pub const OPS: [&str; 4] = ["set", "get", "set-many", "get-many"];

/// keyvalue-virt / floor the issue asks for on `runtime`, if it sets one.
pub fn floor_target(runtime: Runtime) -> Option<f64> {
    match runtime {
        Runtime::Embedded => Some(1.3),
        Runtime::Cli => Some(1.15),
        Runtime::Jco => None,
    }
}

/// Host / keyvalue-virt (throughput of keyvalue-virt relative to the host store) the issue
/// asks for on `runtime`, if it sets one; on jco, Map / keyvalue-virt of at least 0.5 (within
/// 2×).
pub fn host_target(runtime: Runtime) -> Option<f64> {
    match runtime {
        Runtime::Embedded => Some(1.25),
        Runtime::Cli => None,
        Runtime::Jco => Some(0.5),
    }
}

/// Most linear memory per key beyond its key and value bytes the issue allows.
const MEMORY_TARGET: f64 = 48.0;
/// Most the `get` latency may grow from the fewest keys to the most.
const LATENCY_TARGET: f64 = 2.0;

/// The timings of one operation of one workload in one configuration and runtime.
#[derive(Debug)]
pub struct Entry {
    /// The workload's name.
    pub workload: String,
    /// The operation.
    pub op: String,
    /// Where it ran.
    pub runtime: Runtime,
    /// What it ran against.
    pub config: Config,
    /// The keys stored.
    pub keys: usize,
    /// The size of each value.
    pub value_size: usize,
    /// Calls (keys for batches) per run.
    pub calls: usize,
    /// Nanoseconds per call (per key for batches), one per round.
    pub ns: Vec<f64>,
    /// The store's linear memory at the end of each round, in bytes (embedded runs only).
    pub memory: Vec<usize>,
}

impl Entry {
    /// The median of the rounds, in nanoseconds per call.
    pub fn median(&self) -> f64 {
        median(&mut self.ns.clone())
    }

    /// The median of the store's linear memory, in bytes.
    pub fn memory(&self) -> Option<f64> {
        let mut memory: Vec<f64> = self.memory.iter().map(|&m| m as f64).collect();
        (!memory.is_empty()).then(|| median(&mut memory))
    }
}

/// What instantiating the composed app costs, per configuration.
#[derive(Debug)]
pub struct Instantiation {
    /// Instantiations per configuration.
    pub count: usize,
    /// The median nanoseconds, in [`Config::ALL`] order.
    pub ns: [f64; 3],
}

/// Everything a run measured.
#[derive(Debug)]
pub struct Results {
    quick: bool,
    entries: Vec<Entry>,
    /// The instantiation times, once measured.
    pub instantiation: Option<Instantiation>,
    /// The redis backend's rows (`redis.rs`), once measured.
    pub redis: Option<Value>,
    /// Requests per second on `wasmtime serve` (`serve.rs`), once measured.
    pub serve: Option<Value>,
    /// fs `get` against native and the WASI floor (`fs.rs`), once measured.
    pub fs_get: Option<Value>,
}

impl Results {
    /// No measurements yet; `quick` if the counts are `--quick`'s.
    pub fn new(quick: bool) -> Self {
        Results {
            quick,
            entries: Vec::new(),
            instantiation: None,
            redis: None,
            serve: None,
            fs_get: None,
        }
    }

    /// Records the `OP N NANOSECONDS` lines of one run of `workload`.
    pub fn record(
        &mut self,
        workload: &Workload,
        runtime: Runtime,
        config: Config,
        stdout: &str,
        memory: Option<usize>,
    ) {
        for line in stdout.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [op, calls, ns] = fields[..] else {
                panic!("unexpected bench app output: {stdout:?}");
            };
            let (Ok(calls), Ok(ns)) = (calls.parse::<usize>(), ns.parse::<f64>()) else {
                panic!("unexpected bench app output: {stdout:?}");
            };
            let at = match self.position(&workload.name, op, runtime, config) {
                Some(at) => at,
                None => {
                    self.entries.push(Entry {
                        workload: workload.name.clone(),
                        op: op.to_owned(),
                        runtime,
                        config,
                        keys: workload.keys,
                        value_size: workload.value_size,
                        calls,
                        ns: Vec::new(),
                        memory: Vec::new(),
                    });
                    self.entries.len() - 1
                }
            };
            let entry = &mut self.entries[at];
            entry.ns.push(ns / calls as f64);
            entry.memory.extend(memory);
        }
    }

    fn position(
        &self,
        workload: &str,
        op: &str,
        runtime: Runtime,
        config: Config,
    ) -> Option<usize> {
        self.entries.iter().position(|e| {
            e.workload == workload && e.op == op && e.runtime == runtime && e.config == config
        })
    }

    /// The entry of `op` in `workload` on `runtime` in `config`, if measured.
    pub fn get(
        &self,
        workload: &str,
        op: &str,
        runtime: Runtime,
        config: Config,
    ) -> Option<&Entry> {
        self.position(workload, op, runtime, config)
            .map(|at| &self.entries[at])
    }

    /// The medians of floor, keyvalue-virt and host for `op` in `workload` on `runtime`.
    pub fn row(&self, workload: &str, op: &str, runtime: Runtime) -> Option<[f64; 3]> {
        let mut row = [0.0; 3];
        for (slot, config) in row.iter_mut().zip(Config::ALL) {
            *slot = self.get(workload, op, runtime, config)?.median();
        }
        Some(row)
    }

    /// Linear memory per key beyond the key and value bytes, from the embedded run of
    /// `workload`: keyvalue-virt's store minus the floor's, less the data, over the keys.
    pub fn memory_per_key(&self, workload: &Workload) -> Option<(f64, f64, f64)> {
        let store = |config| {
            self.get(&workload.name, "set", Runtime::Embedded, config)?
                .memory()
        };
        let (floor, virt) = (store(Config::Floor)?, store(Config::Virt)?);
        let keys = workload.keys as f64;
        let data = keys * (KEY_SIZE + workload.value_size) as f64;
        Some((floor, virt, (virt - floor - data) / keys))
    }
}

/// The median of `values` (sorted in place); NaN if there are none.
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if !values.len().is_multiple_of(2) {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// `ok` or `MISS` for `value` against a target that it must stay at or below (`at_most`) or
/// reach.
fn verdict(value: f64, target: Option<f64>, at_most: bool) -> &'static str {
    match target {
        None => "",
        Some(target) if (value <= target) == at_most => "ok",
        Some(_) => "MISS",
    }
}

/// Prints the tables: ns/op and ratios per runtime, `get` latency, memory, instantiation.
pub fn print(results: &Results, latency: &[Workload]) {
    for runtime in [Runtime::Embedded, Runtime::Cli, Runtime::Jco] {
        let host = if runtime == Runtime::Jco {
            "Map"
        } else {
            "host"
        };
        let mut header = false;
        // The workloads that ran on `runtime`, in the order they ran.
        let mut workloads: Vec<&str> = Vec::new();
        for entry in results.entries.iter().filter(|e| e.runtime == runtime) {
            if !workloads.contains(&entry.workload.as_str()) {
                workloads.push(&entry.workload);
            }
        }
        for workload in workloads {
            for op in OPS {
                let Some([floor, virt, host_ns]) = results.row(workload, op, runtime) else {
                    continue;
                };
                if !header {
                    println!(
                        "\n{}: ns per call (per key for batches of 100), medians",
                        runtime_title(runtime)
                    );
                    println!(
                        "{:<24} {:<9} {:>9} {:>14} {:>9} {:>11} {:>11}",
                        "workload",
                        "op",
                        "floor",
                        "keyvalue-virt",
                        host,
                        "virt/floor",
                        format!("{host}/virt")
                    );
                    header = true;
                }
                let (to_floor, to_host) = (virt / floor, host_ns / virt);
                println!(
                    "{:<24} {:<9} {:>9.0} {:>14.0} {:>9.0} {:>6.2}x {:<4} {:>6.2}x {:<4}",
                    workload,
                    op,
                    floor,
                    virt,
                    host_ns,
                    to_floor,
                    verdict(to_floor, floor_target(runtime), true),
                    to_host,
                    verdict(to_host, host_target(runtime), false),
                );
            }
        }
        if header {
            let targets = match runtime {
                Runtime::Embedded => "targets: virt/floor <= 1.3, host/virt >= 1.25",
                Runtime::Cli => "target: virt/floor <= 1.15",
                Runtime::Jco => "target: Map/virt >= 0.5 (keyvalue-virt within 2x of a Map)",
            };
            println!("({targets})");
        }
    }

    println!(
        "\n`get` latency, ns per call, by keys stored ({} B values)",
        crate::VALUE_SIZE
    );
    print!("{:<10}", "keys");
    let runtimes = [Runtime::Embedded, Runtime::Cli];
    for runtime in runtimes {
        for config in Config::ALL {
            print!(" {:>24}", format!("{}, {}", config.name(), runtime.name()));
        }
    }
    println!();
    for workload in latency {
        print!("{:<10}", workload.keys);
        for runtime in runtimes {
            for config in Config::ALL {
                match results.get(&workload.name, "get", runtime, config) {
                    Some(entry) => print!(" {:>24.0}", entry.median()),
                    None => print!(" {:>24}", "-"),
                }
            }
        }
        println!();
    }
    for runtime in runtimes {
        if let Some(spread) = latency_spread(results, latency, runtime) {
            println!(
                "keyvalue-virt {}: the slowest `get` is {spread:.2}x the fastest {} (target <= \
                 {LATENCY_TARGET})",
                runtime.name(),
                verdict(spread, Some(LATENCY_TARGET), true)
            );
        }
    }

    if let Some(workload) = latency.last()
        && let Some((floor, virt, per_key)) = results.memory_per_key(workload)
    {
        println!(
            "\nlinear memory after {} keys of {} (embedded): floor {:.1} MiB, keyvalue-virt {:.1} \
             MiB; beyond the {} B of key and value: {per_key:.1} bytes per key {} (target <= \
             {MEMORY_TARGET})",
            workload.keys,
            size_name(workload.value_size),
            floor / f64::from(1 << 20),
            virt / f64::from(1 << 20),
            KEY_SIZE + workload.value_size,
            verdict(per_key, Some(MEMORY_TARGET), true)
        );
    }

    if let Some(inst) = &results.instantiation {
        println!(
            "\ninstantiation of the composed app from a pre-instantiated `CommandPre` (fresh \
             store + instantiate, embedded), median of {}:",
            inst.count
        );
        for (config, ns) in Config::ALL.iter().zip(inst.ns) {
            println!("  {:<14} {:>8.1} µs", config.name(), ns / 1000.0);
        }
        println!(
            "  keyvalue-virt adds {:.1} µs to the floor",
            (inst.ns[1] - inst.ns[0]) / 1000.0
        );
    }
}

fn runtime_title(runtime: Runtime) -> &'static str {
    match runtime {
        Runtime::Embedded => "wasmtime 48 embedded (concurrency support off)",
        Runtime::Cli => "`wasmtime run`",
        Runtime::Jco => "jco 1.35 on Node.js (host: a JavaScript Map)",
    }
}

/// keyvalue-virt's slowest `get` over its fastest across the latency workloads on `runtime`.
fn latency_spread(results: &Results, latency: &[Workload], runtime: Runtime) -> Option<f64> {
    let ns: Vec<f64> = latency
        .iter()
        .filter_map(|w| Some(results.get(&w.name, "get", runtime, Config::Virt)?.median()))
        .collect();
    let max = ns.iter().copied().fold(f64::NAN, f64::max);
    let min = ns.iter().copied().fold(f64::NAN, f64::min);
    (ns.len() > 1).then_some(max / min)
}

/// Writes every entry, with medians and ratios, and the instantiation times to `path`.
pub fn write_json(results: &Results, memory: Option<&Workload>, path: &Path) {
    let entries: Vec<Value> = results
        .entries
        .iter()
        .map(|e| {
            let floor = results
                .get(&e.workload, &e.op, e.runtime, Config::Floor)
                .map(Entry::median);
            json!({
                "workload": e.workload,
                "op": e.op,
                "runtime": e.runtime.name(),
                "config": e.config.name(),
                "keys": e.keys,
                "value_size": e.value_size,
                "calls": e.calls,
                "ns_per_call": e.median(),
                "ratio_to_floor": floor.map(|floor| e.median() / floor),
                "rounds_ns_per_call": e.ns,
                "linear_memory_bytes": e.memory,
            })
        })
        .collect();
    let instantiation = results.instantiation.as_ref().map(|inst| {
        json!({
            "count": inst.count,
            "median_ns": Config::ALL.iter().zip(inst.ns)
                .map(|(config, ns)| (config.name().to_owned(), json!(ns)))
                .collect::<serde_json::Map<_, _>>(),
        })
    });
    let memory = memory.and_then(|workload| {
        let (floor, virt, per_key) = results.memory_per_key(workload)?;
        Some(json!({
            "workload": workload.name,
            "keys": workload.keys,
            "key_and_value_bytes": KEY_SIZE + workload.value_size,
            "floor_linear_memory_bytes": floor,
            "virt_linear_memory_bytes": virt,
            "overhead_bytes_per_key": per_key,
        }))
    });
    let document = json!({
        "quick": results.quick,
        "wasmtime": "48.0.8",
        "entries": entries,
        "memory": memory,
        "instantiation": instantiation,
        "redis": results.redis,
        "serve": results.serve,
        "fs_get": results.fs_get,
    });
    let text = serde_json::to_string_pretty(&document).expect("JSON of plain values");
    std::fs::write(path, text)
        .unwrap_or_else(|e| panic!("failed to write `{}`: {e}", path.display()));
}
