//! `keyvalue-virt`: writes the keyvalue-virt component with a configuration baked in, plugs it
//! into applications that import `wasi:keyvalue`, and shows what a component has baked in.
//!
//! The release component comes from `keyvalue-virt-artifacts` and is shipped inside this
//! binary. This file parses the command line and dispatches; each group of subcommands lives in
//! its own module under `src/cli/`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

use cli::component::{BuildArgs, PlugArgs, ShowArgs};
use cli::conformance::ConformanceArgs;
use cli::store::{ExportArgs, ImportArgs, InspectArgs};

const ABOUT: &str = "Configures the keyvalue-virt component and plugs it into apps that import \
                     wasi:keyvalue";

const LONG_ABOUT: &str = "\
Configures the keyvalue-virt component and plugs it into apps that import wasi:keyvalue.

keyvalue-virt is a WebAssembly component that exports wasi:keyvalue (store, atomics and batch of \
drafts 0.2.0-draft and 0.2.0-draft2) and implements it inside the guest. An app plugged with it \
needs no key-value support from the runtime. This tool ships the component: `build` writes it \
with a configuration baked in, `plug` composes it into an app, `config` shows what a component \
has baked in. `conformance` writes a suite that checks any wasi:keyvalue implementation. \
`inspect`, `export` and `import` read and write a store from the host: the directory of the fs \
backend (`--backend fs`) or the server of the redis backend (a redis:// URL), or the store a \
plugged app uses (`--from APP.wasm`); `repair` mends the damaged files of an fs store. `test` \
runs a test component against an app plugged with the control interface, a live test double.";

const EXAMPLES: &str = "\
Examples:
  # Plug an app and run it on a runtime with no key-value support
  keyvalue-virt plug app.wasm -o app-kv.wasm
  wasmtime run app-kv.wasm

  # Write the component with only bucket `users`, holding one key, for `wac plug`
  keyvalue-virt build -o kv.wasm --bucket users --seed users:alice=30

  # Show what is baked in
  keyvalue-virt config app-kv.wasm

  # Check a wasi:keyvalue implementation: here wasmtime's own
  keyvalue-virt conformance --draft draft -o conformance.wasm
  wasmtime run -S keyvalue conformance.wasm --bucket '' --no-persistence

  # Copy the data of an fs-backend store, through a JSON dump
  keyvalue-virt export ./data > dump.json
  keyvalue-virt import ./copy < dump.json

  # List what an app plugged with `--backend redis` stored (URL and prefix read from the app)
  keyvalue-virt inspect --from app-kv.wasm

  # Mend the damaged files of an fs store
  keyvalue-virt repair ./data

  # Run a test component's tests against an app, each on a store reset to the seeds
  keyvalue-virt test app_test.wasm --app app.wasm";

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "keyvalue-virt",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Writes the keyvalue-virt component with a configuration baked in
    ///
    /// Writes the keyvalue-virt component, which exports wasi:keyvalue (store, atomics and
    /// batch of drafts 0.2.0-draft and 0.2.0-draft2), with the configuration that the options
    /// below describe baked in. Plug it into an app with `wac plug`, or use `keyvalue-virt
    /// plug` to do both in one step.
    #[command(after_help = cli::component::BUILD_EXAMPLES)]
    Build(BuildArgs),

    /// Plugs a configured keyvalue-virt into an app that imports wasi:keyvalue
    ///
    /// Satisfies every wasi:keyvalue import of APP (draft 0.2.0-draft, 0.2.0-draft2 or both)
    /// with keyvalue-virt, configured by the options below, and writes the composed component.
    /// Its other imports (wasi:cli, wasi:io, ...) stay imports and its exports stay exports;
    /// no wasi:keyvalue import is left, so it runs on any WASI Preview 2 runtime.
    #[command(after_help = cli::component::PLUG_EXAMPLES)]
    Plug(PlugArgs),

    /// Prints the configuration baked into a component
    ///
    /// FILE is a component written by `keyvalue-virt build`, or an app plugged with
    /// keyvalue-virt (by `keyvalue-virt plug` or `wac plug`). For a component with nothing
    /// baked in, prints the defaults it runs with.
    #[command(after_help = cli::component::CONFIG_EXAMPLES)]
    Config(ShowArgs),

    /// Writes the conformance suite, which checks any wasi:keyvalue implementation
    ///
    /// Writes a wasi:cli command that imports wasi:keyvalue in the shape --draft names and runs
    /// every check of the drafts' documented behaviour (store, list-keys paging and cursors,
    /// increment, compare-and-swap, batch, odd keys and values, errors without traps), one line
    /// per check. Run it on a host that implements wasi:keyvalue, or plug it with a component
    /// that exports it.
    #[command(after_help = cli::conformance::CONFORMANCE_EXAMPLES)]
    Conformance(ConformanceArgs),

    /// Lists the buckets and keys of a store (fs directory or redis:// URL), with value sizes
    ///
    /// Reads DIR, the host directory behind a component built with `--backend fs --dir`, or the
    /// Redis server at a redis:// URL, with the component's own code, and prints each bucket,
    /// then its keys and the size of their values. --json prints the values too, in the
    /// --seed-file shape.
    #[command(after_help = cli::store::INSPECT_EXAMPLES)]
    Inspect(InspectArgs),

    /// Prints a whole store (fs directory or redis:// URL) as JSON in the --seed-file shape
    ///
    /// Writes every bucket, key and value of DIR (or of the Redis server at a redis:// URL) to
    /// stdout as `{"bucket": {"key": "text" or
    /// {"base64": "..."}}}`, ready for `import` or --seed-file.
    #[command(after_help = cli::store::EXPORT_EXAMPLES)]
    Export(ExportArgs),

    /// Writes the keys of a JSON dump (the --seed-file shape) into a store (fs directory or redis:// URL)
    ///
    /// Reads the dump from stdin (or --file), checks all of it, then stores every key in DIR,
    /// making DIR a store if it is empty or missing, or on the Redis server at a redis:// URL.
    #[command(after_help = cli::store::IMPORT_EXAMPLES)]
    Import(ImportArgs),

    /// Mends the damaged files of a store directory of the fs backend
    ///
    /// Replaces each damaged key file of DIR by an empty one whose generation lies past every
    /// one it had, so that no leftover of it can match again, and removes dead leftovers. The
    /// damaged files' keys are lost; every other key is kept.
    #[command(after_help = cli::repair::REPAIR_EXAMPLES)]
    Repair(cli::repair::RepairArgs),

    /// Runs a test component against an app plugged with the control interface
    ///
    /// Plugs APP with keyvalue-virt's control build (as `plug --control`, configured by the
    /// options below), composes it with TEST, a component that exports
    /// keyvalue-virt:test/suite@0.1.0 and calls the app's exports and the control interface, and
    /// runs each test on the wasmtime CLI with the store reset to the seeds; or writes the
    /// composed tests, a wasi:cli command, with -o.
    #[command(after_help = cli::test::TEST_EXAMPLES)]
    Test(cli::test::TestArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let done = |()| ExitCode::SUCCESS;
    let result = match cli.command {
        Command::Build(args) => cli::component::build(args).map(done),
        Command::Plug(args) => cli::component::plug(args).map(done),
        Command::Config(args) => cli::component::config(args).map(done),
        Command::Conformance(args) => cli::conformance::conformance(args).map(done),
        Command::Inspect(args) => cli::store::inspect(args).map(done),
        Command::Export(args) => cli::store::export(args).map(done),
        Command::Import(args) => cli::store::import(args).map(done),
        Command::Repair(args) => cli::repair::repair(args).map(done),
        // The runner's exit status: 1 when a test failed.
        Command::Test(args) => cli::test::test(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            // Like anyhow's own report, without the backtrace that RUST_BACKTRACE would add.
            eprintln!("error: {error}");
            let mut causes = error.chain().skip(1).peekable();
            if causes.peek().is_some() {
                eprintln!("\nCaused by:");
                for cause in causes {
                    eprintln!("    {cause}");
                }
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// The top-level help names every subcommand in its description, and has an example of it.
    #[test]
    fn the_top_level_help_covers_every_subcommand() {
        for command in Cli::command().get_subcommands() {
            let name = command.get_name();
            if name == "help" {
                continue;
            }
            assert!(
                LONG_ABOUT.contains(&format!("`{name}`")),
                "the top-level description does not name `{name}`"
            );
            assert!(
                EXAMPLES.contains(&format!("keyvalue-virt {name} ")),
                "the top-level examples lack `keyvalue-virt {name}`"
            );
        }
    }
}
