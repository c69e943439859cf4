//! The same components on jco (Node.js), the other WASI Preview 2 runtime users reach for:
//! the conformance suite of every shape with the memory backend, and the fs backend on a
//! directory granted through `tests/jco/preopen.mjs` (data kept across runs, concurrent
//! processes), the redis backend over Node's sockets (plain and TLS, against a real
//! `redis-server`), and the control interface driven from JavaScript
//! (`tests/jco/control.test.mjs`, `node --test`) around the HTTP counter's handler. The Python
//! app runs on jco in `python.rs`.
//!
//! jco is installed locally in `tests/jco` by `.ci/setup`; these tests fail, saying so, when it
//! is missing. Each component is transpiled once (`jco transpile`) into `tests/jco/transpiled`
//! and run with `node tests/jco/run.mjs`, which does what `jco run` does without transpiling
//! again.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

use keyvalue_virt_artifacts::guests::HTTP_COUNTER;
use keyvalue_virt_compose::{control_virt_in, plug_control, shape_for};
use keyvalue_virt_core::config::{BackendKind, Config, RedisConfig};
use keyvalue_virt_harness::redis::{RedisServer, TestCa};
use keyvalue_virt_harness::{
    App, composed, fs_config, plug_as_cli, read, scratch_dir, store_dir, workspace_root,
};

/// The locally installed `jco`.
fn jco() -> PathBuf {
    let jco = workspace_root().join("tests/jco/node_modules/.bin/jco");
    assert!(
        jco.is_file(),
        "jco is not installed at `{}`; run `bash .ci/setup` (it runs `npm ci --prefix tests/jco`)",
        jco.display()
    );
    jco
}

/// The component `bytes` (made on first use), transpiled once per process under `name`;
/// returns the path of its JavaScript module.
pub(crate) fn transpiled(name: &str, bytes: impl FnOnce() -> Vec<u8>) -> PathBuf {
    static DONE: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let jco_dir = workspace_root().join("tests/jco");
    let out = jco_dir.join("transpiled").join(name);
    let module = out.join(format!("{name}.js"));
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if !done.iter().any(|n| n == name) {
        let wasm = scratch_dir().join(format!("jco-{name}.wasm"));
        std::fs::write(&wasm, bytes()).unwrap();
        let _ = std::fs::remove_dir_all(&out);
        let status = Command::new(jco())
            .arg("transpile")
            .arg(&wasm)
            .arg("-o")
            .arg(&out)
            .args(["--name", name, "--no-typescript", "--quiet"])
            .status()
            .expect("failed to run jco");
        assert!(
            status.success(),
            "`jco transpile {}` failed",
            wasm.display()
        );
        done.push(name.to_owned());
    }
    module
}

/// The flags that let this Node.js compile every core module jco emits: Node 20 compiles
/// constant expressions with `i32.add` (the extended-const proposal, which componentize-py's
/// Python runtime uses) only behind a flag; later versions have it on and may not know the flag.
fn node_flags() -> &'static [&'static str] {
    static FLAGS: OnceLock<Vec<&str>> = OnceLock::new();
    FLAGS.get_or_init(|| {
        let flag = "--experimental-wasm-extended-const";
        let options = Command::new("node")
            .arg("--v8-options")
            .output()
            .expect("failed to run node");
        let known = String::from_utf8_lossy(&options.stdout).contains(flag);
        if known { vec![flag] } else { Vec::new() }
    })
}

/// Runs the transpiled component `module` on Node.js, with `dir` granted as `/kv` when given.
pub(crate) fn jco_run(module: &Path, args: &[&str], dir: Option<&Path>) -> Output {
    let mut command = Command::new("node");
    command
        .args(node_flags())
        .arg(workspace_root().join("tests/jco/run.mjs"))
        .arg(module)
        .args(args);
    if let Some(dir) = dir {
        command.env("KEYVALUE_VIRT_JCO_DIR", dir);
    }
    command.output().expect("failed to run node")
}

