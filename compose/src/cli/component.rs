//! `build`, `plug` and `config`: write the keyvalue-virt component with a configuration baked
//! in, plug it into an app that imports `wasi:keyvalue`, and show what a component has baked in.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use keyvalue_virt_compose::bake::BakeError;
use keyvalue_virt_compose::config::{BackendKind, Config, Trace};
use keyvalue_virt_compose::{
    KEYVALUE_PREFIX, PlugError, Shape, WiringError, bake, control_virt_in, exports,
    keyvalue_imports, shape_for, virt_in,
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

    /// Which draft2 the component exports (it exports 0.2.0-draft too): `draft2`, as tagged and
    /// as upstream's main branch has it, or `draft2-spin`, as Spin ships it (upstream's open PR
    /// #55, not merged: `get-many` returns each key with an optional value). Tell an app's with `wasm-tools component wit app.wasm | grep get-many`
    #[arg(long, value_name = "SHAPE", default_value = "draft2", value_parser = parse_shape)]
    pub shape: Shape,

    /// Print only warnings and errors, not what was written or the notes
    #[arg(short, long)]
    pub quiet: bool,

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

    /// Print only warnings and errors, not what the app imports, what was written or the notes
    #[arg(short, long)]
    pub quiet: bool,

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
    warn_insecure(&config);
    let (component, baked) = configured_virt(&config, args.shape)?;
    write(&args.output, &component)?;
    if args.quiet {
        return Ok(());
    }
    eprintln!(
        "wrote `{}`: keyvalue-virt {}",
        args.output.display(),
        if baked {
            "with the configuration baked in"
        } else {
            "as shipped (nothing baked in; the defaults apply)"
        }
    );
    if let Some(note) = large_seeds_note(&config) {
        eprintln!("{note}");
    }
    Ok(())
}

