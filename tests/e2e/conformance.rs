//! The conformance suite (`compose/conformance`) against every implementation runnable here:
//! keyvalue-virt with the memory and the fs backend (every check of every shape passes; one test
//! per area, shape and backend, through `--only`), `tests/null-virt` (which stores nothing: the
//! suite must fail it), and wasmtime's host store (`wasmtime run -S keyvalue`, which must pass,
//! fail and skip exactly the checks the README's table says).

use std::collections::BTreeMap;
use std::path::Path;

use keyvalue_virt_artifacts::guests::NULL_VIRT;
use keyvalue_virt_core::config::{Config, SyncMode};
use keyvalue_virt_harness::{
    App, fs_config, grant, read, run, run_configured_with, run_ok, run_plugged, store_dir,
};

/// The areas, as the check names start; [`every_listed_check_is_in_a_tested_area`] keeps this
/// list and the tests below complete.
const AREAS: [&str; 8] = [
    "store",
    "keys",
    "values",
    "list",
    "increment",
    "batch",
    "cas",
    "errors",
];

/// Where the virt keeps the data.
#[derive(Clone, Copy)]
enum Backend {
    Memory,
    Fs,
}

/// One test per area for `$app` on `$backend`.
macro_rules! area_tests {
    ($app:ident, $backend:ident: $($area:ident),*) => {
        $(
            #[test]
            fn $area() {
                crate::conformance::area_passes(
                    keyvalue_virt_harness::App::$app,
                    crate::conformance::Backend::$backend,
                    stringify!($area),
                );
            }
        )*
    };
}

mod memory {
    mod draft {
        area_tests!(Draft, Memory: store, keys, values, list, increment, batch, errors);
    }
    mod draft2 {
        area_tests!(Draft2, Memory: store, keys, values, list, increment, batch, cas, errors);
    }
    mod draft2_spin {
        area_tests!(Draft2Spin, Memory: store, keys, values, list, increment, batch, cas, errors);
    }
}

mod fs {
    mod draft {
        area_tests!(Draft, Fs: store, keys, values, list, increment, batch, errors);
    }
    mod draft2 {
        area_tests!(Draft2, Fs: store, keys, values, list, increment, batch, cas, errors);
    }
    mod draft2_spin {
        area_tests!(Draft2Spin, Fs: store, keys, values, list, increment, batch, cas, errors);
    }
}

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    Fail,
    Skip,
}

/// The result lines of a run, by check name: the verdict and the message after the name.
fn results(stdout: &str) -> BTreeMap<String, (Verdict, String)> {
    let mut results = BTreeMap::new();
    for line in stdout.lines() {
        let (verdict, rest) = if let Some(rest) = line.strip_prefix("ok ") {
            (Verdict::Ok, rest)
        } else if let Some(rest) = line.strip_prefix("FAIL ") {
            (Verdict::Fail, rest)
        } else if let Some(rest) = line.strip_prefix("skip ") {
            (Verdict::Skip, rest)
        } else {
            continue;
        };
        let (name, message) = rest.split_once(": ").unwrap_or((rest, ""));
        let previous = results.insert(name.to_owned(), (verdict, message.to_owned()));
        assert!(
            previous.is_none(),
            "check `{name}` reported twice:\n{stdout}"
        );
    }
    results
}

/// The names `app --list` prints after `args`.
fn listed(app: App, args: &[&str]) -> Vec<String> {
    let mut list_args = vec!["--list"];
    list_args.extend(args);
    let outcome = run_ok(app, &list_args);
    outcome.stdout.lines().map(str::to_owned).collect()
}

/// The fs configuration the suite runs with: writes not synced, which changes no semantics and
/// keeps the tens of thousands of writes fast.
fn fs_no_sync() -> Config {
    Config {
        sync: SyncMode::Never,
        ..fs_config()
    }
}

/// The checks the fs backend reports as `skip`, by design: it keeps no tombstone of a deleted
/// key, so a key missing at `cas.new` and at `swap` counts as untouched, as a store that
/// compares values does.
pub(crate) const FS_SKIPS: &[&str] = &["cas.created-and-deleted"];

