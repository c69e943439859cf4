//! End-to-end tests: the keyvalue-virt component plugged into real `wasi:keyvalue` apps, run in
//! wasmtime embedded (`keyvalue-virt-harness`). One module per subject.

mod buckets;
mod conformance;
mod corrupt_config;
mod defaults;
mod faults;
mod fs;
mod imports;
mod jco;
mod limits;
mod model;
mod plug;
mod probe;
mod python;
mod redis;
mod redis_tls;
mod scenarios;
mod seeds;
mod serve;
mod test_component;
mod trace;
mod wasmtime_cli;
