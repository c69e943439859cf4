//! `test`: composes a test component with an app plugged with the control interface and the
//! runner, then runs the tests on the `wasmtime` CLI (or writes the composed command).

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};

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
if a test failed. A test that traps (a Rust panic, an uncaught exception) ends the run: it is
reported as `FAIL NAME: trapped: MESSAGE`, and the summary says how many tests did not run.

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

/// What the runner writes before each test it runs when given `--announce`, followed by
/// `PASSED FAILED SKIPPED LEFT NAME` (`compose/test-runner` spells the same prefix).
const ANNOUNCE: &str = "keyvalue-virt-test-runner: running ";

/// The test the runner last announced and has not reported yet, with the counts before it.
#[derive(Debug, PartialEq)]
struct Running {
    passed: u64,
    failed: u64,
    skipped: u64,
    /// How many tests come after it.
    left: u64,
    name: String,
}

impl Running {
    /// Reads an announcement (the text after [`ANNOUNCE`]).
    fn parse(text: &str) -> Option<Running> {
        let mut fields = text.splitn(5, ' ');
        let mut count = || fields.next()?.parse().ok();
        let (passed, failed, skipped, left) = (count()?, count()?, count()?, count()?);
        Some(Running {
            passed,
            failed,
            skipped,
            left,
            name: fields.next()?.to_owned(),
        })
    }

    /// Whether `line` is the runner's result line of this test.
    fn ends_with(&self, line: &str) -> bool {
        line.strip_prefix("ok ") == Some(self.name.as_str())
            || line
                .strip_prefix("FAIL ")
                .and_then(|rest| rest.strip_prefix(self.name.as_str()))
                .is_some_and(|rest| rest.starts_with(": "))
    }
}

/// Runs `wasmtime run FLAGS COMPONENT --announce ARGS`, passing its output through, without the
/// runner's announcements. A test that traps ends the run (the instance is gone); it is then
/// reported as failed, by name, with the trap's message, and the summary says how many tests
/// did not run.
fn run_on_wasmtime(flags: &[String], component: &Path, args: &[String]) -> Result<ExitCode> {
    let wasmtime =
        std::env::var_os(WASMTIME_VARIABLE).unwrap_or_else(|| OsString::from("wasmtime"));
    let shown = wasmtime.to_string_lossy().into_owned();
    let mut child = match Command::new(&wasmtime)
        .arg("run")
        .args(flags)
        .arg(component)
        .arg("--announce")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(
            "`{shown}` was not found: the tests run on the wasmtime CLI; install it \
             (https://wasmtime.dev) or set {WASMTIME_VARIABLE} to its path, or write the tests \
             with `-o tests.wasm` and run them on another runtime"
        ),
        Err(error) => return Err(error).with_context(|| format!("failed to run `{shown}`")),
    };
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        bail!("`{shown}` started without its output piped");
    };
    // Passes stderr through as it comes, and keeps it for the message of a trap.
    let stderr = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let mut out = std::io::stderr().lock();
            let _ = out.write_all(&line);
            let _ = out.flush();
            kept.append(&mut line);
        }
        String::from_utf8_lossy(&kept).into_owned()
    });
    let mut running: Option<Running> = None;
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        if let Some(announced) = text.strip_prefix(ANNOUNCE).and_then(Running::parse) {
            running = Some(announced);
        } else {
            if running.as_ref().is_some_and(|test| test.ends_with(text)) {
                running = None;
            }
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&line);
            let _ = out.flush();
        }
        line.clear();
    }
    let status = child
        .wait()
        .with_context(|| format!("failed to wait for `{shown}`"))?;
    let stderr = stderr.join().unwrap_or_default();
    match (status.code(), running) {
        (Some(0), _) => Ok(ExitCode::SUCCESS),
        // The runner's own status for failed tests, after its summary line.
        (Some(1), None) => Ok(ExitCode::FAILURE),
        (_, Some(test)) => {
            println!(
                "FAIL {}: trapped: {}",
                test.name,
                trap_message(&stderr, status)
            );
            println!(
                "{} passed, {} failed, {} skipped; the trap ended the run, {} not run",
                test.passed,
                test.failed + 1,
                test.skipped,
                match test.left {
                    1 => "1 test".to_owned(),
                    left => format!("{left} tests"),
                }
            );
            eprintln!(
                "test `{}` trapped (a Rust panic, an uncaught exception), which ends the whole \
                 run: see wasmtime's message above; make the test return its failure instead",
                test.name
            );
            Ok(ExitCode::FAILURE)
        }
        (_, None) => bail!(
            "`{shown} run` ended with {status} before any test ran; see the message above (a \
             test component that traps while it lists its tests ends the run too)"
        ),
    }
}

/// The message of a trap, from wasmtime's stderr: a Rust panic's message and place, else the
/// trap wasmtime names, else the exit status.
fn trap_message(stderr: &str, status: ExitStatus) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    for (i, line) in lines.iter().enumerate().rev() {
        if let Some((_, place)) = line.split_once(" panicked at ") {
            let message = lines.get(i + 1).map_or("", |message| message.trim());
            return format!("{message} (panicked at {})", place.trim_end_matches(':'));
        }
    }
    lines
        .iter()
        .rev()
        .find_map(|line| {
            line.split_once("wasm trap: ")
                .map(|(_, trap)| trap.to_owned())
        })
        .unwrap_or_else(|| format!("wasmtime ended with {status}"))
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
    fn announcements_name_the_running_test_until_its_result_line() {
        let test = Running::parse("1 0 2 3 a test: with spaces").unwrap();
        assert_eq!(
            test,
            Running {
                passed: 1,
                failed: 0,
                skipped: 2,
                left: 3,
                name: "a test: with spaces".to_owned(),
            }
        );
        assert!(test.ends_with("ok a test: with spaces"));
        assert!(test.ends_with("FAIL a test: with spaces: expected 1, saw 2"));
        assert!(!test.ends_with("ok a test"));
        assert!(!test.ends_with("FAIL a test: with spacesX: no"));
        assert_eq!(Running::parse("1 0 x 3 name"), None);
    }

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
