//! `keyvalue-virt`: writes the keyvalue-virt component with a configuration baked in, plugs it
//! into applications that import `wasi:keyvalue`, and shows what a component has baked in.
//!
//! The release component is built by `build.rs` and shipped inside this binary.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use keyvalue_virt_compose::config::Config;
use keyvalue_virt_compose::{KEYVALUE_PREFIX, VIRT, bake, keyvalue_imports, plug, virt_for};

/// The binary's own modules, in `src/cli/`.
mod cli {
    pub mod options;
    pub mod seed_file;
    pub mod show;
    pub mod store;
}

use cli::options::ConfigArgs;
use cli::store::{ExportArgs, ImportArgs, InspectArgs};

const ABOUT: &str = "Configures the keyvalue-virt component and plugs it into apps that import \
                     wasi:keyvalue";

const LONG_ABOUT: &str = "\
Configures the keyvalue-virt component and plugs it into apps that import wasi:keyvalue.

keyvalue-virt is a WebAssembly component that exports wasi:keyvalue (store, atomics and batch of \
drafts 0.2.0-draft and 0.2.0-draft2) and implements it inside the guest. An app plugged with it \
needs no key-value support from the runtime. This tool ships the component: `build` writes it \
with a configuration baked in, `plug` composes it into an app, `config` shows what a component \
has baked in. `inspect`, `export` and `import` read and write the directory of a store kept by the \
fs backend (`--backend fs`) from the host.";

const EXAMPLES: &str = "\
Examples:
  # Plug an app and run it on a runtime with no key-value support
  keyvalue-virt plug app.wasm -o app-kv.wasm
  wasmtime run app-kv.wasm

  # Write the component with only bucket `users`, holding one key, for `wac plug`
  keyvalue-virt build -o kv.wasm --bucket users --seed users:alice=30

  # Show what is baked in
  keyvalue-virt config app-kv.wasm

  # Copy the data of an fs-backend store, through a JSON dump
  keyvalue-virt export ./data > dump.json
  keyvalue-virt import ./copy < dump.json";

const BUILD_EXAMPLES: &str = "\
With no configuration options (or only default ones) the component is written as shipped, with \
nothing baked in; it then runs with the defaults: memory backend, any bucket, no limits.

Examples:
  # The component as shipped
  keyvalue-virt build -o kv.wasm

  # Only buckets `users` and `\"\"`, starting with data, values up to 1 MiB
  keyvalue-virt build -o kv.wasm --bucket users --bucket '' \\
      --seed users:alice='{\"age\": 30}' --seed-file seeds.json --max-value-size 1MiB

  # Then plug it with wac
  wac plug app.wasm --plug kv.wasm -o app-kv.wasm";

const PLUG_EXAMPLES: &str = "\
Examples:
  # Plug an app and run it on a runtime with no key-value support
  keyvalue-virt plug app.wasm -o app-kv.wasm
  wasmtime run app-kv.wasm

  # A test double: read-only fixture data, the 3rd `get` fails, every call traced to stderr
  keyvalue-virt plug app.wasm -o app-test.wasm --read-only --seed-file fixture.json \\
      --fail 'get=other:disk full@3' --trace";

const CONFIG_EXAMPLES: &str = "\
Examples:
  keyvalue-virt config kv.wasm
  keyvalue-virt config app-kv.wasm --json";

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
    #[command(after_help = BUILD_EXAMPLES)]
    Build(BuildArgs),

    /// Plugs a configured keyvalue-virt into an app that imports wasi:keyvalue
    ///
    /// Satisfies every wasi:keyvalue import of APP (draft 0.2.0-draft, 0.2.0-draft2 or both)
    /// with keyvalue-virt, configured by the options below, and writes the composed component.
    /// Its other imports (wasi:cli, wasi:io, ...) stay imports and its exports stay exports;
    /// no wasi:keyvalue import is left, so it runs on any WASI Preview 2 runtime.
    #[command(after_help = PLUG_EXAMPLES)]
    Plug(PlugArgs),

    /// Prints the configuration baked into a component
    ///
    /// FILE is a component written by `keyvalue-virt build`, or an app plugged with
    /// keyvalue-virt (by `keyvalue-virt plug` or `wac plug`). For a component with nothing
    /// baked in, prints the defaults it runs with.
    #[command(after_help = CONFIG_EXAMPLES)]
    Config(ShowArgs),

    /// Lists the buckets and keys of an fs-backend store directory, with value sizes
    ///
    /// Reads DIR, the host directory behind a component built with `--backend fs --dir`, with
    /// the component's own code, and prints each bucket, then its keys and the size of their
    /// values. --json prints the values too, in the --seed-file shape.
    #[command(after_help = cli::store::INSPECT_EXAMPLES)]
    Inspect(InspectArgs),

    /// Prints a whole fs-backend store directory as JSON in the --seed-file shape
    ///
    /// Writes every bucket, key and value of DIR to stdout as `{"bucket": {"key": "text" or
    /// {"base64": "..."}}}`, ready for `import` or --seed-file.
    #[command(after_help = cli::store::EXPORT_EXAMPLES)]
    Export(ExportArgs),

    /// Writes the keys of a JSON dump (the --seed-file shape) into an fs-backend store directory
    ///
    /// Reads the dump from stdin (or --file), checks all of it, then stores every key in DIR,
    /// making DIR a store if it is empty or missing.
    #[command(after_help = cli::store::IMPORT_EXAMPLES)]
    Import(ImportArgs),
}

