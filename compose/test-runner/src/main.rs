//! The runner of `keyvalue-virt test`: a `wasi:cli` command that runs the tests a test
//! component exports (`keyvalue-virt:test/suite@0.1.0`) against the app it is composed with,
//! resetting the store through the control interface before each one. `--help` lists the
//! options.

use std::io::Write as _;

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/test",
        world: "keyvalue-virt:test/runner@0.1.0",
        generate_all,
    });
}

use bindings::keyvalue_virt::control::control;
use bindings::keyvalue_virt::test::suite::{self, TestCase};

/// The usage message: what the command does and its options.
const USAGE: &str = "\
Runs the tests of the test component it is composed with (`keyvalue-virt test`), each on a store
reset to the baked seeds, with an empty call log and no added faults. One line per test
(`ok NAME`, `FAIL NAME: why`, `skip NAME: why`), then `N passed, M failed, K skipped`. Exit
status: 0 if no test failed; otherwise 1, also for a bad command line, which prints `error: ...`
and this message on stderr and runs nothing.

Usage: test-runner [OPTIONS]

Options:
  --list              print the names of the tests, one a line (an ignored one with
                      `(ignored)`), and exit
  --only NAME         run only test NAME (also an ignored one); `PREFIX*` runs those whose
                      name starts with PREFIX; repeatable
  --help              print this message";

/// What `--announce` puts before the line it writes before each test it runs, followed by
/// `PASSED FAILED SKIPPED LEFT NAME`: the counts so far, how many tests come after this one,
/// and its name. `keyvalue-virt test` reads these lines (and shows none of them) to name a
/// test that traps, since a trap ends the run before the test's own line
/// (`compose/src/cli/test.rs` spells the same prefix).
const ANNOUNCE: &str = "keyvalue-virt-test-runner: running ";

/// The command line, parsed.
#[derive(Debug, Default, PartialEq)]
struct Options {
    list: bool,
    help: bool,
    announce: bool,
    only: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut options = Options::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--list" => options.list = true,
                "--help" | "-h" => options.help = true,
                // Not in the usage: only `keyvalue-virt test` reads what it writes.
                "--announce" => options.announce = true,
                "--only" => match args.next() {
                    Some(name) => options.only.push(name.clone()),
                    None => return Err("`--only` needs a test name".to_owned()),
                },
                other => return Err(format!("unknown argument `{other}`")),
            }
        }
        Ok(options)
    }
}

/// Whether `--only pattern` selects test `name`: the name itself, or any name starting with
/// `PREFIX` for `PREFIX*`.
fn selects(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

/// What the runner does with one test.
#[derive(Debug, PartialEq)]
enum Plan<'a> {
    /// Run it.
    Run,
    /// Report it skipped, with this reason.
    Skip(&'a str),
    /// Leave it out: `--only` names other tests.
    Leave,
}

/// What to do with `test`, given the `--only` patterns.
fn plan<'a>(test: &'a TestCase, only: &[String]) -> Plan<'a> {
    if !only.is_empty() {
        return if only.iter().any(|pattern| selects(pattern, &test.name)) {
            Plan::Run
        } else {
            Plan::Leave
        };
    }
    match &test.ignored {
        Some(why) => Plan::Skip(why),
        None => Plan::Run,
    }
}

/// A control-interface error for a message.
fn control_error(error: &control::Error) -> String {
    match error {
        control::Error::NoSuchStore => "no-such-store".to_owned(),
        control::Error::AccessDenied => "access-denied".to_owned(),
        control::Error::Other(message) => format!("other: {message}"),
    }
}

