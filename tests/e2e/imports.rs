//! What each shipped build asks of the runtime: exactly the WASI interfaces its code calls,
//! each at 0.2.0, the lowest version that has every call, so that any WASI 0.2 runtime runs an
//! app plugged with it.

use keyvalue_virt_artifacts::{
    VIRT, VIRT_DRAFT2_SPIN, VIRT_FS, VIRT_FS_DRAFT2_SPIN, VIRT_REDIS, VIRT_REDIS_DRAFT2_SPIN,
    VIRT_REDIS_TLS, VIRT_REDIS_TLS_DRAFT2_SPIN,
};
use keyvalue_virt_compose::imports;

/// `--trace` writes to standard error: `wasi:cli/stderr` and the stream types it returns.
const TRACE: [&str; 3] = [
    "wasi:cli/stderr@0.2.0",
    "wasi:io/error@0.2.0",
    "wasi:io/streams@0.2.0",
];

/// The fs backend adds the granted directories, calls on them, and randomness for the names
/// of temporary files.
const FS: [&str; 3] = [
    "wasi:filesystem/preopens@0.2.0",
    "wasi:filesystem/types@0.2.0",
    "wasi:random/random@0.2.0",
];

/// The redis backend adds TCP sockets (and name lookup, for a host given by name), the clock
/// and polling that bound each call by `--timeout-ms`, and the environment (`--url-env`).
const REDIS: [&str; 8] = [
    "wasi:cli/environment@0.2.0",
    "wasi:sockets/network@0.2.0",
    "wasi:sockets/instance-network@0.2.0",
    "wasi:sockets/tcp@0.2.0",
    "wasi:sockets/tcp-create-socket@0.2.0",
    "wasi:sockets/ip-name-lookup@0.2.0",
    "wasi:clocks/monotonic-clock@0.2.0",
    "wasi:io/poll@0.2.0",
];

fn assert_imports(what: &str, component: &[u8], expected: &[&str]) {
    let mut found = imports(component).unwrap();
    found.sort();
    let mut expected: Vec<&str> = expected.to_vec();
    expected.sort();
    assert_eq!(found, expected, "imports of the {what} build");
}

#[test]
fn memory_builds_import_only_what_the_trace_writes_with() {
    assert_imports("memory", VIRT, &TRACE);
    assert_imports("memory draft2-spin", VIRT_DRAFT2_SPIN, &TRACE);
}

#[test]
fn fs_builds_add_only_the_filesystem_and_randomness() {
    let expected: Vec<&str> = TRACE.iter().chain(&FS).copied().collect();
    assert_imports("fs", VIRT_FS, &expected);
    assert_imports("fs draft2-spin", VIRT_FS_DRAFT2_SPIN, &expected);
}

#[test]
fn redis_builds_add_only_sockets_the_clock_polling_and_the_environment() {
    let expected: Vec<&str> = TRACE.iter().chain(&REDIS).copied().collect();
    assert_imports("redis", VIRT_REDIS, &expected);
    assert_imports("redis draft2-spin", VIRT_REDIS_DRAFT2_SPIN, &expected);
}

/// TLS (`rediss://`) adds randomness for the handshake's keys and the wall clock for the
/// certificates' validity; nothing of WASI preview 1 (the crypto crates' `getrandom`).
#[test]
fn redis_tls_builds_add_only_randomness_and_the_wall_clock() {
    let expected: Vec<&str> = TRACE
        .iter()
        .chain(&REDIS)
        .chain(&["wasi:random/random@0.2.0", "wasi:clocks/wall-clock@0.2.0"])
        .copied()
        .collect();
    assert_imports("redis tls", VIRT_REDIS_TLS, &expected);
    assert_imports(
        "redis tls draft2-spin",
        VIRT_REDIS_TLS_DRAFT2_SPIN,
        &expected,
    );
}
