//! `cargo bench --bench calls`: what `wasi:keyvalue` costs through keyvalue-virt, against the
//! floor and against wasmtime's host store, on new keys.
//!
//! The bench app (`tests/guests/src/bin/bench-app.rs`) times its calls from inside the guest.
//! It runs in three configurations:
//! - **floor**: plugged with `tests/null-virt`, a component that exports the same interfaces
//!   and does nothing but return same-sized results: what a call costs the runtime alone;
//! - **keyvalue-virt**: plugged with keyvalue-virt (memory backend);
//! - **host**: unplugged, on wasmtime's host store (`wasmtime-wasi-keyvalue`, bucket `""`);
//!
//! each in wasmtime 48 embedded (concurrency support off, the harness's engine) and on the
//! `wasmtime run` CLI (`-S keyvalue` for the host store). The workloads: `set` of N new keys,
//! then `get` of them in a scrambled order; the same in batches of 100; 1-MiB values; and
//! `get` latency at 1,000 to 1,000,000 keys. Every figure is the median of interleaved rounds
//! (each round runs floor, keyvalue-virt and host in a rotating order).
//!
//! Then: linear memory per key after 1,000,000 keys (metered by a `ResourceLimiter`, the
//! floor's subtracted), the time to instantiate the composed app, the same app on jco
//! (Node.js) against a plain JavaScript `Map` (`map-store.mjs`), and the fs backend against
//! the same code native (`fs.rs`), and the redis backend on a `redis-server` started for the
//! run against the same code native over the same server (`redis.rs`).
//!
//! With `wrk` on PATH, requests per second of the HTTP example on `wasmtime serve` with the
//! redis backend against the fs backend (`serve.rs`). The fs backend's `get` is also timed
//! against a WASI floor (`tests/fs-floor`, the same WASI calls and nothing else).
//!
//! Writes `target/bench/results.json`, `target/bench/ops.svg` and
//! `target/bench/get-latency.svg`. Options (after `--`): `--quick` (small counts, for a smoke
//! test), `--no-cli`, `--no-jco`, `--no-fs`, `--no-redis`, `--no-serve`, `--no-control`, `--only
//! PART[,PART...]` (parts: `memory`, which includes jco, `fs`, `redis`, `serve`, `control`; for
//! example `--only redis,serve,fs` for the I/O backends' figures alone, `--only control` for the
//! control build's row, `control.rs`).

mod control;
mod fs;
mod plot;
mod redis;
mod report;
mod run;
mod serve;

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use keyvalue_virt_artifacts::guests;
use keyvalue_virt_harness::read;

use crate::report::{Instantiation, Results};

/// A component configuration the bench app runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Config {
    /// Plugged with `tests/null-virt`.
    Floor,
    /// Plugged with keyvalue-virt.
    Virt,
    /// Unplugged, on wasmtime's host store (or a JavaScript `Map` on jco).
    Host,
}

impl Config {
    /// Every configuration, in table order.
    pub const ALL: [Config; 3] = [Config::Floor, Config::Virt, Config::Host];

    /// The name in tables, JSON and plots.
    pub fn name(self) -> &'static str {
        match self {
            Config::Floor => "floor",
            Config::Virt => "keyvalue-virt",
            Config::Host => "host",
        }
    }
}

/// Where the bench app runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// wasmtime 48 embedded in this process, concurrency support off.
    Embedded,
    /// The `wasmtime run` CLI.
    Cli,
    /// jco 1.35 on Node.js; the host store is a JavaScript `Map`.
    Jco,
}

impl Runtime {
    /// The name in tables, JSON and plots.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Embedded => "embedded",
            Runtime::Cli => "wasmtime run",
            Runtime::Jco => "jco",
        }
    }
}

/// One run of the bench app, which prints one timing line per operation.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The name in tables and JSON.
    pub name: String,
    /// The bench app's arguments.
    pub args: Vec<String>,
    /// The keys stored when the timed reads run.
    pub keys: usize,
    /// The size of each value.
    pub value_size: usize,
}

impl Workload {
    fn load(keys: usize, value_size: usize, gets: usize) -> Self {
        Workload {
            name: format!("load {keys} x {}", size_name(value_size)),
            args: [
                "load",
                &keys.to_string(),
                &value_size.to_string(),
                &gets.to_string(),
            ]
            .map(str::to_owned)
            .to_vec(),
            keys,
            value_size,
        }
    }

