//! Builds the workspace's guests for `wasm32-wasip2`, once, and hands them to the crate.
//!
//! Nested `cargo build --release` runs share the target directory `target/artifacts`: the
//! component with the memory backend (plus, with the `test-guests` feature, every test app and
//! the do-nothing component in the same run), then the component's other builds ([`BUILDS`]).
//! Each artifact is copied to `OUT_DIR`, which stays valid if the target directory is removed.
//! A separate target directory keeps the nested cargo from waiting on the lock of the cargo
//! that runs this script.

use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio, exit};

const TARGET: &str = "wasm32-wasip2";

/// The component's package and artifact.
const VIRT_PACKAGE: &str = "keyvalue-virt";
const VIRT_ARTIFACT: &str = "keyvalue_virt.wasm";

/// The component's builds after the first, as (features, file name in `OUT_DIR`).
const BUILDS: [(&[&str], &str); 9] = [
    (&["fs"], "keyvalue_virt_fs.wasm"),
    (&["draft2-spin"], "keyvalue_virt_draft2_spin.wasm"),
    (&["fs", "draft2-spin"], "keyvalue_virt_fs_draft2_spin.wasm"),
    (&["redis"], "keyvalue_virt_redis.wasm"),
    (
        &["redis", "draft2-spin"],
        "keyvalue_virt_redis_draft2_spin.wasm",
    ),
    // TLS (`rediss://`) only in builds of its own: the plain redis build stays as it was.
    (&["redis-tls"], "keyvalue_virt_redis_tls.wasm"),
    (
        &["redis-tls", "draft2-spin"],
        "keyvalue_virt_redis_tls_draft2_spin.wasm",
    ),
    // The live test double (`plug --control`): every backend in one build per shape.
    (&["control", "fs", "redis"], "keyvalue_virt_control.wasm"),
    (
        &["control", "fs", "redis", "draft2-spin"],
        "keyvalue_virt_control_draft2_spin.wasm",
    ),
];

/// With this variable set to `1`, only the memory builds are made; the others ([`BUILDS`] with
/// an I/O backend) become empty files, which fail loudly wherever they are used. For mutation
/// testing (`.ci/mutants`), which rebuilds the component once per mutant and runs only the
/// memory backend's tests.
const MEMORY_ONLY: &str = "KEYVALUE_VIRT_ARTIFACTS_MEMORY_ONLY";

/// The features that select a backend whose calls wait on I/O (see [`cargo_build`]).
const IO_BACKENDS: [&str; 3] = ["fs", "redis", "redis-tls"];

/// The test apps' package (one artifact per binary) and the do-nothing component's.
const GUESTS_PACKAGE: &str = "keyvalue-virt-test-guests";
const NULL_PACKAGE: &str = "keyvalue-virt-null";
const NULL_ARTIFACT: &str = "keyvalue_virt_null.wasm";
/// The fs backend's floor for the bench (`tests/fs-floor`): `get` makes the backend's WASI calls.
const FS_FLOOR_PACKAGE: &str = "keyvalue-virt-fs-floor";
const FS_FLOOR_ARTIFACT: &str = "keyvalue_virt_fs_floor.wasm";
/// The HTTP example app (`tests/http-counter`), for `wasmtime serve`.
const HTTP_COUNTER_PACKAGE: &str = "keyvalue-virt-http-counter";
const HTTP_COUNTER_ARTIFACT: &str = "keyvalue_virt_http_counter.wasm";
/// The example app of `keyvalue-virt test` (`tests/greeter`) and its Rust test component
/// (`tests/greeter-test`).
const GREETER_PACKAGE: &str = "keyvalue-virt-greeter";
const GREETER_ARTIFACT: &str = "keyvalue_virt_greeter.wasm";
const GREETER_TEST_PACKAGE: &str = "keyvalue-virt-greeter-test";
const GREETER_TEST_ARTIFACT: &str = "keyvalue_virt_greeter_test.wasm";
/// A test component whose middle test traps (`tests/trap-test`).
const TRAP_TEST_PACKAGE: &str = "keyvalue-virt-trap-test";
const TRAP_TEST_ARTIFACT: &str = "keyvalue_virt_trap_test.wasm";

