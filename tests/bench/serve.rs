//! Requests per second of the HTTP example (`tests/http-counter`, `POST` counts a request with
//! draft2's `increment`) on the `wasmtime serve` CLI, where every request runs in a fresh
//! instance: plugged with the redis backend (on a `redis-server` started here, `--topology
//! standalone` declared so that an instance sends its first command without a discovery round
//! trip) against the same app plugged with the fs backend (`--sync always`, the default, and
//! `--sync never`), loaded by `wrk` with `POST` requests. Runs when `wrk` and `wasmtime` are on
//! PATH.

use std::path::Path;
use std::process::{Command, Stdio};

use keyvalue_virt_artifacts::guests::HTTP_COUNTER;
use keyvalue_virt_core::config::{Config as VirtConfig, RedisTopology, SyncMode};
use keyvalue_virt_harness::redis::{RedisConfigured, RedisServer};
use keyvalue_virt_harness::serve::Serve;
use keyvalue_virt_harness::{fs_config, plug_as_cli, read, store_dir};
use serde_json::{Value, json};

use crate::report::median;
use crate::run::write_scratch;

/// `wrk`'s connections and threads.
const CONNECTIONS: usize = 8;
const THREADS: usize = 2;
/// Seconds of load per run, and with `--quick`.
const SECONDS: u64 = 5;
const SECONDS_QUICK: u64 = 1;
/// Interleaved runs of each configuration; the median counts.
const RUNS: usize = 3;

/// Whether `wrk` can be run.
pub fn available() -> bool {
    Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// One `wrk` run of `POST` requests on `url`: requests per second.
fn wrk(url: &str, seconds: u64, script: &Path) -> f64 {
    let out = Command::new("wrk")
        .args(["-t", &THREADS.to_string(), "-c", &CONNECTIONS.to_string()])
        .args(["-d", &format!("{seconds}s"), "-s"])
        .arg(script)
        .arg(format!("{url}/"))
        .output()
        .expect("failed to run `wrk`");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !text.contains("Non-2xx"),
        "`wrk` failed or the app answered errors:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `Requests/sec:` in `wrk`'s output:\n{text}"))
}

/// The serve table: requests per second for the redis backend and the fs backend, and their
/// ratio. Returns it for `results.json`.
pub fn serve_table(quick: bool) -> Value {
    let server = RedisServer::start();
    let mut redis = server.config();
    redis.redis.topology = Some(RedisTopology::Standalone);
    let configs: [(&str, VirtConfig); 3] = [
        ("redis", redis),
        ("fs, --sync always", fs_config()),
        (
            "fs, --sync never",
            VirtConfig {
                sync: SyncMode::Never,
                ..fs_config()
            },
        ),
    ];
    let app = read(Path::new(HTTP_COUNTER));
    let paths: Vec<_> = configs
        .iter()
        .enumerate()
        .map(|(i, (_, config))| {
            write_scratch(&format!("serve-{i}.wasm"), &plug_as_cli(&app, config))
        })
        .collect();
    let script = write_scratch("post.lua", b"wrk.method = \"POST\"\n");
    let seconds = if quick { SECONDS_QUICK } else { SECONDS };

    println!();
    println!(
        "`wasmtime serve` (a fresh instance per request), the HTTP counter counting POSTs; \
         `wrk -t{THREADS} -c{CONNECTIONS} -d{seconds}s`, median of {RUNS} interleaved runs; \
         redis-server on 127.0.0.1:{} with --topology standalone",
        server.port
    );
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
    for run in 0..RUNS {
        for i in 0..configs.len() {
            let index = (i + run) % configs.len();
            let dir = store_dir(&format!("bench-serve-{index}"));
            let serve = Serve::start(&paths[index], &dir, &["-S", "inherit-network"]);
            samples[index].push(wrk(&serve.url(), seconds, &script));
        }
    }
    let rates: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
    println!("{:<20} {:>10} {:>14}", "backend", "req/s", "min..max");
    for ((name, _), (rate, s)) in configs.iter().zip(rates.iter().zip(&samples)) {
        let (lo, hi) = s
            .iter()
            .fold((f64::INFINITY, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        println!(
            "{name:<20} {rate:>10.0} {:>14}",
            format!("{lo:.0}..{hi:.0}")
        );
    }
    println!(
        "redis / fs (--sync always): {:.2}x; redis / fs (--sync never): {:.2}x",
        rates[0] / rates[1],
        rates[0] / rates[2]
    );
    json!({
        "seconds": seconds,
        "connections": CONNECTIONS,
        "runs": RUNS,
        "rows": configs.iter().zip(&samples).map(|((name, _), s)| json!({
            "backend": name, "requests_per_second": s,
        })).collect::<Vec<_>>(),
    })
}