    fn load_many(keys: usize, value_size: usize) -> Self {
        Workload {
            name: format!("load-many {keys} x {}", size_name(value_size)),
            args: ["load-many", &keys.to_string(), &value_size.to_string()]
                .map(str::to_owned)
                .to_vec(),
            keys,
            value_size,
        }
    }
}

/// `100 B`, `1 MiB`.
pub fn size_name(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} B")
    }
}

/// The counts of a run: the full default, or `--quick`.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// New keys of 100-byte values, single and batched.
    pub keys: usize,
    /// New keys of 1-MiB values.
    pub mib_keys: usize,
    /// The key counts at which `get` latency is measured.
    pub latency_keys: Vec<usize>,
    /// `get`s per latency run.
    pub latency_gets: usize,
    /// Interleaved rounds; medians count.
    pub rounds: usize,
    /// Instantiations per configuration.
    pub instantiations: usize,
    /// New keys on jco, where every call costs tens of microseconds.
    pub jco_keys: usize,
}

impl Sizes {
    /// The default: the counts.
    fn full() -> Self {
        Sizes {
            keys: 100_000,
            mib_keys: 200,
            latency_keys: vec![1_000, 10_000, 100_000, 1_000_000],
            latency_gets: 100_000,
            rounds: 5,
            instantiations: 2_000,
            jco_keys: 20_000,
        }
    }

    /// `--quick`: a smoke test of the whole harness in well under a minute.
    fn quick() -> Self {
        Sizes {
            keys: 5_000,
            mib_keys: 10,
            latency_keys: vec![1_000, 10_000, 100_000],
            latency_gets: 5_000,
            rounds: 3,
            instantiations: 100,
            jco_keys: 2_000,
        }
    }
}

/// The value size of the main workloads.
pub const VALUE_SIZE: usize = 100;
/// The value size of the large-value workload.
pub const MIB: usize = 1 << 20;
/// The bytes of each key the bench app writes (`key-` and seven digits).
pub const KEY_SIZE: usize = 11;

/// The command-line options (after `cargo bench --bench calls --`).
struct Options {
    quick: bool,
    /// The memory backend's tables, plots, memory and instantiation figures.
    memory: bool,
    cli: bool,
    jco: bool,
    fs: bool,
    redis: bool,
    serve: bool,
    /// The control build against the plain one (`control.rs`).
    control: bool,
}

/// The parts `--only` takes.
const PARTS: &str = "memory (with jco), fs, redis, serve, control";

impl Options {
    fn parse() -> Self {
        let mut options = Options {
            quick: false,
            memory: true,
            cli: true,
            jco: true,
            fs: true,
            redis: true,
            serve: true,
            control: true,
        };
        let usage = |other: &str| -> ! {
            eprintln!(
                "unknown option `{other}`; options: --quick, --no-cli, --no-jco, --no-fs, \
                 --no-redis, --no-serve, --no-control, --only-control, --only PART[,PART...] (parts: {PARTS})"
            );
            std::process::exit(2);
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--no-cli" => options.cli = false,
                "--no-jco" => options.jco = false,
                "--no-fs" => options.fs = false,
                "--no-redis" => options.redis = false,
                "--no-serve" => options.serve = false,
                "--no-control" => options.control = false,
                "--only-control" => {
                    (options.memory, options.fs, options.redis, options.serve) =
                        (false, false, false, false);
                }
                "--only" => {
                    let list = args.next().unwrap_or_else(|| usage("--only without parts"));
                    (
                        options.memory,
                        options.fs,
                        options.redis,
                        options.serve,
                        options.control,
                    ) = (false, false, false, false, false);
                    for part in list.split(',') {
                        match part.trim() {
                            "memory" => options.memory = true,
                            "fs" => options.fs = true,
                            "redis" => options.redis = true,
                            "serve" => options.serve = true,
                            "control" => options.control = true,
                            other => usage(&format!("--only {other}")),
                        }
                    }
                }
                // `cargo bench` passes `--bench`.
                "--bench" => {}
                other => usage(other),
            }
        }
        options
    }
}

