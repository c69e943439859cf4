//! The WASI calls the component makes, and nothing else: in the component, bindings of the
//! `trace-imports` world (with the fs backend, `fs-imports`; with redis, `redis-imports`, and
//! with TLS `redis-tls-imports`) of
//! `wit/world.wit`, every interface at 0.2.0; natively, std's equivalents.

#[cfg(target_arch = "wasm32")]
mod bindings {
    #[cfg(not(any(feature = "fs", feature = "redis")))]
    wit_bindgen::generate!({
        path: "../../wit",
        world: "keyvalue-virt:component/trace-imports",
        generate_all,
    });
    #[cfg(all(feature = "fs", not(feature = "redis")))]
    wit_bindgen::generate!({
        path: "../../wit",
        world: "keyvalue-virt:component/fs-imports",
        generate_all,
    });
    #[cfg(all(feature = "redis", not(feature = "redis-tls"), not(feature = "fs")))]
    wit_bindgen::generate!({
        path: "../../wit",
        world: "keyvalue-virt:component/redis-imports",
        generate_all,
    });
    #[cfg(all(feature = "redis-tls", not(feature = "fs")))]
    wit_bindgen::generate!({
        path: "../../wit",
        world: "keyvalue-virt:component/redis-tls-imports",
        generate_all,
    });
    #[cfg(all(feature = "fs", feature = "redis", not(feature = "redis-tls")))]
    wit_bindgen::generate!({
        path: "../../wit",
        world: "keyvalue-virt:component/fs-redis-imports",
        generate_all,
    });
    #[cfg(all(feature = "fs", feature = "redis-tls"))]
    wit_bindgen::generate!({
        path: "../../wit",
        world: "keyvalue-virt:component/fs-redis-tls-imports",
        generate_all,
    });
}

#[cfg(target_arch = "wasm32")]
pub(crate) use self::bindings::wasi::*;

/// Writes `bytes` to the instance's standard error, for `--trace`. A trace that cannot be
/// written must not fail the operation it describes, so failures are ignored.
#[cfg(target_arch = "wasm32")]
pub fn write_stderr(bytes: &[u8]) {
    // `blocking-write-and-flush` takes at most 4096 bytes a call.
    let stream = cli::stderr::get_stderr();
    for chunk in bytes.chunks(4096) {
        if stream.blocking_write_and_flush(chunk).is_err() {
            return;
        }
    }
}

/// Writes `bytes` to the process's standard error, for `--trace`; failures are ignored.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_stderr(bytes: &[u8]) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(bytes);
}
