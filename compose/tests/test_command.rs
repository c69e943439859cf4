//! `keyvalue-virt test` on the real binary, with the `wasmtime` on PATH: the example test
//! components of the greeter app (`tests/greeter`), in Rust (`tests/greeter-test`) and in
//! Python (`tests/python/greeter_test.py`, built once per run with componentize-py), pass; the
//! test that fails on purpose prints its `FAIL` line and makes the exit status 1; `-o` writes a
//! command that `wasmtime run` runs the same way; the fs and redis backends run against a real
//! directory and a real server.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::{kv, scratch};
use keyvalue_virt_artifacts::guests::{GREETER, GREETER_TEST, TRAP_TEST};
use keyvalue_virt_artifacts::python;

/// What a test component of the greeter prints when every test but the ignored one runs.
const ALL_PASS: &str = "\
ok greets_and_counts
ok every_test_starts_from_the_seeds
ok a_failed_increment_keeps_the_count
skip fails_on_purpose: fails on purpose, to show a failure; run it with --only fails_on_purpose
3 passed, 0 failed, 1 skipped
";

/// What the test that fails on purpose prints.
const FAILS: &str = "\
FAIL fails_on_purpose: expected `hello carol: visit 2`, got `hello carol: visit 1`
0 passed, 1 failed, 0 skipped
";

/// `keyvalue-virt test TEST --app GREETER ARGS`.
fn test_command(test: &Path, args: &[&str]) -> Output {
    kv().arg("test")
        .arg(test)
        .arg("--app")
        .arg(GREETER)
        .args(args)
        .output()
        .unwrap()
}

/// Checks the exit status and stdout of `output`, showing both streams when they differ.
#[track_caller]
fn assert_run(output: &Output, status: i32, stdout: &str) {
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.code() == Some(status) && out == stdout,
        "expected status {status} and stdout\n{stdout}got {}\n--- stdout ---\n{out}--- stderr \
         ---\n{err}",
        output.status
    );
}

#[test]
fn the_rust_example_passes() {
    assert_run(&test_command(Path::new(GREETER_TEST), &[]), 0, ALL_PASS);
}

#[test]
fn a_failing_test_prints_fail_and_exits_1() {
    let output = test_command(Path::new(GREETER_TEST), &["--only", "fails_on_purpose"]);
    assert_run(&output, 1, FAILS);
}

/// The runner resets the store before each test: a seed is back for every test, whatever the
/// test before it changed (`greets_and_counts` overwrites `alice`; the next one expects an
/// empty store, so with a seed it fails, and says what it found).
#[test]
fn each_test_starts_from_the_baked_seeds() {
    let output = test_command(
        Path::new(GREETER_TEST),
        &[
            "--seed", ":carol=1", "--only", "greets*", "--only", "every*", "--only", "fails*",
        ],
    );
    assert_run(
        &output,
        1,
        "ok greets_and_counts\n\
         FAIL every_test_starts_from_the_seeds: expected an empty store, found keys [\"carol\"]\n\
         ok fails_on_purpose\n\
         2 passed, 1 failed, 0 skipped\n",
    );
}

/// A test that traps ends the run (the instance is gone): it is reported as failed, by name,
/// with the panic's message, the summary counts it and the test that did not run, and the exit
/// status is 1 (`tests/trap-test`: `passes`, `traps`, `never_runs`).
#[test]
fn a_test_that_traps_is_named_and_the_summary_counts_what_did_not_run() {
    let output = test_command(Path::new(TRAP_TEST), &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        output.status.code() == Some(1)
            && lines.len() == 3
            && lines[0] == "ok passes"
            && lines[1].starts_with(
                "FAIL traps: trapped: the store is on fire (panicked at tests/trap-test/src/lib.rs:"
            )
            && lines[2] == "1 passed, 1 failed, 0 skipped; the trap ended the run, 1 test not run",
        "{}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}",
        output.status
    );
    assert!(
        stderr.contains("test `traps` trapped") && !stdout.contains("keyvalue-virt-test-runner"),
        "{stderr}"
    );
}

