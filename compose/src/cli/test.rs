//! `test`: composes a test component with an app plugged with the control interface and the
//! runner, then runs the tests on the `wasmtime` CLI (or writes the composed command).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::Args;
use keyvalue_virt_compose::config::BackendKind;
use keyvalue_virt_compose::{Shape, control_virt_in, keyvalue_imports, shape_for, suite};

use super::component::{bake_into, parse_shape, read_component};
use super::options::ConfigArgs;

/// The help of `test` after its options.
pub const TEST_EXAMPLES: &str = "\
The test component exports keyvalue-virt:test/suite@0.1.0 (`wit/test/test.wit`): a list of
tests and a way to run one. It imports the interfaces the app exports, and
keyvalue-virt:control/control@0.1.0 to seed and read the store, read the app's calls and inject
faults. The store is reset to the baked seeds before each test. One line per test (`ok NAME`,
`FAIL NAME: why`, `skip NAME: why`), then `N passed, M failed, K skipped`; the exit status is 1
if a test failed.

The tests run on the `wasmtime` CLI (on PATH, or the one the WASMTIME variable names); with -o
the composed tests are written instead, a wasi:cli command for any runtime that takes the
runner's options (`--only NAME`, `--list`, `--help`).

Examples:
  # Run the tests of greeter_test.wasm against greeter.wasm
  keyvalue-virt test greeter_test.wasm --app greeter.wasm

  # Seeds and faults baked in as with `plug`; run one test
  keyvalue-virt test greeter_test.wasm --app greeter.wasm --seed ':alice=41' --only greets

  # Write the composed tests and run them with any runtime
  keyvalue-virt test greeter_test.wasm --app greeter.wasm -o tests.wasm
  wasmtime run tests.wasm --only 'greet*'

  # The fs backend: grant the store directory to wasmtime
  keyvalue-virt test greeter_test.wasm --app greeter.wasm --backend fs --dir /kv \\
      --wasmtime-flag=--dir=./data::/kv";

/// The variable that names the `wasmtime` binary to run the tests with.
const WASMTIME_VARIABLE: &str = "WASMTIME";

/// `test TEST --app APP [-o OUT] [--only NAME]... [--list] [CONFIGURATION]`.
#[derive(Args, Debug)]
pub struct TestArgs {
    /// The test component: exports keyvalue-virt:test/suite@0.1.0 and imports the app's
    /// interfaces and keyvalue-virt:control/control@0.1.0
    #[arg(value_name = "TEST.wasm")]
    pub test: PathBuf,

    /// The app under test: a component that imports wasi:keyvalue and exports the interfaces
    /// the test component calls
    #[arg(long, value_name = "APP.wasm")]
    pub app: PathBuf,

    /// Write the composed tests (a wasi:cli command) here instead of running them
    #[arg(short, long, value_name = "OUT.wasm")]
    pub output: Option<PathBuf>,

    /// Run only test NAME (also an ignored one); `PREFIX*` runs those whose name starts with
    /// PREFIX; repeatable
    #[arg(long, value_name = "NAME", conflicts_with = "output")]
    pub only: Vec<String>,

    /// Print the names of the tests and exit
    #[arg(long, conflicts_with = "output")]
    pub list: bool,

    /// Which draft2 to plug the app with (see `build --shape`); by default the one it imports
    #[arg(long, value_name = "SHAPE", value_parser = parse_shape)]
    pub shape: Option<Shape>,

    /// A flag for `wasmtime run`, put before the component (e.g. `--wasmtime-flag=--dir=./data::/kv`
    /// for the fs backend); repeatable. With `--backend redis`, `-S inherit-network` and `-S
    /// allow-ip-name-lookup` are passed unless a flag is given
    #[arg(
        long = "wasmtime-flag",
        value_name = "FLAG",
        allow_hyphen_values = true,
        conflicts_with = "output"
    )]
    pub wasmtime_flags: Vec<String>,

    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Runs `test`: the exit status is the runner's (1 if a test failed).