/// The output `stdout` of a run of `what` reports each of `skipped` as `skip`, and ends with
/// `N passed, 0 failed, M skipped` for `passed` checks and those.
pub(crate) fn assert_summary<S: AsRef<str>>(
    stdout: &str,
    passed: usize,
    skipped: &[S],
    what: &str,
) {
    for name in skipped {
        let name = name.as_ref();
        assert!(
            stdout
                .lines()
                .any(|line| line.starts_with(&format!("skip {name}: "))),
            "`{name}` was not skipped in `{what}`:\n{stdout}"
        );
    }
    let summary = format!("{passed} passed, 0 failed, {} skipped", skipped.len());
    assert_eq!(
        stdout.lines().last(),
        Some(summary.as_str()),
        "{what}:\n{stdout}"
    );
}

/// The checks a backend reports as `skip`, by design.
fn skipped_by(backend: Backend) -> &'static [&'static str] {
    match backend {
        Backend::Memory => &[],
        Backend::Fs => FS_SKIPS,
    }
}

/// Runs the checks of `area` in `app` plugged with the virt on `backend`: each check `--list`
/// prints for the area reports `ok` (or `skip`, for the checks [`skipped_by`] names), in order,
/// and nothing else is reported.
fn area_passes(app: App, backend: Backend, area: &str) {
    let args = ["--only", area];
    let outcome = match backend {
        Backend::Memory => run(app, &args),
        Backend::Fs => {
            let dir = store_dir(&format!("conformance-{}-{area}", app.name()));
            run_configured_with(app, &fs_no_sync(), &args, grant(&dir))
        }
    }
    .assert_ok();
    let listed = listed(app, &args);
    assert!(!listed.is_empty(), "`--list --only {area}` lists nothing");
    let skips = skipped_by(backend);
    let (skipped, expected): (Vec<&String>, Vec<&String>) = listed
        .iter()
        .partition(|name| skips.contains(&name.as_str()));
    let oks: Vec<&str> = outcome
        .stdout
        .lines()
        .filter_map(|line| line.strip_prefix("ok "))
        .collect();
    assert_eq!(
        oks,
        expected,
        "not every check of `{area}` passed in `{}`:\n{}",
        app.name(),
        outcome.stdout
    );
    assert_summary(&outcome.stdout, expected.len(), &skipped, app.name());
}

/// The drafts fix no page size: with `--page-keys 7` (a store that pages in sevens) and
/// `--page-keys 1`, every `list` check still passes. Each walk then takes hundreds of pages, so
/// this also checks that the suite's walks end whatever a store's page size.
#[test]
fn list_checks_pass_with_small_pages() {
    for page_keys in [7, 1] {
        let config = Config {
            page_keys: Some(page_keys),
            ..Config::default()
        };
        let args = ["--only", "list"];
        let outcome = run_configured_with(App::Draft2, &config, &args, |_| {}).assert_ok();
        let expected = listed(App::Draft2, &args).len();
        assert_eq!(
            outcome.stdout.lines().last(),
            Some(format!("{expected} passed, 0 failed, 0 skipped").as_str()),
            "--page-keys {page_keys}:\n{}",
            outcome.stdout
        );
    }
}

/// Every check each command lists belongs to an area the tests above run, and draft has no
/// `cas` checks (it has no compare-and-swap): `--only cas` is refused there, not an empty pass.
#[test]
fn every_listed_check_is_in_a_tested_area() {
    for app in App::CONFORMANCE {
        let names = listed(app, &[]);
        assert!(
            names.len() > 40,
            "{} lists {} checks",
            app.name(),
            names.len()
        );
        for name in &names {
            let area = name.split('.').next().unwrap_or_default();
            assert!(
                AREAS.contains(&area),
                "`{name}` of `{}` is in no tested area",
                app.name()
            );
        }
        let has_cas = names.iter().any(|name| name.starts_with("cas."));
        assert_eq!(has_cas, app != App::Draft, "cas checks of `{}`", app.name());
    }
    let outcome = run(App::Draft, &["--only", "cas"]);
    assert_eq!(
        outcome.result,
        Err("the guest exited with status 1".to_owned())
    );
    assert!(
        outcome
            .stderr
            .contains("error: no check matches `--only \"cas\"`")
    );
    assert!(outcome.stdout.is_empty(), "{}", outcome.stdout);
}