fn main() {
    // Unless asked for, no backtraces in library errors: with `RUST_BACKTRACE=1` in the
    // environment, wasmtime captures one for every failed WASI call (the fs backend's `set`
    // makes one, the lookup of a claim that is not there), which costs more than the call.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: no other thread has started yet.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    let options = Options::parse();
    let sizes = if options.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    println!(
        "(on a machine busy with other work, every figure below measures the machine as much as \
         the code: compare them only with figures of the same run)"
    );

    let app = read(Path::new(guests::BENCH_APP));
    let plugged = |virt: &[u8]| {
        keyvalue_virt_compose::plug(&app, virt)
            .unwrap_or_else(|e| panic!("failed to plug the bench app: {e}"))
    };

    let cli = options.cli.then(run::wasmtime_cli).flatten();
    let mut runtimes = vec![Runtime::Embedded];
    match &cli {
        Some(version) => {
            println!("`wasmtime run`: {version}");
            runtimes.push(Runtime::Cli);
        }
        None if options.cli => {
            println!("(`wasmtime` is not on PATH: skipping the `wasmtime run` figures)")
        }
        None => {}
    }

    let mut results = Results::new(options.quick);
    let dir = keyvalue_virt_harness::workspace_root()
        .join("target")
        .join("bench");
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("failed to create `{}`: {e}", dir.display()));
    let mut plots = None;
    if options.memory {
        let floor = plugged(&read(Path::new(guests::NULL_VIRT)));
        let virt = plugged(keyvalue_virt_artifacts::VIRT);
        // In `Config::ALL` order.
        let components = [floor, virt, app.clone()];
        let mut workloads = vec![
            Workload::load(sizes.keys, VALUE_SIZE, sizes.keys),
            Workload::load_many(sizes.keys, VALUE_SIZE),
            Workload::load(sizes.mib_keys, MIB, sizes.mib_keys),
        ];
        let latency: Vec<Workload> = sizes
            .latency_keys
            .iter()
            .map(|&keys| Workload::load(keys, VALUE_SIZE, sizes.latency_gets))
            .collect();
        workloads.extend(latency.iter().cloned());

        println!(
            "{} rounds of {} workloads in {} configurations on {} runtimes; medians",
            sizes.rounds,
            workloads.len(),
            Config::ALL.len(),
            runtimes.len()
        );
        measure(&workloads, &runtimes, &sizes, &components, &mut results);

        results.instantiation = Some(instantiation(&sizes, &components));
        if options.jco {
            match run::jco() {
                Some(jco) => jco_runs(&jco, &sizes, &components, &mut results),
                None => println!(
                    "(jco is not installed in `tests/jco`: skipping jco; run `bash .ci/setup`)"
                ),
            }
        }

        println!();
        report::print(&results, &latency);
        plots = Some((workloads, latency));
    }
    let redis_server = redis::available();
    if !redis_server && (options.redis || options.serve) {
        println!(
            "\n(`redis-server` is not installed: skipping the redis backend; `bash .ci/setup` \
             installs it)"
        );
    }
    if options.redis && redis_server {
        results.redis = Some(redis::redis_table(&plugged, options.quick));
    }
    if options.serve && redis_server {
        match (serve::available(), &cli) {
            (true, Some(_)) => results.serve = Some(serve::serve_table(options.quick)),
            _ => println!(
                "\n(`wrk` or `wasmtime` is not on PATH: skipping the `wasmtime serve` figures; \
                 `apt-get install wrk`)"
            ),
        }
    }
    if options.fs {
        let floor = read(Path::new(guests::FS_FLOOR));
        results.fs_get = Some(fs::get_table(
            &plugged,
            &floor,
            cli.as_deref(),
            options.quick,
        ));
        fs::fs_tables(&plugged, cli.as_deref());
    }
    if options.control {
        control::control_table(&app, &plugged, options.quick);
    }

    report::write_json(
        &results,
        plots.as_ref().and_then(|(_, latency)| latency.last()),
        &dir.join("results.json"),
    );
    if let Some((workloads, latency)) = &plots {
        plot::ops(&results, workloads, &dir.join("ops.svg"));
        plot::latency(&results, latency, &dir.join("get-latency.svg"));
        println!(
            "\nwrote {}/results.json, ops.svg and get-latency.svg",
            dir.display()
        );
    } else {
        println!("\nwrote {}/results.json", dir.display());
    }
}

