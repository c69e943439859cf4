//! The redis backend (`--backend redis --url ...`) in the real component under wasmtime, against
//! real `redis-server` processes the harness starts on free loopback ports and kills after: the
//! conformance suite of every shape, concurrent instances, compare-and-swap loops, a server that
//! dies or stops answering, a three-node Redis Cluster, and a primary behind a Sentinel.

use std::time::{Duration, Instant};

use keyvalue_virt_compose::bake;
use keyvalue_virt_core::config::Config;
use keyvalue_virt_harness::redis::{
    RedisCluster, RedisConfigured, RedisSentinel, RedisServer, wait_until,
};
use keyvalue_virt_harness::{
    App, GUEST_DIR, Outcome, grant, plug_with, run_configured_with, scratch_dir, store_dir,
};
use wasmtime_wasi::WasiCtxBuilder;

/// Lets the guest use the host's network, as `wasmtime run -S inherit-network` does (embedded,
/// TCP must be allowed too: wasmtime-wasi 48 denies it by default).
fn network(builder: &mut WasiCtxBuilder) {
    builder
        .inherit_network()
        .allow_tcp(true)
        .allow_ip_name_lookup(true);
}

fn run(app: App, config: &Config, args: &[&str]) -> Outcome {
    run_configured_with(app, config, args, network)
}

/// A conformance run exited with success (`succeeded`) and ended with `N passed, 0 failed, M
/// skipped`.
pub(crate) fn assert_suite_passes(succeeded: bool, stdout: &str, stderr: &str, what: &str) {
    let failed: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("FAIL "))
        .map(|rest| rest.split_once(": ").map_or(rest, |(name, _)| name))
        .collect();
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        succeeded && failed.is_empty() && last.contains(" passed, 0 failed, "),
        "the conformance suite {what} failed {failed:?}:\n{stdout}\n{stderr}"
    );
}

#[test]
fn the_conformance_suite_of_every_shape_passes_on_redis() {
    for app in App::CONFORMANCE {
        let server = RedisServer::start();
        let outcome = run(app, &server.config(), &[]);
        assert_suite_passes(
            outcome.success(),
            &outcome.stdout,
            &outcome.stderr,
            &format!("for `{}` on redis", app.name()),
        );
    }
}

/// `--url-env`: the URL, password included, comes from `wasmtime run --env` when the instance
/// starts; the baked configuration holds only the variable's name; `--topology standalone`
/// spares the discovery.
#[test]
fn the_url_comes_from_the_environment_on_wasmtime_run() {
    let server = RedisServer::start();
    server.cli(&["config", "set", "requirepass", "hunter2"]);
    let mut config = server.config();
    config.redis.urls.clear();
    config.redis.url_env = Some("KV_REDIS_URL".into());
    config.redis.topology = Some(keyvalue_virt_core::config::RedisTopology::Standalone);
    let virt = keyvalue_virt_compose::virt_in(&config, App::Draft2.shape());
    let baked = bake::bake(virt, &config).unwrap();
    assert!(!baked.windows(7).any(|w| w == b"hunter2"));
    let path = scratch_dir().join(format!("redis-env-{}.wasm", server.port));
    std::fs::write(&path, plug_with(App::Draft2, &baked)).unwrap();
    let env = format!("KV_REDIS_URL=redis://:hunter2@127.0.0.1:{}", server.port);
    let output =
        crate::wasmtime_cli::wasmtime_run(&["-S", "inherit-network", "--env", &env], &path, &[]);
    assert_suite_passes(
        output.status.success(),
        &String::from_utf8_lossy(&output.stdout),
        &String::from_utf8_lossy(&output.stderr),
        "with the URL from the environment",
    );
    let unset = crate::wasmtime_cli::wasmtime_run(&["-S", "inherit-network"], &path, &[]);
    let shown = String::from_utf8_lossy(&unset.stdout) + String::from_utf8_lossy(&unset.stderr);
    // The conformance app shortens messages; the server named is the variable.
    assert!(
        shown.contains("redis server (the URL in `KV_REDIS_URL`)"),
        "{shown}"
    );
}

#[test]
fn the_conformance_suite_passes_on_wasmtime_run_with_inherit_network() {
    let server = RedisServer::start();
    let config = server.config();
    let virt = keyvalue_virt_compose::virt_in(&config, App::Draft2.shape());
    let baked = bake::bake(virt, &config).unwrap();
    let path = scratch_dir().join(format!("redis-conformance-{}.wasm", server.port));
    std::fs::write(&path, plug_with(App::Draft2, &baked)).unwrap();
    let output = crate::wasmtime_cli::wasmtime_run(&["-S", "inherit-network"], &path, &[]);
    assert_suite_passes(
        output.status.success(),
        &String::from_utf8_lossy(&output.stdout),
        &String::from_utf8_lossy(&output.stderr),
        "on `wasmtime run -S inherit-network`",
    );
}

#[test]
fn eight_instances_incrementing_500_times_each_reach_4000() {
    let server = RedisServer::start();
    let config = server.config();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| run(App::Fs, &config, &["inc", "c", "n", "500"]).assert_ok());
        }
    });
    assert_eq!(server.cli(&["GET", "c:n"]).trim(), "4000");
}

