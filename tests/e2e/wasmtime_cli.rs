//! The conformance suite of every shape on the `wasmtime run` CLI (the `wasmtime` on PATH, which
//! `.ci/setup` installs), plugged with keyvalue-virt as `keyvalue-virt plug` does: every check
//! passes with the memory backend, and with the fs backend on a directory granted with
//! `--dir HOST::/kv`. The Python app runs on the CLI in `python.rs`, the HTTP example on
//! `wasmtime serve` in `serve.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use keyvalue_virt_core::config::{Config, SyncMode};
use keyvalue_virt_harness::{App, GUEST_DIR, fs_config, plug_as_cli, read, scratch_dir, store_dir};

/// Runs `wasmtime run FLAGS COMPONENT ARGS` with the `wasmtime` on PATH.
pub(crate) fn wasmtime_run(flags: &[&str], component: &Path, args: &[&str]) -> Output {
    Command::new("wasmtime")
        .arg("run")
        .args(flags)
        .arg(component)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "failed to run `wasmtime` ({e}): it must be on PATH; `bash .ci/setup` installs it"
            )
        })
}

/// [`wasmtime_run`], which must succeed; returns its stdout.
#[track_caller]
pub(crate) fn wasmtime_ok(flags: &[&str], component: &Path, args: &[&str]) -> String {
    let output = wasmtime_run(flags, component, args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "`wasmtime run {} {} {}` failed ({}):\n--- stderr ---\n{}\n--- stdout ---\n{stdout}",
        flags.join(" "),
        component.display(),
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `--dir HOST::/kv` for `dir`.
fn grant_flag(dir: &Path) -> String {
    format!("{}::{GUEST_DIR}", dir.display())
}

/// `app` plugged with the virt configured by `config`, written to a file named after both.
fn plugged_file(app: App, config: &Config, backend: &str) -> PathBuf {
    let path = scratch_dir().join(format!("wasmtime-cli-{}-{backend}.wasm", app.name()));
    std::fs::write(&path, plug_as_cli(&read(app.path()), config)).unwrap();
    path
}

/// The `--only` arguments for `areas`.
fn only(areas: &[&str]) -> Vec<String> {
    areas
        .iter()
        .flat_map(|area| ["--only".to_owned(), (*area).to_owned()])
        .collect()
}

/// Runs the suite in `component` with `args` on the CLI: it succeeds, every check that
/// `--list` names for the same `args` reports `ok` in that order, and nothing else is reported.
#[track_caller]
fn all_pass_on_wasmtime_cli(flags: &[&str], component: &Path, args: &[String], skips: &[&str]) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut list_args = vec!["--list"];
    list_args.extend(&args);
    let listed = wasmtime_ok(flags, component, &list_args);
    let (skipped, expected): (Vec<&str>, Vec<&str>) =
        listed.lines().partition(|name| skips.contains(name));
    assert!(expected.len() >= 5, "`--list` lists too little:\n{listed}");
    let out = wasmtime_ok(flags, component, &args);
    let oks: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("ok ")).collect();
    assert_eq!(oks, expected, "not every check passed:\n{out}");
    let what = component.display().to_string();
    crate::conformance::assert_summary(&out, expected.len(), &skipped, &what);
}

/// The whole suite of each shape with the memory backend, one `wasmtime run` per shape.
#[test]
fn every_shape_passes_on_wasmtime_run_with_the_memory_backend() {
    for app in App::CONFORMANCE {
        let component = plugged_file(app, &Config::default(), "memory");
        all_pass_on_wasmtime_cli(&[], &component, &[], &[]);
    }
}

/// Each shape with the fs backend on a granted directory: every area but `list` and `errors`,
/// which write tens of thousands of files (most of a minute on this disk, for the same
/// wasmtime-wasi filesystem code that the embedded suite runs them on, `conformance.rs`).
#[test]
fn every_shape_passes_on_wasmtime_run_with_the_fs_backend() {
    // Writes not synced, as in `conformance.rs`: the same semantics, far fewer disk flushes.
    let config = Config {
        sync: SyncMode::Never,
        ..fs_config()
    };
    for app in App::CONFORMANCE {
        let component = plugged_file(app, &config, "fs");
        let mut areas = vec!["store", "keys", "values", "increment", "batch"];
        if app != App::Draft {
            areas.push("cas");
        }
        let dir = store_dir(&format!("wasmtime-cli-{}", app.name()));
        let grant = grant_flag(&dir);
        all_pass_on_wasmtime_cli(
            &["--dir", &grant],
            &component,
            &only(&areas),
            crate::conformance::FS_SKIPS,
        );
        assert!(
            dir.join("FORMAT").is_file(),
            "the store is not in `{}`",
            dir.display()
        );
    }
}

/// Without the directory granted, the fs backend's first `open` fails with a message that
/// names the directory and the flag: the check above depends on the grant.
#[test]
fn the_fs_backend_on_wasmtime_run_needs_the_directory_granted() {
    let component = plugged_file(App::Draft2, &fs_config(), "fs-ungranted");
    let output = wasmtime_run(&[], &component, &["--only", "store.open"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stdout.contains("FAIL store.open") && stdout.contains(GUEST_DIR),
        "{stdout}"
    );
}
