//! Builds the release keyvalue-virt component for `wasm32-wasip2` in its two flavors, the
//! default (memory backend only) and `--features fs` (memory and filesystem backends), and
//! copies them to `$OUT_DIR`; the crate gets their paths as `KEYVALUE_VIRT_WASM` and
//! `KEYVALUE_VIRT_FS_WASM` and ships them with `include_bytes!`.
//!
//! Each flavor has its own target directory (`target/wasm`, `target/wasm-fs`), so neither
//! rebuilds the other's artifacts, and the nested cargo never waits on the lock of the cargo
//! that runs this script.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio, exit};

const TARGET: &str = "wasm32-wasip2";
const PACKAGE: &str = "keyvalue-virt";
const ARTIFACT: &str = "keyvalue_virt.wasm";

/// The flavors: target directory, cargo features, file name in `OUT_DIR`, variable name.
const FLAVORS: [(&str, &[&str], &str, &str); 2] = [
    ("wasm", &[], "keyvalue_virt.wasm", "KEYVALUE_VIRT_WASM"),
    (
        "wasm-fs",
        &["--features", "fs"],
        "keyvalue_virt_fs.wasm",
        "KEYVALUE_VIRT_FS_WASM",
    ),
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let workspace = manifest_dir
        .parent()
        .unwrap_or_else(|| fail("the compose crate must live inside the keyvalue-virt workspace"))
        .to_path_buf();
    for input in ["src", "wit", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", workspace.join(input).display());
    }

    check_target_installed();

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    for (dir, features, file, variable) in FLAVORS {
        let shipped = out_dir.join(file);
        build(
            &workspace,
            &workspace.join("target").join(dir),
            features,
            &shipped,
        );
        println!("cargo:rustc-env={variable}={}", shipped.display());
    }
}

/// Builds one flavor of the component and copies it to `shipped`.
fn build(workspace: &Path, target_dir: &Path, features: &[&str], shipped: &Path) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(&cargo);
    command
        .current_dir(workspace)
        .arg("build")
        .arg("--release")
        .args(["--target", TARGET, "-p", PACKAGE])
        .args(features)
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir)
        // The component is built the same way whatever flags or wrapper (such as clippy-driver)
        // the outer build uses for the host.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        // Cargo reads a build script's stdout as instructions; the nested build's output goes
        // to stderr, which cargo shows if the build fails.
        .stdout(Stdio::from(std::io::stderr()));
    let status = command.status().unwrap_or_else(|error| {
        fail(&format!(
            "failed to run `{} build` for the keyvalue-virt component: {error}",
            cargo.to_string_lossy()
        ))
    });
    if !status.success() {
        fail(&format!(
            "building the keyvalue-virt component failed ({status}); the command was\n  \
             cargo build --release --target {TARGET} -p {PACKAGE} {}\n\
             with CARGO_TARGET_DIR={}",
            features.join(" "),
            target_dir.display()
        ));
    }

    let built = target_dir.join(TARGET).join("release").join(ARTIFACT);
    // A copy in OUT_DIR stays valid even if the target directory is removed later.
    if let Err(error) = std::fs::copy(&built, shipped) {
        fail(&format!(
            "failed to copy `{}` to `{}`: {error}",
            built.display(),
            shipped.display()
        ));
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
            "the `{TARGET}` target is not installed, and the keyvalue-virt CLI ships the \
             component built for it; run `rustup target add {TARGET}` and build again"
        ));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    exit(1);
}