/// `message` on one line: a line break would split a result line in two.
fn one_line(message: &str) -> String {
    message
        .trim_end()
        .replace("\r\n", " | ")
        .replace(['\n', '\r'], " | ")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match Options::parse(&args) {
        Ok(options) => options,
        Err(message) => usage_error(&message),
    };
    if options.help {
        println!("{USAGE}");
        exit(0);
    }
    let tests = suite::tests();
    for (i, test) in tests.iter().enumerate() {
        if tests[..i].iter().any(|earlier| earlier.name == test.name) {
            eprintln!(
                "error: the test component offers two tests named `{}`; give each test its own \
                 name",
                test.name
            );
            exit(1);
        }
    }
    for pattern in &options.only {
        if !tests.iter().any(|test| selects(pattern, &test.name)) {
            usage_error(&format!(
                "no test matches `--only {pattern}`; `--list` prints the tests"
            ));
        }
    }
    if options.list {
        for test in &tests {
            if plan(test, &options.only) == Plan::Leave {
                continue;
            }
            match test.ignored {
                Some(_) => println!("{} (ignored)", test.name),
                None => println!("{}", test.name),
            }
        }
        exit(0);
    }

    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let planned: Vec<(&TestCase, Plan)> = tests
        .iter()
        .map(|test| (test, plan(test, &options.only)))
        .filter(|(_, plan)| *plan != Plan::Leave)
        .collect();
    for (i, (test, plan)) in planned.iter().enumerate() {
        let line = match plan {
            Plan::Leave => continue,
            Plan::Skip(why) => {
                skipped += 1;
                format!("skip {}: {}", test.name, one_line(why))
            }
            Plan::Run => {
                if options.announce {
                    let left = planned.len() - i - 1;
                    print_line(&format!(
                        "{ANNOUNCE}{passed} {failed} {skipped} {left} {}",
                        test.name
                    ));
                }
                let outcome = control::reset()
                    .map_err(|e| format!("resetting the store failed: {}", control_error(&e)))
                    .and_then(|()| suite::run(&test.name));
                match outcome {
                    Ok(()) => {
                        passed += 1;
                        format!("ok {}", test.name)
                    }
                    Err(why) => {
                        failed += 1;
                        format!("FAIL {}: {}", test.name, one_line(&why))
                    }
                }
            }
        };
        print_line(&line);
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    exit(if failed == 0 { 0 } else { 1 });
}

/// Writes `line` to stdout at once, so that it is out before a test that traps.
fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    // A line that cannot be written is lost, but the run goes on to its exit status.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn usage_error(message: &str) -> ! {
    eprintln!("error: {message}\n\n{USAGE}");
    exit(2);
}

fn exit(code: i32) -> ! {
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str, ignored: Option<&str>) -> TestCase {
        TestCase {
            name: name.to_owned(),
            ignored: ignored.map(str::to_owned),
        }
    }

    #[test]
    fn only_selects_a_name_or_a_prefix() {
        assert!(selects("greets", "greets"));
        assert!(!selects("greet", "greets"));
        assert!(selects("greet*", "greets"));
        assert!(selects("*", "anything"));
    }

    #[test]
    fn ignored_tests_run_only_when_named() {
        let ignored = case("fails_on_purpose", Some("shows a failure"));
        let plain = case("greets", None);
        assert_eq!(plan(&ignored, &[]), Plan::Skip("shows a failure"));
        assert_eq!(plan(&plain, &[]), Plan::Run);
        let only = ["fails*".to_owned()];
        assert_eq!(plan(&ignored, &only), Plan::Run);
        assert_eq!(plan(&plain, &only), Plan::Leave);
    }

    #[test]
    fn the_command_line_is_parsed() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let options = Options::parse(&args(&["--only", "a", "--list", "--only", "b*"])).unwrap();
        assert_eq!(options.only, ["a", "b*"]);
        assert!(options.list && !options.announce);
        assert!(Options::parse(&args(&["--announce"])).unwrap().announce);
        assert_eq!(
            Options::parse(&args(&["--only"])).unwrap_err(),
            "`--only` needs a test name"
        );
        assert_eq!(
            Options::parse(&args(&["--bogus"])).unwrap_err(),
            "unknown argument `--bogus`"
        );
    }

    #[test]
    fn messages_stay_on_one_line() {
        assert_eq!(one_line("expected 1\nsaw 2\n"), "expected 1 | saw 2");
    }
}