/// Runs `plug`.
pub fn plug(args: PlugArgs) -> Result<()> {
    // Every option is checked, and the seed files read, before the app is touched.
    let config = args.config.to_config()?;
    if args.control && config.redis.tls {
        bail!(
            "--control builds have no TLS: plug the test double with a redis:// URL, or drop \
             --control to use rediss://"
        );
    }
    warn_insecure(&config);
    let app_path = args.app.display();
    let app = read_component(&args.app)?;
    let imports = keyvalue_imports(&app)
        .with_context(|| format!("failed to read `{app_path}` as a component"))?;
    if imports.is_empty() {
        return Err(nothing_to_plug(&args.app, &app));
    }
    if !args.quiet {
        for line in describe_imports(&imports) {
            eprintln!("`{app_path}` imports {line}");
        }
    }
    if config.backend == BackendKind::Memory
        && exports(&app)
            .unwrap_or_default()
            .iter()
            .any(|name| name.starts_with(HTTP_HANDLER))
    {
        eprintln!("{}", http_memory_warning(&args.app));
    }

    let shape = match args.shape {
        Some(shape) => shape,
        None => shape_for(&app).with_context(|| format!("failed to plug `{app_path}`"))?,
    };
    if !args.quiet && imports.iter().any(|name| name.ends_with("@0.2.0-draft2")) {
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
    let plugged = if args.control {
        keyvalue_virt_compose::plug_control(&app, &virt)
    } else {
        keyvalue_virt_compose::plug(&app, &virt)
    };
    let composed = match plugged {
        Ok(composed) => composed,
        Err(error) => {
            if let (Some(forced), PlugError::Wiring(WiringError::Wire { .. })) =
                (args.shape, &error)
                && let Ok(fits) = shape_for(&app)
                && fits != forced
            {
                bail!(
                    "`{app_path}` imports {}, which the `{}` build (--shape {}) does not \
                     export; pass `--shape {}`, or drop --shape to pick the app's shape",
                    fits.describe(),
                    forced.name(),
                    forced.name(),
                    fits.name()
                );
            }
            return Err(error).with_context(|| format!("failed to plug `{app_path}`"));
        }
    };
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
    if args.quiet {
        return Ok(());
    }
    eprintln!(
        "wrote `{}`: `{app_path}` plugged with keyvalue-virt ({}); no wasi:keyvalue import is left",
        args.output.display(),
        if baked {
            "configuration baked in"
        } else {
            "nothing baked in; the defaults apply"
        }
    );
    if let Some(note) = large_seeds_note(&config) {
        eprintln!("{note}");
    }
    Ok(())
}

/// Runs `config`.
pub fn config(args: ShowArgs) -> Result<()> {
    let path = args.file.display().to_string();
    let component = read_component(&args.file)?;
    let config = match bake::read(&component) {
        Ok(config) => config,
        Err(BakeError::NoSlot) => return Err(no_virt_inside(&args.file, &component)),
        Err(error) => {
            return Err(error)
                .with_context(|| format!("failed to read the configuration of `{path}`"));
        }
    };
    if args.json {
        let json = serde_json::to_string_pretty(&super::show::json(config.as_ref()))
            .context("failed to render the configuration as JSON")?;
        println!("{json}");
    } else {
        print!("{}", super::show::text(&path, config.as_ref()));
    }
    Ok(())
}

/// The interface an HTTP handler exports (`wasmtime serve` calls it once per instance).
const HTTP_HANDLER: &str = "wasi:http/incoming-handler";

/// Seeds over this many bytes in all get a note: they are baked into the component.
const LARGE_SEEDS: usize = 1 << 20;

/// Warns (even with `--quiet`) that `--tls-insecure-skip-verify` accepts any certificate.
fn warn_insecure(config: &keyvalue_virt_compose::config::Config) {
    if config.redis.tls_insecure_skip_verify {
        eprintln!(
            "warning: --tls-insecure-skip-verify: the component accepts ANY certificate from the \
             rediss:// server, so whoever answers at its address gets the traffic, password \
             included; use it with a test server only, and --tls-ca FILE for a self-signed one"
        );
    }
}

/// The warning for an HTTP handler plugged with the memory backend.
fn http_memory_warning(app: &Path) -> String {
    format!(
        "warning: `{}` exports {HTTP_HANDLER} and the memory backend keeps data only as long as \
         an instance lives; `wasmtime serve` starts a fresh instance for every request, so each \
         request starts with an empty store (a counter answers 1, 1, 1). To keep data across \
         requests, plug with `--backend fs --dir /kv` (and serve with `wasmtime serve --dir \
         ./data::/kv`), or with `--backend redis --url redis://HOST:PORT`",
        app.display()
    )
}

/// A note when the seeds make the component large, or `None`.
fn large_seeds_note(config: &Config) -> Option<String> {
    let bytes: usize = config
        .seeds
        .iter()
        .map(|seed| seed.bucket.len() + seed.key.len() + seed.value.len())
        .sum();
    (bytes > LARGE_SEEDS).then(|| {
        format!(
            "note: the seeds are baked into the component, which grows by {:.1} MiB; for large \
             data, use `--backend fs` and fill its directory with `keyvalue-virt import DIR < \
             dump.json` instead",
            bytes as f64 / f64::from(1 << 20)
        )
    })
}

/// Why `plug` has nothing to do with `app`, which imports no `wasi:keyvalue`: it holds
/// keyvalue-virt already, or it never used `wasi:keyvalue`.
fn nothing_to_plug(path: &Path, app: &[u8]) -> anyhow::Error {
    let shown = path.display();
    if bake::read(app).is_ok() {
        let is_virt = exports(app)
            .unwrap_or_default()
            .iter()
            .any(|name| name.starts_with(KEYVALUE_PREFIX));
        if is_virt {
            return anyhow::anyhow!(
                "`{shown}` is the keyvalue-virt component itself (it exports wasi:keyvalue), not \
                 an app; plug an app with `keyvalue-virt plug APP.wasm -o OUT.wasm`, or plug \
                 this component into one with `wac plug APP.wasm --plug {shown} -o OUT.wasm`"
            );
        }
        return anyhow::anyhow!(
            "`{shown}` is plugged with keyvalue-virt already: no wasi:keyvalue import is left to \
             plug. See what it has baked in with `keyvalue-virt config {shown}`; to change that, \
             plug the app as your build wrote it again"
        );
    }
    anyhow::Error::new(PlugError::NoKeyvalueImport).context(format!("failed to plug `{shown}`"))
}

/// Why `config` finds no configuration in `component`: it is an app not plugged yet, or
/// something that never held keyvalue-virt.
pub fn no_virt_inside(path: &Path, component: &[u8]) -> anyhow::Error {
    let shown = path.display();
    let imports = keyvalue_imports(component).unwrap_or_default();
    if !imports.is_empty() {
        return anyhow::anyhow!(
            "`{shown}` is an app that imports wasi:keyvalue but is not plugged yet, so it holds \
             no keyvalue-virt configuration; plug it with `keyvalue-virt plug {shown} -o \
             OUT.wasm`, then run `keyvalue-virt config OUT.wasm`"
        );
    }
    anyhow::anyhow!(
        "`{shown}` holds no keyvalue-virt (no configuration slot found) and imports no \
         wasi:keyvalue; `config` reads a component written by `keyvalue-virt build` or an app \
         plugged with keyvalue-virt"
    )
}

/// The shipped component of `shape` with `config` baked in, and whether anything was baked: a
/// configuration equal to the defaults leaves the component as shipped.
fn configured_virt(config: &Config, shape: Shape) -> Result<(Vec<u8>, bool)> {
    if config.trace == Trace::Json && config.redis.tls {
        bail!(
            "--trace=json is written by the control builds, which have no TLS: trace a \
             rediss:// store with --trace, or test with a redis:// URL"
        );
    }
    bake_into(virt_in(config, shape), config)
}

/// `shipped` with `config` baked in, and whether anything was baked.
pub fn bake_into(shipped: &[u8], config: &Config) -> Result<(Vec<u8>, bool)> {
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
pub fn parse_shape(name: &str) -> Result<Shape, String> {
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

/// Reads the component at `path`, refusing with a next step what is not a WebAssembly file
/// or is a core module.
pub fn read_component(path: &Path) -> Result<Vec<u8>> {
    let bytes = read(path)?;
    check_component(path, &bytes)?;
    Ok(bytes)
}

/// Refuses what is not a WebAssembly component, saying how to get one.
fn check_component(path: &Path, bytes: &[u8]) -> Result<()> {
    let shown = path.display();
    if !bytes.starts_with(b"\0asm") {
        bail!(
            "`{shown}` is not a WebAssembly file (it does not start with `\\0asm`); pass the \
             component your build wrote, e.g. `target/wasm32-wasip2/release/APP.wasm`"
        );
    }
    // The layer field after the version: 0 for a core module, 1 for a component.
    if bytes.get(6..8) == Some(&[0, 0]) {
        bail!(
            "`{shown}` is a core WebAssembly module; expected a component. Build one with \
             `cargo build --target wasm32-wasip2`, or wrap the module with `wasm-tools component \
             new {shown} --adapt wasi_snapshot_preview1.command.wasm -o APP.wasm`"
        );
    }
    Ok(())
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
