//! `build`, `plug` and `config`: write the keyvalue-virt component with a configuration baked
//! in, plug it into an app that imports `wasi:keyvalue`, and show what a component has baked in.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use keyvalue_virt_compose::config::Config;
use keyvalue_virt_compose::{
    KEYVALUE_PREFIX, Shape, bake, control_virt_in, keyvalue_imports, shape_for, virt_in,
};

use super::options::ConfigArgs;

/// The help of `build` after its options.
pub const BUILD_EXAMPLES: &str = "\
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

/// The help of `plug` after its options.
pub const PLUG_EXAMPLES: &str = "\
Examples:
  # Plug an app and run it on a runtime with no key-value support
  keyvalue-virt plug app.wasm -o app-kv.wasm
  wasmtime run app-kv.wasm

  # A test double: read-only fixture data, the 3rd `get` fails, every call traced to stderr
  keyvalue-virt plug app.wasm -o app-test.wasm --read-only --seed-file fixture.json \\
      --fail 'get=other:disk full@3' --trace

  # A live test double: the plugged app also exports keyvalue-virt:control/control
  keyvalue-virt plug app.wasm -o app-test.wasm --control --seed ':alice=41'";

/// The help of `config` after its options.
pub const CONFIG_EXAMPLES: &str = "\
Examples:
  keyvalue-virt config kv.wasm
  keyvalue-virt config app-kv.wasm --json";

/// `build -o OUT [--shape SHAPE] [CONFIGURATION]`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Where to write the component
    #[arg(short, long, value_name = "OUT.wasm")]
    pub output: PathBuf,

    /// Which draft2 the component exports (it exports 0.2.0-draft too): `draft2`, as tagged, or
    /// `draft2-spin`, as upstream's PR #55 and Spin have it (`get-many` returns each key with an
    /// optional value). Tell an app's with `wasm-tools component wit app.wasm | grep get-many`
    #[arg(long, value_name = "SHAPE", default_value = "draft2", value_parser = parse_shape)]
    pub shape: Shape,

    #[command(flatten)]
    pub config: ConfigArgs,
}

/// `plug APP -o OUT [CONFIGURATION]`.
#[derive(Args, Debug)]
pub struct PlugArgs {
    /// The app: a component that imports wasi:keyvalue
    #[arg(value_name = "APP.wasm")]
    pub app: PathBuf,

    /// Where to write the plugged app
    #[arg(short, long, value_name = "OUT.wasm")]
    pub output: PathBuf,

    /// Which draft2 to plug with (see `build --shape`); by default the one the app imports
    #[arg(long, value_name = "SHAPE", value_parser = parse_shape)]
    pub shape: Option<Shape>,

    /// Also export keyvalue-virt's control interface from the plugged app
    ///
    /// The plugged app then exports `keyvalue-virt:control/control@0.1.0` next to its own
    /// exports: a test that instantiates it reads and writes the store, reads the log of the
    /// app's calls and injects faults while the app runs (see `wit/control/control.wit`).
    /// The control build carries every backend, so the plugged app may import wasi:filesystem
    /// and wasi:sockets (unused with the memory backend); without --control, nothing changes.
    #[arg(long)]
    pub control: bool,

    #[command(flatten)]
    pub config: ConfigArgs,
}

/// `config FILE [--json]`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The component to inspect
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Print JSON instead of text (seeds in the --seed-file shape)
    #[arg(long)]
    pub json: bool,
}

/// Runs `build`.
pub fn build(args: BuildArgs) -> Result<()> {
    let config = args.config.to_config()?;
    let (component, baked) = configured_virt(&config, args.shape)?;
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

/// Runs `plug`.
pub fn plug(args: PlugArgs) -> Result<()> {
    // Every option is checked, and the seed files read, before the app is touched.
    let config = args.config.to_config()?;
    let app_path = args.app.display();
    let app = read(&args.app)?;
    let imports = keyvalue_imports(&app)
        .with_context(|| format!("failed to read `{app_path}` as a component"))?;
    for line in describe_imports(&imports) {
        eprintln!("`{app_path}` imports {line}");
    }

    let shape = match args.shape {
        Some(shape) => shape,
        None => shape_for(&app).with_context(|| format!("failed to plug `{app_path}`"))?,
    };
    if imports.iter().any(|name| name.ends_with("@0.2.0-draft2")) {
        eprintln!(
            "plugging with the `{}` build: {}",
            shape.name(),
            shape.describe()
        );
    }
    let (virt, baked) = if args.control {
        bake_into(control_virt_in(shape), &config)?
    } else {
        configured_virt(&config, shape)?
    };
    let composed = if args.control {
        keyvalue_virt_compose::plug_control(&app, &virt)
    } else {
        keyvalue_virt_compose::plug(&app, &virt)
    }
    .with_context(|| format!("failed to plug `{app_path}`"))?;
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

/// Runs `config`.
pub fn config(args: ShowArgs) -> Result<()> {
    let path = args.file.display().to_string();
    let component = read(&args.file)?;
    let config = bake::read(&component)
        .with_context(|| format!("failed to read the configuration of `{path}`"))?;
    if args.json {
        let json = serde_json::to_string_pretty(&super::show::json(config.as_ref()))
            .context("failed to render the configuration as JSON")?;
        println!("{json}");
    } else {
        print!("{}", super::show::text(&path, config.as_ref()));
    }
    Ok(())
}

/// The shipped component of `shape` with `config` baked in, and whether anything was baked: a
/// configuration equal to the defaults leaves the component as shipped.
fn configured_virt(config: &Config, shape: Shape) -> Result<(Vec<u8>, bool)> {
    bake_into(virt_in(config, shape), config)
}

/// `shipped` with `config` baked in, and whether anything was baked.
fn bake_into(shipped: &[u8], config: &Config) -> Result<(Vec<u8>, bool)> {
    if *config == Config::default() {
        return Ok((shipped.to_vec(), false));
    }
    let baked = bake::bake(shipped, config)
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

/// Parses `--shape`.
fn parse_shape(name: &str) -> Result<Shape, String> {
    Shape::from_name(name).ok_or_else(|| {
        let names: Vec<String> = Shape::ALL
            .iter()
            .map(|shape| format!("`{}`", shape.name()))
            .collect();
        format!("SHAPE must be {}, not `{name}`", names.join(" or "))
    })
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