/// [`jco_run`], which must succeed; returns its stdout.
#[track_caller]
pub(crate) fn jco_ok(module: &Path, args: &[&str], dir: Option<&Path>) -> String {
    let out = jco_run(module, args, dir);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "`node run.mjs {} {}` failed ({}):\n--- stderr ---\n{}\n--- stdout ---\n{stdout}",
        module.display(),
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `app` plugged with the fs-configured virt of its shape, transpiled.
fn fs_component(app: App) -> PathBuf {
    transpiled(&format!("fs-{}", app.name()), || {
        plug_as_cli(&read(app.path()), &fs_config())
    })
}

/// Runs the conformance suite's `areas` in `module` on jco; every check must pass.
#[track_caller]
fn areas_pass_on_jco(module: &Path, areas: &[&str], dir: Option<&Path>) {
    let mut args = Vec::new();
    for area in areas {
        args.extend(["--only", area]);
    }
    let out = jco_ok(module, &args, dir);
    assert!(
        out.ends_with(" passed, 0 failed, 0 skipped\n") && !out.contains("\nFAIL "),
        "{out}"
    );
}

/// The redis backend on jco, whose shim runs `wasi:sockets` on Node's: the conformance suite's
/// store, increment and batch checks against a real `redis-server`, over `redis://` (the plain
/// redis build) and over `rediss://` with a test CA (the TLS build, its handshake in the guest).
#[test]
fn redis_passes_on_jco_plain_and_over_tls() {
    let ca = TestCa::new();
    let plain = RedisServer::start();
    let tls = RedisServer::tls(&ca);
    for (name, url, tls_ca) in [
        ("redis", plain.url(), None),
        ("redis-tls", tls.tls_url(), Some(ca.ca_pem())),
    ] {
        let config = Config {
            backend: BackendKind::Redis,
            redis: RedisConfig {
                urls: vec![url],
                timeout_ms: Some(10_000),
                tls: tls_ca.is_some(),
                tls_ca,
                ..RedisConfig::default()
            },
            ..Config::default()
        };
        let component = transpiled(name, || plug_as_cli(&read(App::Draft2.path()), &config));
        areas_pass_on_jco(&component, &["store", "increment", "batch"], None);
    }
}

/// The conformance suite of every shape on the memory backend, on jco.
#[test]
fn conformance_areas_pass_on_jco() {
    for app in App::CONFORMANCE {
        let component = transpiled(app.name(), || composed(app).to_vec());
        areas_pass_on_jco(&component, &["store", "keys", "increment", "batch"], None);
    }
}

/// Compare-and-swap (draft2), errors that must not trap, values (which take jco's shim most of
/// ten seconds: its many-MiB values cross into JavaScript and back) and list-keys, on jco.
#[test]
fn cas_errors_values_and_lists_pass_on_jco() {
    let component = transpiled(App::Draft2.name(), || composed(App::Draft2).to_vec());
    areas_pass_on_jco(&component, &["cas", "errors", "values", "list"], None);
}

/// The areas the tests above run for draft2 only, for draft (list-keys with its `u64` cursor,
/// errors) and draft2-spin (its `get-many` in errors' huge batches, cas): the whole suite of
/// every shape runs on jco, values (the same calls in every shape) once.
#[test]
fn the_other_shapes_pass_the_remaining_areas_on_jco() {
    let draft = transpiled(App::Draft.name(), || composed(App::Draft).to_vec());
    areas_pass_on_jco(&draft, &["errors", "list"], None);
    let spin = transpiled(App::Draft2Spin.name(), || {
        composed(App::Draft2Spin).to_vec()
    });
    areas_pass_on_jco(&spin, &["cas", "errors", "list"], None);
}

/// The fs backend on jco: the conformance suite's store and increment checks of every shape on
/// a granted directory, and the counter keeps counting across runs.
#[test]
fn the_fs_backend_keeps_data_across_runs_on_jco() {
    for app in App::CONFORMANCE {
        let dir = store_dir(&format!("jco-conformance-{}", app.name()));
        let component = fs_component(app);
        areas_pass_on_jco(&component, &["store", "increment"], Some(&dir));
    }
    let dir = store_dir("jco-counter");
    let counter = fs_component(App::Counter);
    assert_eq!(
        jco_ok(&counter, &["alice", "bob"], Some(&dir)),
        "hello alice: visit 1\nhello bob: visit 1\nalice: 1\nbob: 1\n"
    );
    assert_eq!(
        jco_ok(&counter, &["alice"], Some(&dir)),
        "hello alice: visit 2\nalice: 2\nbob: 1\n"
    );
}

/// Three jco processes increment one key at once, and three run CAS retry loops: exact.
#[test]
fn concurrent_jco_processes_lose_no_update() {
    let dir = store_dir("jco-concurrent");
    let component = fs_component(App::Fs);
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| jco_ok(&component, &["inc", "b", "n", "50"], Some(&dir)));
            scope.spawn(|| jco_ok(&component, &["cas-inc", "b", "c", "30"], Some(&dir)));
        }
    });
    let probe = fs_component(App::Probe);
    assert_eq!(
        jco_ok(&probe, &["get:b:n", "get:b:c"], Some(&dir)),
        "get:b:n -> ok \"150\"\nget:b:c -> ok \"90\"\n"
    );
}

/// The `node:test` example (`tests/jco/control.test.mjs`): the HTTP counter plugged with
/// `--control` (as `keyvalue-virt plug --control` does), transpiled, its handler served by
/// jco's HTTP server; the tests seed through the control interface, send requests, assert on
/// the data and the calls, inject an `increment` fault and clear it.
#[test]
fn node_test_drives_the_control_interface_around_the_http_counter() {
    let module = transpiled("http-counter-control", || {
        let app = read(Path::new(HTTP_COUNTER));
        let shape = shape_for(&app).expect("the HTTP counter plugs");
        plug_control(&app, control_virt_in(shape)).expect("the HTTP counter plugs with --control")
    });
    let out = Command::new("node")
        .args(node_flags())
        .arg("--test")
        .arg(workspace_root().join("tests/jco/control.test.mjs"))
        .env("KEYVALUE_VIRT_JCO_APP", &module)
        .output()
        .expect("failed to run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("# pass 3") && stdout.contains("# fail 0"),
        "`node --test tests/jco/control.test.mjs` failed ({}):\n--- stdout ---\n{stdout}\n\
         --- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
