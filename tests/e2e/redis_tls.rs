//! The redis backend over TLS (`rediss://`) in the real component on the `wasmtime` CLI,
//! against `redis-server` processes that speak only TLS, with a test CA made by `openssl`: the
//! conformance suite passes on one server and on a cluster, a wrong CA is refused with a clear
//! error, the TLS build is the one picked, and a `rediss://` URL from the environment needs it.

use std::path::{Path, PathBuf};

use keyvalue_virt_compose::{VIRT_REDIS, VIRT_REDIS_TLS, bake};
use keyvalue_virt_core::config::{BackendKind, Config, RedisConfig};
use keyvalue_virt_harness::redis::{RedisCluster, RedisServer, TestCa};
use keyvalue_virt_harness::{App, plug_with, scratch_dir};

use crate::wasmtime_cli::wasmtime_run;

fn tls_config(urls: Vec<String>, ca: Option<String>) -> Config {
    Config {
        backend: BackendKind::Redis,
        redis: RedisConfig {
            urls,
            timeout_ms: Some(5000),
            tls: true,
            tls_ca: ca,
            ..RedisConfig::default()
        },
        ..Config::default()
    }
}

/// `app` plugged with the build `config` picks, written to a scratch file named `name`.
fn plugged(app: App, config: &Config, name: &str) -> PathBuf {
    let virt = keyvalue_virt_compose::virt_in(config, app.shape());
    let path = scratch_dir().join(format!("redis-tls-{name}-{}.wasm", std::process::id()));
    std::fs::write(&path, plug_with(app, &bake::bake(virt, config).unwrap())).unwrap();
    path
}

/// stdout and stderr of `wasmtime run -S inherit-network [flags] component args`.
fn run(flags: &[&str], component: &Path, args: &[&str]) -> (bool, String) {
    let output = wasmtime_run(
        &[&["-S", "inherit-network"][..], flags].concat(),
        component,
        args,
    );
    let shown = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), shown)
}

/// The conformance suite `suite` passes on `wasmtime run -S inherit-network [flags]`.
fn suite_passes(flags: &[&str], suite: &Path, what: &str) {
    let output = wasmtime_run(
        &[&["-S", "inherit-network"][..], flags].concat(),
        suite,
        &[],
    );
    crate::redis::assert_suite_passes(
        output.status.success(),
        &String::from_utf8_lossy(&output.stdout),
        &String::from_utf8_lossy(&output.stderr),
        what,
    );
}

#[test]
fn the_conformance_suite_passes_over_tls_and_a_wrong_ca_is_refused() {
    let ca = TestCa::new();
    let server = RedisServer::tls(&ca);
    let url = server.tls_url();

    // A rediss:// URL picks the TLS build; the plain one is not it.
    let config = tls_config(vec![url.clone()], Some(ca.ca_pem()));
    let virt = keyvalue_virt_compose::virt_in(&config, App::Draft2.shape());
    assert!(std::ptr::eq(virt, VIRT_REDIS_TLS) && !std::ptr::eq(virt, VIRT_REDIS));

    let suite = plugged(App::Draft2, &config, "suite");
    suite_passes(&[], &suite, "over TLS");

    // A CA that did not sign the server's certificate: an error naming the URL and the fix.
    let other = TestCa::new();
    let wrong = plugged(
        App::Probe,
        &tls_config(vec![url.clone()], Some(other.ca_pem())),
        "wrong-ca",
    );
    let (_, shown) = run(&[], &wrong, &["get:b:k"]);
    assert!(
        shown.contains("get:b:k -> error other: redis server 127.0.0.1:")
            && shown.contains(&url)
            && shown.contains("not signed by the CA given with --tls-ca")
            && shown.contains("--tls-ca FILE"),
        "{shown}"
    );

    // A rediss:// URL from the environment: the TLS build (`--tls`) connects ...
    let env = format!("KV_REDIS_URL={url}");
    let mut from_env = tls_config(Vec::new(), Some(ca.ca_pem()));
    from_env.redis.url_env = Some("KV_REDIS_URL".into());
    let secure = plugged(App::Probe, &from_env, "env-tls");
    let (ok, shown) = run(&["--env", &env], &secure, &["set:b:k=v", "get:b:k"]);
    assert!(ok && shown.contains("get:b:k -> ok \"v\""), "{shown}");
    // ... and the plain build says to plug it with --tls.
    from_env.redis.tls = false;
    from_env.redis.tls_ca = None;
    let plain = plugged(App::Probe, &from_env, "env-plain");
    let (_, shown) = run(&["--env", &env], &plain, &["get:b:k"]);
    assert!(
        shown.contains(&format!(
            "redis server 127.0.0.1:{}: a rediss:// URL",
            server.port
        )) && shown.contains("this component has no TLS: plug it with --tls"),
        "{shown}"
    );
}

/// A Redis Cluster of three primaries that speak only TLS (`--tls-cluster yes`), with one
/// certificate for `localhost`, reached through `rediss://localhost:PORT` seeds (a host name:
/// `-S allow-ip-name-lookup`): the component checks each node the cluster names by IP address
/// for `localhost`, spreads a bucket over every primary, and passes the conformance suite.
#[test]
fn the_conformance_suite_passes_on_a_tls_cluster() {
    let ca = TestCa::for_names("DNS:localhost");
    let cluster = RedisCluster::tls(&ca, 3, 0);
    let config = tls_config(cluster.tls_urls("localhost"), Some(ca.ca_pem()));
    let lookup = ["-S", "allow-ip-name-lookup"];

    let probe = plugged(App::Probe, &config, "cluster-probe");
    let (ok, shown) = run(&lookup, &probe, &["fill:b:k:300:8", "list:b"]);
    let listed = shown
        .lines()
        .find(|l| l.starts_with("list:b -> "))
        .unwrap_or_default();
    assert!(ok && listed.matches("\"k").count() == 300, "{shown}");
    for node in &cluster.nodes {
        let keys: u64 = node.cli(&["dbsize"]).parse().unwrap();
        assert!(keys > 50, "node {} holds only {keys} keys", node.port);
    }

    let suite = plugged(App::Draft2, &config, "cluster-suite");
    suite_passes(&lookup, &suite, "on a TLS cluster");
}