/// A bad command line is an error and the usage message on stderr, before any check runs. The
/// status is 1: WASI 0.2's `exit` carries only success or failure.
#[test]
fn unknown_options_are_a_usage_error() {
    for app in App::CONFORMANCE {
        let outcome = run(app, &["--bogus"]);
        assert_eq!(
            outcome.result,
            Err("the guest exited with status 1".to_owned())
        );
        assert!(
            outcome
                .stderr
                .contains("error: unknown argument `\"--bogus\"`")
                && outcome.stderr.contains("--no-persistence"),
            "{}",
            outcome.stderr
        );
        assert!(outcome.stdout.is_empty(), "{}", outcome.stdout);
    }
}

/// `--bucket` turns the checks that need several buckets into skips, with the reason, and
/// `--no-persistence` those that reopen a bucket; the others still pass.
#[test]
fn host_restrictions_skip_checks_and_never_pass_them() {
    let outcome = run(
        App::Draft2,
        &["--only", "store", "--bucket", "only", "--no-persistence"],
    );
    let results = results(&outcome.assert_ok().stdout);
    let (verdict, reason) = &results["store.buckets-are-isolated"];
    assert_eq!(*verdict, Verdict::Skip);
    assert_eq!(
        reason,
        "needs several buckets; --bucket allows only \"only\""
    );
    let (verdict, reason) = &results["store.reopen-sees-writes"];
    assert_eq!(*verdict, Verdict::Skip);
    assert!(reason.contains("--no-persistence"), "{reason}");
    let skipped: Vec<&String> = results
        .iter()
        .filter(|(_, (verdict, _))| *verdict != Verdict::Ok)
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        skipped,
        ["store.buckets-are-isolated", "store.reopen-sees-writes"]
    );
}

/// Plugged with `tests/null-virt`, which stores nothing and answers every `get` with the same
/// 100 bytes, the suite fails the checks that read what they wrote, and exits with status 1.
#[test]
fn the_suite_fails_a_store_that_stores_nothing() {
    let outcome = run_plugged(App::Draft, &read(Path::new(NULL_VIRT)), &[]);
    assert_eq!(
        outcome.result,
        Err("the guest exited with status 1".to_owned()),
        "{}",
        outcome.stdout
    );
    let results = results(&outcome.stdout);
    assert_eq!(results.len(), listed(App::Draft, &[]).len());
    for (name, expected) in [
        ("store.open", "ok"),
        ("store.get-missing", "get(\"never-written-"),
        (
            "store.set-then-get",
            "expected some(b\"hello\"), got some(100 bytes",
        ),
        ("store.delete", "expected none, got some(100 bytes"),
        ("increment.accumulates", "expected 12, got 5"),
        ("list.walk-complete", "2500 keys set were not listed"),
        ("batch.get-many-order", "get-many entry #0 (\"order-3-"),
        ("errors.huge-batches", "returned values"),
    ] {
        let (verdict, message) = &results[name];
        if expected == "ok" {
            assert_eq!(*verdict, Verdict::Ok, "{name}: {message}");
        } else {
            assert_eq!(*verdict, Verdict::Fail, "{name}: {message}");
            assert!(message.contains(expected), "{name}: {message}");
        }
    }
    let failed = results
        .values()
        .filter(|(verdict, _)| *verdict == Verdict::Fail)
        .count();
    assert!(
        outcome
            .stdout
            .contains(&format!(" passed, {failed} failed, ")),
        "{}",
        outcome.stdout
    );
}

/// Runs `wasmtime run -S keyvalue COMPONENT ARGS`: the component on wasmtime's host store.
fn wasmtime_run(component: &Path, args: &[&str]) -> std::process::Output {
    crate::wasmtime_cli::wasmtime_run(&["-S", "keyvalue"], component, args)
}