#[test]
fn cas_loops_of_four_instances_lose_no_update() {
    let server = RedisServer::start();
    let config = server.config();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| run(App::Fs, &config, &["cas-inc", "c", "n", "100"]).assert_ok());
        }
    });
    assert_eq!(server.cli(&["GET", "c:n"]).trim(), "400");
}

#[test]
fn a_dead_server_is_an_error_naming_it_and_a_restarted_one_serves_again() {
    let server = RedisServer::start();
    let (port, config) = (server.port, server.config());
    run(App::Probe, &config, &["set:b:k=1"]).assert_ok();
    drop(server);
    let outcome = run(App::Probe, &config, &["get:b:k", "set:b:k=2"]);
    let expected = format!("redis server 127.0.0.1:{port}:");
    assert_eq!(
        outcome.stdout.matches(&expected).count(),
        2,
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stdout.contains("the next call tries again"),
        "{}",
        outcome.stdout
    );
    let _server = RedisServer::on(port, &[]);
    let outcome = run(App::Probe, &config, &["set:b:k=3", "get:b:k"]);
    assert!(
        outcome.stdout.contains("get:b:k -> ok \"3\""),
        "{}",
        outcome.stdout
    );
}

/// A connection the server closed while the instance was idle (its `timeout`, `CLIENT KILL`)
/// is replaced before the next call: no call fails.
#[test]
fn a_connection_the_server_closed_is_replaced_before_the_next_call() {
    let server = RedisServer::start();
    server.cli(&["config", "set", "timeout", "1"]);
    let outcome = run(
        App::Probe,
        &server.config(),
        &[
            "set:b:k=1",
            "sleep:2500",
            "set:b:k=2",
            "sleep:2500",
            "get:b:k",
        ],
    );
    assert_eq!(
        outcome.stdout,
        "set:b:k=1 -> ok\nsleep:2500 -> ok\nset:b:k=2 -> ok\nsleep:2500 -> ok\nget:b:k -> ok \"2\"\n",
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_server_that_stops_answering_times_out_without_a_hang_or_trap() {
    let server = RedisServer::start();
    let mut config = server.config();
    config.redis.timeout_ms = Some(300);
    run(App::Probe, &config, &["set:b:k=1"]).assert_ok();
    server.signal("-STOP");
    let start = Instant::now();
    let outcome = run(App::Probe, &config, &["get:b:k"]);
    server.signal("-CONT");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    assert!(outcome.success(), "{outcome:?}");
    assert!(
        outcome.stdout.contains("within 300 ms (--timeout-ms"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn a_three_node_cluster_spreads_a_bucket_and_lists_it_whole() {
    let cluster = RedisCluster::start();
    let config = cluster.config();
    let outcome = run(
        App::Probe,
        &config,
        &[
            "fill:b:k:300:8",
            "list:b",
            "inc:b:n:5",
            "get-many:b:k1,k2,k299",
        ],
    );
    assert!(outcome.success(), "{outcome:?}");
    let listed = outcome
        .stdout
        .lines()
        .find(|l| l.starts_with("list:b -> "))
        .unwrap_or_default();
    assert_eq!(listed.matches("\"k").count(), 300, "{listed}");
    for node in &cluster.nodes {
        let keys: u64 = node.cli(&["DBSIZE"]).trim().parse().unwrap();
        assert!(keys > 50, "node {} holds only {keys} keys", node.port);
    }
    let outcome = run(App::Draft2, &config, &[]);
    assert_suite_passes(
        outcome.success(),
        &outcome.stdout,
        &outcome.stderr,
        "on a cluster",
    );
}

/// `--sentinel`: the suite passes on the primary the Sentinel names, and one instance that
/// waits through a forced failover writes to the new primary after it, without a restart. The
/// instance waits on a file the test creates once the failover is done (no clock: a slow
/// failover only makes the test wait longer).
#[test]
fn behind_a_sentinel_an_instance_follows_a_failover() {
    let setup = RedisSentinel::start(1);
    let config = setup.config();
    let suite = run(App::Draft2, &config, &[]);
    assert_suite_passes(
        suite.success(),
        &suite.stdout,
        &suite.stderr,
        "behind a Sentinel",
    );
    let gate = store_dir(&format!("sentinel-gate-{}", std::process::id()));
    let wait = format!("wait-file:{GUEST_DIR}/go");
    let steps = ["set:s:k=1", &wait, "set:s:k=2", "get:s:k"];
    let outcome = std::thread::scope(|scope| {
        let probe = scope.spawn(|| {
            run_configured_with(App::Probe, &config, &steps, |builder| {
                network(builder);
                grant(&gate)(builder);
            })
        });
        wait_until(60, "the first write did not arrive", || {
            setup.primary.cli(&["get", "s:k"]) == "1"
        });
        // The instance waits from here until the gate opens.
        setup.wait_replicated();
        assert_eq!(setup.failover(), setup.replicas[0].port);
        std::fs::write(gate.join("go"), b"").unwrap();
        probe.join().expect("the probe thread")
    });
    assert_eq!(
        outcome.stdout,
        format!("set:s:k=1 -> ok\n{wait} -> ok\nset:s:k=2 -> ok\nget:s:k -> ok \"2\"\n"),
        "{}",
        outcome.stderr
    );
    assert_eq!(setup.replicas[0].cli(&["get", "s:k"]), "2");
}
