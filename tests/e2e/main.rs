//! End-to-end tests: the keyvalue-virt component plugged into real `wasi:keyvalue` apps, run in
//! wasmtime. The guest components are built on first use (see `harness::artifacts`).

mod cli_plug;
mod configured;
mod fs;
mod harness;
mod plug;
mod scenarios;