/// Says `line` above the progress bar, or on stderr when there is no bar (stderr is not a
/// terminal): one line per workload either way.
fn note(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// A progress bar of `len` steps (hidden when stderr is not a terminal).
fn progress(len: usize) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

/// Runs every workload in every configuration and runtime, `sizes.rounds` times interleaved.
fn measure(
    workloads: &[Workload],
    runtimes: &[Runtime],
    sizes: &Sizes,
    components: &[Vec<u8>; 3],
    results: &mut Results,
) {
    let bar = progress(workloads.len() * runtimes.len() * Config::ALL.len() * sizes.rounds);
    bar.set_message("compiling");
    let pres = Config::ALL.map(|config| run::prepare(&components[config as usize]));
    let paths = Config::ALL.map(|config| {
        run::write_scratch(
            &format!("bench-{}.wasm", config.name()),
            &components[config as usize],
        )
    });
    for workload in workloads {
        for round in 0..sizes.rounds {
            for &runtime in runtimes {
                // A rotating order, so that no configuration always runs first or last.
                for i in 0..Config::ALL.len() {
                    let index = (i + round) % Config::ALL.len();
                    let config = Config::ALL[index];
                    bar.set_message(format!(
                        "{}: {} on {}, round {}",
                        workload.name,
                        config.name(),
                        runtime.name(),
                        round + 1
                    ));
                    let (stdout, memory) = match runtime {
                        Runtime::Embedded => {
                            let (stdout, memory) = run::embedded(&pres[index], &workload.args);
                            (stdout, Some(memory))
                        }
                        Runtime::Cli => (
                            run::cli(&paths[index], config == Config::Host, &workload.args),
                            None,
                        ),
                        Runtime::Jco => unreachable!("jco runs separately"),
                    };
                    results.record(workload, runtime, config, &stdout, memory);
                    bar.inc(1);
                }
            }
        }
        note(&bar, format!("done: {}", workload.name));
    }
    bar.finish_and_clear();
}

/// The median time to instantiate each configuration's component in a fresh store, from a
/// pre-instantiated `CommandPre`, taken in interleaved batches.
fn instantiation(sizes: &Sizes, components: &[Vec<u8>; 3]) -> Instantiation {
    let pres = Config::ALL.map(|config| run::prepare(&components[config as usize]));
    let mut samples: [Vec<f64>; 3] = Default::default();
    let batches = 10;
    let bar = progress(batches);
    bar.set_message("instantiation");
    for _ in 0..batches {
        for (pre, samples) in pres.iter().zip(&mut samples) {
            for _ in 0..sizes.instantiations.div_ceil(batches) {
                samples.push(run::instantiation(pre));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Instantiation {
        count: samples[0].len(),
        ns: samples.map(|mut s| report::median(&mut s)),
    }
}

/// The 100-byte workloads on jco: the app plugged with null-virt and keyvalue-virt, and
/// unplugged on a JavaScript `Map`.
fn jco_runs(jco: &Path, sizes: &Sizes, components: &[Vec<u8>; 3], results: &mut Results) {
    let workloads = [
        Workload::load(sizes.jco_keys, VALUE_SIZE, sizes.jco_keys),
        Workload::load_many(sizes.jco_keys, VALUE_SIZE),
    ];
    let bar = progress(Config::ALL.len() + workloads.len() * Config::ALL.len() * sizes.rounds);
    let modules = Config::ALL.map(|config| {
        bar.set_message(format!("jco transpile: {}", config.name()));
        let module = run::transpile(
            jco,
            &format!("bench-{}", config.name()),
            &components[config as usize],
            config == Config::Host,
        );
        bar.inc(1);
        module
    });
    for workload in &workloads {
        for round in 0..sizes.rounds {
            for i in 0..Config::ALL.len() {
                let index = (i + round) % Config::ALL.len();
                let config = Config::ALL[index];
                bar.set_message(format!(
                    "{}: {} on jco, round {}",
                    workload.name,
                    config.name(),
                    round + 1
                ));
                let stdout = run::node(&modules[index], &workload.args);
                results.record(workload, Runtime::Jco, config, &stdout, None);
                bar.inc(1);
            }
        }
        note(&bar, format!("done: {} on jco", workload.name));
    }
    bar.finish_and_clear();
}
