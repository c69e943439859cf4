//! The keyvalue-virt guest components, built for `wasm32-wasip2` once per build of this crate
//! (see `build.rs`): the component as the CLI ships it, the conformance suite and, with the `test-guests` feature, the
//! test apps.
//!
//! The build runs `cargo build --release --target wasm32-wasip2` with its own target directory,
//! `target/artifacts`, so it never waits on the lock of the cargo that builds this crate.

#![deny(missing_docs)]

/// The keyvalue-virt component with the memory backend only and nothing baked in: the plain
/// `cargo build --release --target wasm32-wasip2 -p keyvalue-virt` artifact.
pub static VIRT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/keyvalue_virt.wasm"));

/// The keyvalue-virt component with the filesystem backend too (`--features fs`).
pub static VIRT_FS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/keyvalue_virt_fs.wasm"));

/// [`VIRT`] exporting draft2 in the shape Spin ships, that of upstream's open PR #55
/// (`--features draft2-spin`).
pub static VIRT_DRAFT2_SPIN: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/keyvalue_virt_draft2_spin.wasm"));

/// [`VIRT_FS`] exporting draft2 in the shape Spin ships (upstream's open PR #55).
pub static VIRT_FS_DRAFT2_SPIN: &[u8] = include_bytes!(concat!(
    env!("OUT_DIR"),
    "/keyvalue_virt_fs_draft2_spin.wasm"
));

/// The keyvalue-virt component with the redis backend (`--features redis`), which imports
/// `wasi:sockets` TCP.
pub static VIRT_REDIS: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/keyvalue_virt_redis.wasm"));

/// [`VIRT_REDIS`] exporting draft2 in the shape Spin ships (upstream's open PR #55).
pub static VIRT_REDIS_DRAFT2_SPIN: &[u8] = include_bytes!(concat!(
    env!("OUT_DIR"),
    "/keyvalue_virt_redis_draft2_spin.wasm"
));

/// The keyvalue-virt component with the redis backend and TLS for `rediss://` URLs
/// (`--features redis-tls`), which imports `wasi:random` and `wasi:clocks/wall-clock` too.
pub static VIRT_REDIS_TLS: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/keyvalue_virt_redis_tls.wasm"));

/// [`VIRT_REDIS_TLS`] exporting draft2 in the shape Spin ships (upstream's open PR #55).
pub static VIRT_REDIS_TLS_DRAFT2_SPIN: &[u8] = include_bytes!(concat!(
    env!("OUT_DIR"),
    "/keyvalue_virt_redis_tls_draft2_spin.wasm"
));

/// The keyvalue-virt component that also exports the control interface
/// (`keyvalue-virt:control/control@0.1.0`, `--features control`), with every backend (`fs` and
/// `redis` too), for `keyvalue-virt plug --control`.
pub static VIRT_CONTROL: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/keyvalue_virt_control.wasm"));

/// [`VIRT_CONTROL`] exporting draft2 in the shape of upstream's PR #55 and Spin.
pub static VIRT_CONTROL_DRAFT2_SPIN: &[u8] = include_bytes!(concat!(
    env!("OUT_DIR"),
    "/keyvalue_virt_control_draft2_spin.wasm"
));

/// The conformance suite of `compose/conformance`: one `wasi:cli` command per shape of
/// `wasi:keyvalue` it imports, as bytes the CLI ships and as paths for tools that take a file.
pub mod conformance {
    /// `conformance-draft`, which imports `wasi:keyvalue@0.2.0-draft`.
    pub static DRAFT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/conformance-draft.wasm"));
    /// `conformance-draft2`, which imports `wasi:keyvalue@0.2.0-draft2` as tagged.
    pub static DRAFT2: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/conformance-draft2.wasm"));
    /// `conformance-draft2-spin`, which imports draft2 in the shape Spin ships (upstream's
    /// open PR #55).
    pub static DRAFT2_SPIN: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/conformance-draft2-spin.wasm"));
    /// The path of [`DRAFT`].
    pub const DRAFT_PATH: &str = concat!(env!("OUT_DIR"), "/conformance-draft.wasm");
    /// The path of [`DRAFT2`].
    pub const DRAFT2_PATH: &str = concat!(env!("OUT_DIR"), "/conformance-draft2.wasm");
    /// The path of [`DRAFT2_SPIN`].
    pub const DRAFT2_SPIN_PATH: &str = concat!(env!("OUT_DIR"), "/conformance-draft2-spin.wasm");
}

/// The runner of `keyvalue-virt test` (`compose/test-runner`): a `wasi:cli` command that
/// imports `keyvalue-virt:test/suite@0.1.0` and the control interface.
pub static TEST_RUNNER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/test-runner.wasm"));

/// The test apps of `tests/guests` (one constant per binary, named after it: `draft-app` is
/// `DRAFT_APP`), `tests/null-virt` (`NULL_VIRT`), `tests/http-counter` (`HTTP_COUNTER`), the example
/// app of `keyvalue-virt test` (`tests/greeter`, `GREETER`) and its Rust test component
/// (`tests/greeter-test`, `GREETER_TEST`), and a test component whose middle test traps
/// (`tests/trap-test`, `TRAP_TEST`), as paths of built components.
#[cfg(feature = "test-guests")]
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

/// What the tests need to build the Python test components with componentize-py (which
/// `.ci/setup` installs): the WASI WIT beside a world, and the build itself.
#[cfg(feature = "test-guests")]
pub mod python {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// The workspace's root directory.
    fn workspace_root() -> &'static Path {
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
    }

    /// The WASI WIT that `wasmtime-wasi` ships, in the version the workspace locks, from the
    /// cargo registry.
    fn wasi_wit() -> PathBuf {
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
            .expect("neither CARGO_HOME nor HOME is set");
        let lock = std::fs::read_to_string(workspace_root().join("Cargo.lock")).unwrap();
        let version = lock
            .split("[[package]]")
            .find(|package| package.contains("name = \"wasmtime-wasi\"\n"))
            .and_then(|package| package.split("version = \"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .expect("Cargo.lock has no wasmtime-wasi");
        let wanted = format!("wasmtime-wasi-{version}");
        std::fs::read_dir(cargo_home.join("registry/src"))
            .expect("no cargo registry sources")
            .filter_map(|index| Some(index.ok()?.path().join(&wanted).join("src/p2/wit/deps")))
            .find(|path| path.is_dir())
            .expect("the wasmtime-wasi sources are not in the cargo registry")
    }

    /// Copies each WASI WIT package into a directory of its own under `deps`, as
    /// componentize-py reads them.
    pub fn add_wasi_wit(deps: &Path) {
        for entry in std::fs::read_dir(wasi_wit()).unwrap() {
            let path = entry.unwrap().path();
            let package = deps.join(path.file_stem().unwrap());
            std::fs::create_dir_all(&package).unwrap();
            std::fs::copy(&path, package.join(path.file_name().unwrap())).unwrap();
        }
    }

    /// Runs `componentize-py -d wit -w WORLD componentize MODULE -o OUT` in `dir`, which must
    /// hold `wit/` and the module; panics with componentize-py's stderr if it fails.
    pub fn componentize(dir: &Path, world: &str, module: &str, out: &Path) {
        let result = Command::new("componentize-py")
            .current_dir(dir)
            .args(["-d", "wit", "-w", world, "componentize", module, "-o"])
            .arg(out)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "failed to run componentize-py ({e}); run `bash .ci/setup`, which installs it"
                )
            });
        assert!(
            result.status.success(),
            "componentize-py failed:\n{}",
            String::from_utf8_lossy(&result.stderr)
        );
    }
}