/// The runner of `keyvalue-virt test` (`compose/test-runner`), which the CLI ships.
const TEST_RUNNER_PACKAGE: &str = "keyvalue-virt-test-runner";
const TEST_RUNNER_ARTIFACT: &str = "test-runner.wasm";

/// The conformance suite's package, and its commands (one per shape of `wasi:keyvalue`), which
/// the CLI ships.
const CONFORMANCE_PACKAGE: &str = "keyvalue-virt-conformance";
const CONFORMANCE_ARTIFACTS: [&str; 3] = [
    "conformance-draft.wasm",
    "conformance-draft2.wasm",
    "conformance-draft2-spin.wasm",
];

fn main() {
    let workspace = workspace_root();
    for input in [
        "src",
        "wit",
        "compose/conformance",
        "compose/test-runner",
        "build.rs",
        "tests/guests",
        "tests/greeter",
        "tests/greeter-test",
        "tests/trap-test",
        "tests/http-counter",
        "tests/null-virt",
        "tests/fs-floor",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(input).display());
    }
    println!("cargo:rerun-if-env-changed={MEMORY_ONLY}");
    let memory_only = env::var_os(MEMORY_ONLY).is_some_and(|v| v == "1");
    check_target_installed();

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let target_dir = workspace.join("target").join("artifacts");
    let built = target_dir.join(TARGET).join("release");
    let test_guests = env::var_os("CARGO_FEATURE_TEST_GUESTS").is_some();

    let mut packages = vec![VIRT_PACKAGE, CONFORMANCE_PACKAGE, TEST_RUNNER_PACKAGE];
    if test_guests {
        packages.extend([
            GUESTS_PACKAGE,
            NULL_PACKAGE,
            FS_FLOOR_PACKAGE,
            HTTP_COUNTER_PACKAGE,
            GREETER_PACKAGE,
            GREETER_TEST_PACKAGE,
            TRAP_TEST_PACKAGE,
        ]);
    }
    cargo_build(&workspace, &target_dir, &packages, &[]);
    copy(
        &built.join(VIRT_ARTIFACT),
        &out_dir.join("keyvalue_virt.wasm"),
    );
    for file in CONFORMANCE_ARTIFACTS
        .into_iter()
        .chain([TEST_RUNNER_ARTIFACT])
    {
        copy(&built.join(file), &out_dir.join(file));
    }

    if test_guests {
        let mut consts = String::new();
        let bins = guest_binaries(&workspace.join("tests/guests/src/bin"));
        let artifacts = bins
            .iter()
            .map(|bin| {
                (
                    format!("{bin}.wasm"),
                    bin.replace('-', "_").to_uppercase(),
                    format!("`tests/guests/src/bin/{bin}.rs`"),
                )
            })
            .chain([
                (
                    NULL_ARTIFACT.to_owned(),
                    "NULL_VIRT".to_owned(),
                    "`tests/null-virt`".to_owned(),
                ),
                (
                    FS_FLOOR_ARTIFACT.to_owned(),
                    "FS_FLOOR".to_owned(),
                    "`tests/fs-floor`".to_owned(),
                ),
                (
                    HTTP_COUNTER_ARTIFACT.to_owned(),
                    "HTTP_COUNTER".to_owned(),
                    "`tests/http-counter`".to_owned(),
                ),
                (
                    GREETER_ARTIFACT.to_owned(),
                    "GREETER".to_owned(),
                    "`tests/greeter`".to_owned(),
                ),
                (
                    GREETER_TEST_ARTIFACT.to_owned(),
                    "GREETER_TEST".to_owned(),
                    "`tests/greeter-test`".to_owned(),
                ),
                (
                    TRAP_TEST_ARTIFACT.to_owned(),
                    "TRAP_TEST".to_owned(),
                    "`tests/trap-test`".to_owned(),
                ),
            ]);
        for (file, name, source) in artifacts {
            let shipped = out_dir.join(&file);
            copy(&built.join(&file), &shipped);
            let _ = writeln!(
                consts,
                "/// {source}, built for `{TARGET}`.\npub const {name}: &str = {:?};",
                shipped.display().to_string()
            );
        }
        write(&out_dir.join("guests.rs"), &consts);
    }

    for (features, file) in BUILDS {
        if memory_only && features.iter().any(|f| IO_BACKENDS.contains(f)) {
            write(&out_dir.join(file), "");
            continue;
        }
        cargo_build(&workspace, &target_dir, &[VIRT_PACKAGE], features);
        copy(&built.join(VIRT_ARTIFACT), &out_dir.join(file));
    }
}