#[derive(Args, Debug)]
struct BuildArgs {
    /// Where to write the component
    #[arg(short, long, value_name = "OUT.wasm")]
    output: PathBuf,

    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Args, Debug)]
struct PlugArgs {
    /// The app: a component that imports wasi:keyvalue
    #[arg(value_name = "APP.wasm")]
    app: PathBuf,

    /// Where to write the plugged app
    #[arg(short, long, value_name = "OUT.wasm")]
    output: PathBuf,

    #[command(flatten)]
    config: ConfigArgs,
}

#[derive(Args, Debug)]
struct ShowArgs {
    /// The component to inspect
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Print JSON instead of text (seeds in the --seed-file shape)
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(args) => build(args),
        Command::Plug(args) => plug_app(args),
        Command::Config(args) => show(args),
        Command::Inspect(args) => cli::store::inspect(args),
        Command::Export(args) => cli::store::export(args),
        Command::Import(args) => cli::store::import(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
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

fn build(args: BuildArgs) -> Result<()> {
    let config = args.config.to_config()?;
    let (component, baked) = configured_virt(&config)?;
    write(&args.output, &component)?;
    eprintln!(
        "wrote `{}`: keyvalue-virt {}",
        args.output.display(),
        if baked {
            "with the configuration baked in"
        } else {
            "as shipped (nothing baked in; the defaults apply)"
        }
    );
    Ok(())
}

fn plug_app(args: PlugArgs) -> Result<()> {
    // Every option is checked, and the seed files read, before the app is touched.
    let config = args.config.to_config()?;
    let app_path = args.app.display();
    let app = read(&args.app)?;
    let imports = keyvalue_imports(&app)
        .with_context(|| format!("failed to read `{app_path}` as a component"))?;
    for line in describe_imports(&imports) {
        eprintln!("`{app_path}` imports {line}");
    }

    let (virt, baked) = configured_virt(&config)?;
    let composed = plug(&app, &virt).with_context(|| format!("failed to plug `{app_path}`"))?;
    let left = keyvalue_imports(&composed)
        .with_context(|| format!("failed to inspect the plugged `{app_path}`"))?;
    if !left.is_empty() {
        bail!(
            "the plugged `{app_path}` still imports {}; this is a bug in keyvalue-virt, please \
             report it",
            left.join(", ")
        );
    }
    write(&args.output, &composed)?;
    eprintln!(
        "wrote `{}`: `{app_path}` plugged with keyvalue-virt ({}); no wasi:keyvalue import is left",
        args.output.display(),
        if baked {
            "configuration baked in"
        } else {
            "nothing baked in; the defaults apply"
        }
    );
    Ok(())
}

fn show(args: ShowArgs) -> Result<()> {
    let path = args.file.display().to_string();
    let component = read(&args.file)?;
    let config = bake::read(&component)
        .with_context(|| format!("failed to read the configuration of `{path}`"))?;
    if args.json {
        let json = serde_json::to_string_pretty(&cli::show::json(config.as_ref()))
            .context("failed to render the configuration as JSON")?;
        println!("{json}");
    } else {
        print!("{}", cli::show::text(&path, config.as_ref()));
    }
    Ok(())
}

/// The shipped component with `config` baked in, and whether anything was baked: a
/// configuration equal to the defaults leaves the component as shipped.
fn configured_virt(config: &Config) -> Result<(Vec<u8>, bool)> {
    if *config == Config::default() {
        return Ok((VIRT.to_vec(), false));
    }
    let baked = bake::bake(virt_for(config), config)
        .context("failed to bake the configuration into the keyvalue-virt component")?;
    Ok((baked, true))
}

/// One line per `wasi:keyvalue` version the imports use, like
/// `wasi:keyvalue@0.2.0-draft (store, atomics, batch)`.
fn describe_imports(imports: &[String]) -> Vec<String> {
    let mut versions: Vec<(&str, Vec<&str>)> = Vec::new();
    for name in imports {
        let rest = name.strip_prefix(KEYVALUE_PREFIX).unwrap_or(name);
        let (interface, version) = rest.split_once('@').unwrap_or((rest, ""));
        match versions.iter_mut().find(|(v, _)| *v == version) {
            Some((_, interfaces)) => interfaces.push(interface),
            None => versions.push((version, vec![interface])),
        }
    }
    versions
        .into_iter()
        .map(|(version, interfaces)| {
            let package = if version.is_empty() {
                "wasi:keyvalue (no version)".to_owned()
            } else {
                format!("wasi:keyvalue@{version}")
            };
            format!("{package} ({})", interfaces.join(", "))
        })
        .collect()
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("failed to read `{}`", path.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("failed to write `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn imports_are_grouped_by_version() {
        let imports = [
            "wasi:keyvalue/store@0.2.0-draft",
            "wasi:keyvalue/atomics@0.2.0-draft",
            "wasi:keyvalue/store@0.2.0-draft2",
            "wasi:keyvalue/batch@0.2.0-draft",
            "wasi:keyvalue/store",
        ]
        .map(String::from);
        assert_eq!(
            describe_imports(&imports),
            [
                "wasi:keyvalue@0.2.0-draft (store, atomics, batch)",
                "wasi:keyvalue@0.2.0-draft2 (store)",
                "wasi:keyvalue (no version) (store)",
            ]
        );
    }
}
