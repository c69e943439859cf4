//! What the drivers' tests share: the seeded configuration, the fs backend's configuration,
//! plugging an example app, and granting a store directory to its instances.

use std::path::Path;

use keyvalue_virt_compose::config::{BackendKind, Seed};
use keyvalue_virt_testing::Config;
use keyvalue_virt_testing::wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// The guest path at which the fs tests grant the store directory.
const GUEST_DIR: &str = "/kv";

/// `config` whose store holds `key` = `value` in bucket `""` from the start.
pub fn seeded(key: &str, value: &[u8], config: Config) -> Config {
    Config {
        seeds: vec![Seed {
            bucket: String::new(),
            key: key.into(),
            value: value.to_vec(),
        }],
        ..config
    }
}

/// `config` with the fs backend on the directory [`grant`] grants.
pub fn on_fs(config: Config) -> Config {
    Config {
        backend: BackendKind::Fs,
        dir: Some(GUEST_DIR.into()),
        ..config
    }
}

/// The built example app at `path` plugged with the control build, `config` baked in.
pub fn plugged(path: &str, config: &Config) -> Vec<u8> {
    let app = std::fs::read(path).unwrap_or_else(|e| panic!("`{path}` is not built: {e}"));
    keyvalue_virt_testing::plug(&app, config).expect("the example app plugs with --control")
}

/// What `load_with` takes to grant `dir` to each instance, read-write, where [`on_fs`] puts
/// the store.
pub fn grant(dir: &Path) -> impl Fn(&mut WasiCtxBuilder) + Send + 'static {
    let host = dir.to_path_buf();
    move |wasi| {
        wasi.allow_blocking_current_thread(true)
            .preopened_dir(&host, GUEST_DIR, FsPerms::ReadWrite)
            .expect("the store directory can be granted");
    }
}
