//! The binary's own modules: one per group of subcommands (`component`: `build`, `plug` and
//! `config`; `conformance`; `store`: `inspect`, `export` and `import`; `repair`; `test`), and the parts
//! they share. `main.rs` parses the command line and calls them.

pub mod component;
pub mod conformance;
pub mod options;
pub mod repair;
pub mod seed_file;
pub mod show;
pub mod store;
pub mod test;