/// The workspace root: two levels above this crate (`compose/artifacts`).
fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    match manifest_dir.ancestors().nth(2) {
        Some(root) if root.join("wit").is_dir() => root.to_path_buf(),
        _ => fail(&format!(
            "`{}` is not inside the keyvalue-virt workspace (no `wit/` two levels up): this \
             crate builds keyvalue-virt's guests from the workspace's sources, so it builds only \
             in a clone of the repository; install the CLI from one with `cargo install --locked \
             --path compose`",
            manifest_dir.display()
        )),
    }
}

/// The names of the test apps' binaries, sorted.
fn guest_binaries(dir: &Path) -> Vec<String> {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| fail(&format!("failed to list `{}`: {e}", dir.display())));
    let mut bins: Vec<String> = entries
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            Some(name.strip_suffix(".rs")?.to_owned())
        })
        .collect();
    bins.sort();
    bins
}

/// Runs `cargo build --release --target wasm32-wasip2` on `packages` with `features`.
fn cargo_build(workspace: &Path, target_dir: &Path, packages: &[&str], features: &[&str]) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(&cargo);
    command
        .current_dir(workspace)
        .args(["build", "--release", "--target", TARGET])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir)
        // The guests are built the same way whatever flags or wrapper (such as clippy-driver)
        // the outer build uses for the host.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        // Cargo reads a build script's stdout as instructions; the nested build's output goes
        // to stderr, which cargo shows if the build fails.
        .stdout(Stdio::from(std::io::stderr()));
    for package in packages {
        command.args(["-p", package]);
    }
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    // The control builds keep the memory backend's speed: a test double's call log must not
    // slow the data path it observes.
    if features.iter().any(|f| IO_BACKENDS.contains(f)) && !features.contains(&"control") {
        // The root manifest builds the storage core at `opt-level = 3` for the memory
        // backend, whose calls are the runtime's floor plus a little; the fs and redis builds
        // wait on files and the network, where that buys nothing and costs about 30 KB.
        command.args([
            "--config",
            "profile.release.package.keyvalue-virt-core.opt-level=\"s\"",
        ]);
    }
    let status = command.status().unwrap_or_else(|error| {
        fail(&format!(
            "failed to run `{} build`: {error}",
            cargo.to_string_lossy()
        ))
    });
    if !status.success() {
        fail(&format!(
            "building the guests failed ({status}); the command was\n  cargo build --release \
             --target {TARGET} -p {} {}\nwith CARGO_TARGET_DIR={}",
            packages.join(" -p "),
            features.join(","),
            target_dir.display()
        ));
    }
}

fn copy(from: &Path, to: &Path) {
    if let Err(error) = std::fs::copy(from, to) {
        fail(&format!(
            "failed to copy `{}` to `{}`: {error}",
            from.display(),
            to.display()
        ));
    }
}

fn write(path: &Path, text: &str) {
    if let Err(error) = std::fs::write(path, text) {
        fail(&format!("failed to write `{}`: {error}", path.display()));
    }
}

/// Stops with a message that says how to install the target, instead of rustc's "can't find
/// crate for `core`" deep in the nested build.
fn check_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let output = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output();
    let installed = match &output {
        Ok(output) if output.status.success() => {
            let libdir = String::from_utf8_lossy(&output.stdout);
            Path::new(libdir.trim()).is_dir()
        }
        // Let the build itself report whatever is wrong with this rustc.
        _ => true,
    };
    if !installed {
        fail(&format!(
            "the `{TARGET}` target is not installed, and keyvalue-virt's guests are built for \
             it; run `rustup target add {TARGET}` and build again"
        ));
    }
}

fn fail(message: &str) -> ! {
    // `cargo::error` makes cargo print the message as an error of its own, not buried in the
    // script's output.
    println!("cargo::error={message}");
    eprintln!("error: {message}");
    exit(1);
}