#[test]
fn the_written_command_runs_on_wasmtime_run() {
    let dir = scratch();
    let out = dir.path().join("tests.wasm");
    let output = test_command(Path::new(GREETER_TEST), &["-o", out.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    assert_run(&wasmtime_run(&out, &[]), 0, ALL_PASS);
    assert_run(
        &wasmtime_run(&out, &["--only", "fails_on_purpose"]),
        1,
        FAILS,
    );
}

/// With the fs backend the tests run against the store directory granted to wasmtime: what
/// the last test left is there afterwards.
#[test]
fn the_fs_backend_runs_against_the_granted_directory() {
    let dir = scratch();
    let grant = format!("--wasmtime-flag=--dir={}::/kv", dir.path().display());
    let output = test_command(
        Path::new(GREETER_TEST),
        &["--backend", "fs", "--dir", "/kv", &grant],
    );
    assert_run(&output, 0, ALL_PASS);
    let export = kv().arg("export").arg(dir.path()).output().unwrap();
    let dump: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    assert_eq!(dump, serde_json::json!({"": {"alice": "42", "bob": "1"}}));
}

/// A granted directory that does not exist is refused before wasmtime starts (which would fail
/// with status 1, like a failed test).
#[test]
fn a_missing_granted_directory_is_named() {
    let dir = scratch();
    let missing = dir.path().join("missing");
    let grant = format!("--wasmtime-flag=--dir={}::/kv", missing.display());
    let output = test_command(
        Path::new(GREETER_TEST),
        &["--backend", "fs", "--dir", "/kv", &grant],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "`{}`, granted by a --wasmtime-flag `--dir`, is not a directory",
            missing.display()
        )),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "{output:?}");
}

/// With the redis backend the network flags are passed by themselves, and the tests run against
/// the server: what the last test left is there afterwards.
#[test]
fn the_redis_backend_runs_against_the_server() {
    let server = keyvalue_virt_redis_server::RedisServer::start();
    let url = server.url();
    let output = test_command(
        Path::new(GREETER_TEST),
        &["--backend", "redis", "--url", &url],
    );
    assert_run(&output, 0, ALL_PASS);
    let export = kv().arg("export").arg(&url).output().unwrap();
    let dump: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    assert_eq!(dump, serde_json::json!({"": {"alice": "42", "bob": "1"}}));
}

#[test]
fn a_missing_wasmtime_is_named() {
    let output = kv()
        .env("WASMTIME", "/nonexistent/wasmtime")
        .arg("test")
        .arg(GREETER_TEST)
        .arg("--app")
        .arg(GREETER)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`/nonexistent/wasmtime` was not found")
            && stderr.contains("set WASMTIME to its path")
            && stderr.contains("-o tests.wasm"),
        "{stderr}"
    );
}

#[test]
fn the_python_example_passes() {
    assert_run(&test_command(python_test(), &[]), 0, ALL_PASS);
}

#[test]
fn the_python_example_reports_a_failure() {
    let output = test_command(python_test(), &["--only", "fails_on_purpose"]);
    assert_run(&output, 1, FAILS);
}

#[test]
fn test_help_says_how_to_run_and_write_the_tests() {
    let output = kv().args(["test", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "Usage: keyvalue-virt test [OPTIONS] --app <APP.wasm> <TEST.wasm>",
        "keyvalue-virt:test/suite@0.1.0",
        "--only <NAME>",
        "--wasmtime-flag <FLAG>",
        "--seed <BUCKET:KEY=VALUE>",
        "keyvalue-virt test greeter_test.wasm --app greeter.wasm -o tests.wasm",
        "wasmtime run tests.wasm",
    ] {
        assert!(
            help.contains(expected),
            "`test --help` lacks {expected}:\n{help}"
        );
    }
    let output = kv().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains("\n  test "),
        "the help lists no `test`:\n{help}"
    );
}

/// Runs `wasmtime run COMPONENT ARGS` with the `wasmtime` on PATH.
fn wasmtime_run(component: &Path, args: &[&str]) -> Output {
    Command::new("wasmtime")
        .arg("run")
        .arg(component)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("failed to run `wasmtime` ({e}); `bash .ci/setup` installs it"))
}

/// The workspace root.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python test component, built once per test run with componentize-py (about 19 MB).
fn python_test() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(build_python_test)
}

/// Builds `tests/python/greeter_test.py` against the world `greeter-test` of
/// `tests/greeter/wit`, with our WIT and the WASI WIT that componentize-py needs beside it.
fn build_python_test() -> PathBuf {
    let root = workspace_root();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-greeter-test");
    let _ = std::fs::remove_dir_all(&dir);
    let deps = dir.join("wit/deps");
    for (from, to) in [
        ("wit/deps/keyvalue-0.2.0-draft2", "keyvalue-0.2.0-draft2"),
        ("wit/control", "control"),
        ("wit/test/test.wit", "test"),
    ] {
        copy_into(&root.join(from), &deps.join(to));
    }
    python::add_wasi_wit(&deps);
    copy_into(
        &root.join("tests/greeter/wit/greeter.wit"),
        &dir.join("wit"),
    );
    copy_into(&root.join("tests/python/greeter_test.py"), &dir);
    let out = dir.join("greeter_test.wasm");
    python::componentize(
        &dir,
        "example:greeter/greeter-test@0.1.0",
        "greeter_test",
        &out,
    );
    out
}

/// Copies the files of `from` (a directory, or one file) into the directory `to`.
fn copy_into(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    if from.is_file() {
        std::fs::copy(from, to.join(from.file_name().unwrap())).unwrap();
        return;
    }
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}