pub fn test(args: TestArgs) -> Result<ExitCode> {
    let config = args.config.to_config()?;
    let app_path = args.app.display();
    let app = read_component(&args.app)?;
    let test = read_component(&args.test)?;
    let imports = keyvalue_imports(&app)
        .with_context(|| format!("failed to read `{app_path}` as a component"))?;
    if imports.is_empty() {
        bail!(
            "`{app_path}` imports no wasi:keyvalue interface, so there is nothing to test it \
             with; pass the app as your build wrote it (unplugged) with --app"
        );
    }
    let shape = match args.shape {
        Some(shape) => shape,
        None => shape_for(&app).with_context(|| format!("failed to plug `{app_path}`"))?,
    };
    let (virt, _) = bake_into(control_virt_in(shape), &config)?;
    let plugged = keyvalue_virt_compose::plug_control(&app, &virt)
        .with_context(|| format!("failed to plug `{app_path}`"))?;
    let composed = suite::compose(&test, &plugged).with_context(|| {
        format!(
            "failed to compose the tests `{}` with `{app_path}`",
            args.test.display()
        )
    })?;

    if let Some(output) = &args.output {
        std::fs::write(output, &composed)
            .with_context(|| format!("failed to write `{}`", output.display()))?;
        eprintln!(
            "wrote `{}`: the tests of `{}` with `{app_path}` plugged (control interface on); \
             run them with `wasmtime run {}` (`--help` lists the runner's options)",
            output.display(),
            args.test.display(),
            output.display()
        );
        return Ok(ExitCode::SUCCESS);
    }

    for host in granted_dirs(&args.wasmtime_flags) {
        if !Path::new(host).is_dir() {
            bail!(
                "`{host}`, granted by a --wasmtime-flag `--dir`, is not a directory; wasmtime \
                 would fail to start (make it first: `mkdir -p {host}`)"
            );
        }
    }
    let mut flags = args.wasmtime_flags.clone();
    if config.backend == BackendKind::Redis && flags.is_empty() {
        flags.extend(["-S", "inherit-network", "-S", "allow-ip-name-lookup"].map(String::from));
    }
    let mut runner_args = Vec::new();
    for name in &args.only {
        runner_args.extend(["--only".to_owned(), name.clone()]);
    }
    if args.list {
        runner_args.push("--list".to_owned());
    }
    let file = ScratchFile::new(&composed)?;
    run_on_wasmtime(&flags, file.path(), &runner_args)
}

/// The host directories that `--dir HOST[::GUEST]` flags of wasmtime grant (`--dir=X` or
/// `--dir X`).
fn granted_dirs(flags: &[String]) -> Vec<&str> {
    let mut dirs = Vec::new();
    let mut flags = flags.iter();
    while let Some(flag) = flags.next() {
        let value = match flag.strip_prefix("--dir") {
            Some("") => flags.next().map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if let Some(value) = value {
            dirs.push(value.split_once("::").map_or(value, |(host, _)| host));
        }
    }
    dirs
}

/// Runs `wasmtime run FLAGS COMPONENT ARGS` with inherited stdio.
fn run_on_wasmtime(flags: &[String], component: &Path, args: &[String]) -> Result<ExitCode> {
    let wasmtime =
        std::env::var_os(WASMTIME_VARIABLE).unwrap_or_else(|| OsString::from("wasmtime"));
    let shown = wasmtime.to_string_lossy().into_owned();
    let status = match Command::new(&wasmtime)
        .arg("run")
        .args(flags)
        .arg(component)
        .args(args)
        .status()
    {
        Ok(status) => status,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(
            "`{shown}` was not found: the tests run on the wasmtime CLI; install it \
             (https://wasmtime.dev) or set {WASMTIME_VARIABLE} to its path, or write the tests \
             with `-o tests.wasm` and run them on another runtime"
        ),
        Err(error) => return Err(error).with_context(|| format!("failed to run `{shown}`")),
    };
    match status.code() {
        Some(0) => Ok(ExitCode::SUCCESS),
        // The runner's own status for failed tests, after its summary line.
        Some(1) => Ok(ExitCode::FAILURE),
        _ => bail!(
            "`{shown} run` ended with {status}: a test that traps (a Rust panic, an uncaught \
             exception) ends the whole run, see wasmtime's message above; make the test return \
             its failure instead"
        ),
    }
}

/// The composed tests in the temporary directory for one run, removed when dropped.
struct ScratchFile(PathBuf);

impl ScratchFile {
    fn new(bytes: &[u8]) -> Result<ScratchFile> {
        let path =
            std::env::temp_dir().join(format!("keyvalue-virt-test-{}.wasm", std::process::id()));
        std::fs::write(&path, bytes)
            .with_context(|| format!("failed to write `{}`", path.display()))?;
        Ok(ScratchFile(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granted_directories_are_read_from_the_dir_flags() {
        let flags = [
            "--dir=./data::/kv",
            "-S",
            "cli",
            "--dir",
            "/tmp",
            "--dirx=no",
        ]
        .map(String::from);
        assert_eq!(granted_dirs(&flags), ["./data", "/tmp"]);
    }
}