/// The verdicts of a run on wasmtime's host store, with its exit status.
fn on_wasmtime(args: &[&str]) -> (Option<i32>, BTreeMap<String, (Verdict, String)>) {
    let output = wasmtime_run(App::Draft.path(), args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    (output.status.code(), results(&stdout))
}

/// The names of the checks with `verdict`.
fn with(results: &BTreeMap<String, (Verdict, String)>, verdict: Verdict) -> Vec<&str> {
    results
        .iter()
        .filter(|(_, (v, _))| *v == verdict)
        .map(|(name, _)| name.as_str())
        .collect()
}

/// wasmtime's host store (`-S keyvalue`, wasmtime 48) with the options that describe it (one
/// bucket, `""`; a fresh copy per `open`): it fails one check and skips six, exactly; every
/// other check the suite lists passes. It returns every key on one page, so the two checks of
/// writes between pages have nothing to look at. A change in wasmtime's behaviour fails this test.
#[test]
fn wasmtime_host_store_passes_all_but_the_checks_the_readme_names() {
    let (status, results) = on_wasmtime(&["--bucket", "", "--no-persistence"]);
    assert_eq!(status, Some(1));
    assert_eq!(with(&results, Verdict::Fail), ["list.pages-bounded"]);
    assert!(
        results["list.pages-bounded"]
            .1
            .contains("one page of 1024 keys carries"),
        "{}",
        results["list.pages-bounded"].1
    );
    assert_eq!(
        with(&results, Verdict::Skip),
        [
            "list.drain-walk",
            "list.every-bucket-pages",
            "list.foreign-cursor",
            "list.walk-during-writes",
            "store.buckets-are-isolated",
            "store.reopen-sees-writes",
        ]
    );
    assert!(
        results["list.drain-walk"]
            .1
            .contains("drain: the walk ended after its first page (2000 keys;"),
        "{}",
        results["list.drain-walk"].1
    );
    assert!(
        results["list.walk-during-writes"]
            .1
            .contains("the walk ended after its first page (5000 keys;")
    );
    let mut passed = with(&results, Verdict::Ok);
    let mut expected: Vec<String> = listed(App::Draft, &[]);
    expected.retain(|name| !results.get(name).is_some_and(|(v, _)| *v != Verdict::Ok));
    passed.sort();
    expected.sort();
    assert_eq!(passed, expected);
}

/// Without the options, the same store fails the checks that open other buckets
/// (`no-such-store`) and the one that reopens `""` (a fresh copy, empty); only the checks on
/// bucket `""` that open it once pass.
#[test]
fn wasmtime_host_store_without_options_fails_other_buckets_and_reopening() {
    let (status, results) = on_wasmtime(&[]);
    assert_eq!(status, Some(1));
    let (verdict, message) = &results["store.reopen-sees-writes"];
    assert_eq!(*verdict, Verdict::Fail);
    assert!(message.contains("through a second open"), "{message}");
    let (verdict, message) = &results["keys.empty"];
    assert_eq!(*verdict, Verdict::Fail);
    assert!(
        message.contains("open(\"conformance-keys\"): expected ok, got error no-such-store"),
        "{message}"
    );
    assert_eq!(
        with(&results, Verdict::Ok),
        [
            "errors.hostile-identifiers",
            "store.delete",
            "store.delete-missing",
            "store.delete-twice",
            "store.get-missing",
            "store.open",
            "store.overwrite",
            "store.read-your-writes",
            "store.set-then-get",
        ]
    );
    assert!(with(&results, Verdict::Skip).is_empty());
}

/// wasmtime's host store serves only draft: the draft2 commands do not even start on it.
#[test]
fn wasmtime_host_store_does_not_serve_draft2() {
    for app in [App::Draft2, App::Draft2Spin] {
        let output = wasmtime_run(app.path(), &["--list"]);
        assert!(!output.status.success(), "{} ran", app.name());
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("wasi:keyvalue/store@0.2.0-draft2"),
            "{stderr}"
        );
    }
}
