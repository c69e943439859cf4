//! A conformance suite for any implementation of `wasi:keyvalue` (`store`, `atomics`, `batch`),
//! runnable on a host (`wasmtime run -S keyvalue conformance.wasm`) or plugged with any
//! component that exports the interface (`wac plug`, `keyvalue-virt plug`).
//!
//! The checks are written once against [`KvBucket`] (and [`KvCas`] for draft2's
//! compare-and-swap); each binary of this crate imports one shape of the interface, implements
//! the traits by forwarding to its bindings, and calls [`run`]. A check never panics: it returns
//! a [`Fault`] that says what was called, what was expected and what came back. All checks run in
//! one instance, one line each (`ok NAME`, `FAIL NAME: ...`, `skip NAME: ...`), then a summary;
//! see [`USAGE`] for the options.
//!
//! What a check may require is what the drafts document (their WIT comments). Where a draft leaves
//! a choice open (how a counter is stored, whether a refused odd key is an error), a check
//! accepts every choice that keeps the documented promises and reports the choice as `skip`, with
//! what the implementation did, rather than `ok`.

#![deny(missing_docs)]

use std::fmt;
use std::io::Write as _;

mod checks;
mod draft2;
mod report;

pub use checks::{Check, Need, draft_checks, draft2_checks};
pub use report::{bytes, clip, error};

/// The `error` variant of `wasi:keyvalue/store`, which every draft spells the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// `no-such-store`.
    NoSuchStore,
    /// `access-denied`.
    AccessDenied,
    /// `other(message)`.
    Other(String),
}

/// One entry of a `get-many` result, as the tagged drafts spell it: the key and its value, or
/// `none` for a key without a value.
pub type Entry = Option<(String, Vec<u8>)>;

/// A draft's `bucket` resource, with the `atomics.increment` and `batch` functions on it.
pub trait KvBucket: Sized {
    /// The draft's `list-keys` cursor: `u64` in draft, `string` in draft2.
    type Cursor: Clone + fmt::Debug + PartialEq;

    /// The smallest counter `increment` can return (`0` in draft, `i64::MIN` in draft2).
    const COUNTER_MIN: i128;
    /// The largest counter `increment` can return (`u64::MAX` in draft, `i64::MAX` in draft2).
    const COUNTER_MAX: i128;

    /// `store.open`.
    fn open(identifier: &str) -> Result<Self, Error>;
    /// `bucket.get`.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error>;
    /// `bucket.set`.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error>;
    /// `bucket.delete`.
    fn delete(&self, key: &str) -> Result<(), Error>;
    /// `bucket.exists`.
    fn exists(&self, key: &str) -> Result<bool, Error>;
    /// `bucket.list-keys`, as `(keys, cursor)`.
    fn list_keys(
        &self,
        cursor: Option<&Self::Cursor>,
    ) -> Result<(Vec<String>, Option<Self::Cursor>), Error>;
    /// `atomics.increment`; a `delta` outside the draft's type is an [`Error::Other`] made here,
    /// without calling the implementation (the checks never pass one).
    fn increment(&self, key: &str, delta: i128) -> Result<i128, Error>;
    /// `batch.get-many`, as the tagged drafts' entries whatever the shape.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Entry>, Error>;
    /// `batch.set-many`.
    fn set_many(&self, key_values: &[(String, Vec<u8>)]) -> Result<(), Error>;
    /// `batch.delete-many`.
    fn delete_many(&self, keys: &[String]) -> Result<(), Error>;

    /// Cursors that `list-keys` never returned: well-formed ones, garbage, extremes.
    fn forged_cursors() -> Vec<Self::Cursor>;
}

/// Why draft2's `swap` did not store its value.
pub enum CasError<C> {
    /// `store-error`.
    StoreError(Error),
    /// `cas-failed`, with the handle brought up to date.
    CasFailed(C),
}

/// Draft2's compare-and-swap on a [`KvBucket`].
pub trait KvCas: KvBucket {
    /// The `cas` resource.
    type Cas;

    /// `cas.new`.
    fn cas_new(&self, key: &str) -> Result<Self::Cas, Error>;
    /// `cas.current`.
    fn cas_current(cas: &Self::Cas) -> Result<Option<Vec<u8>>, Error>;
    /// `atomics.swap`.
    fn swap(cas: Self::Cas, value: &[u8]) -> Result<(), CasError<Self::Cas>>;
}

/// Why a check did not pass.
#[derive(Debug)]
pub enum Fault {
    /// The implementation broke a documented promise; the message says what was called, what
    /// was expected and what came back.
    Fail(String),
    /// The check could not decide, or the implementation made a choice the drafts leave open;
    /// the message says which.
    Skip(String),
}

impl From<String> for Fault {
    fn from(message: String) -> Self {
        Fault::Fail(message)
    }
}

/// What a check returns.
pub type Outcome = Result<(), Fault>;

/// What the command line says about the implementation under test, shared by every check.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    /// `--bucket ID`: the one identifier the host allows; every check opens it.
    pub bucket: Option<String>,
    /// `--no-persistence`: data written through one `open` is not visible through another open
    /// of the same identifier.
    pub no_persistence: bool,
    /// A suffix unique to this run, so that keys meant to be fresh are, in a store that keeps
    /// data across runs.
    pub nonce: String,
}

impl Ctx {
    /// The identifier a check that would use bucket `name` opens: `name`, or `--bucket`'s.
    pub fn identifier(&self, name: &str) -> String {
        self.bucket.clone().unwrap_or_else(|| name.to_owned())
    }

    /// Opens [`Ctx::identifier`]`(name)`.
    pub fn open<B: KvBucket>(&self, name: &str) -> Result<B, String> {
        let identifier = self.identifier(name);
        call(
            &format!("open({})", clip(&identifier)),
            B::open(&identifier),
        )
    }

    /// A key no earlier run wrote: `name` and the run's nonce.
    pub fn fresh(&self, name: &str) -> String {
        format!("{name}-{}", self.nonce)
    }
}

/// `result` of the call described by `what`, or a message that says it failed and how.
pub fn call<T>(what: &str, result: Result<T, Error>) -> Result<T, String> {
    result.map_err(|e| format!("{what}: expected ok, got error {}", error(&e)))
}

/// `Ok` if `condition`, else the message `message` makes.
pub fn ensure(condition: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(message()) }
}

/// Checks that `key` holds `value` in `bucket`, through `get` and `exists`.
pub fn holds<B: KvBucket>(bucket: &B, key: &str, value: &[u8]) -> Result<(), String> {
    let got = call(&format!("get({})", clip(key)), bucket.get(key))?;
    ensure(got.as_deref() == Some(value), || {
        format!(
            "get({}): expected some({}), got {}",
            clip(key),
            bytes(value),
            report::option_bytes(got.as_deref())
        )
    })?;
    let exists = call(&format!("exists({})", clip(key)), bucket.exists(key))?;
    ensure(exists, || {
        format!(
            "exists({}): expected true (get returned the value), got false",
            clip(key)
        )
    })
}

/// Checks that `key` holds nothing in `bucket`, through `get` and `exists`.
pub fn missing<B: KvBucket>(bucket: &B, key: &str) -> Result<(), String> {
    let got = call(&format!("get({})", clip(key)), bucket.get(key))?;
    ensure(got.is_none(), || {
        format!(
            "get({}): expected none, got {}",
            clip(key),
            report::option_bytes(got.as_deref())
        )
    })?;
    let exists = call(&format!("exists({})", clip(key)), bucket.exists(key))?;
    ensure(!exists, || {
        format!(
            "exists({}): expected false (get returned none), got true",
            clip(key)
        )
    })
}

/// Walks `list-keys` from `none` until the cursor is `none`; returns the keys in order and the
/// number of pages. Stops with an error after `max_pages` pages, or if a page repeats a cursor.
pub fn list_all<B: KvBucket>(bucket: &B, max_pages: usize) -> Result<(Vec<String>, usize), String> {
    let mut all = Vec::new();
    let mut cursor: Option<B::Cursor> = None;
    for page in 1..=max_pages {
        let what = format!(
            "list-keys({}) (page {page})",
            report::cursor(cursor.as_ref())
        );
        let (keys, next) = call(&what, bucket.list_keys(cursor.as_ref()))?;
        all.extend(keys);
        match next {
            None => return Ok((all, page)),
            Some(next) if cursor.as_ref() == Some(&next) => {
                return Err(format!(
                    "{what}: returned the cursor it was given; the walk would never end"
                ));
            }
            Some(next) => cursor = Some(next),
        }
    }
    Err(format!(
        "list-keys: the walk did not end after {max_pages} pages ({} keys so far)",
        all.len()
    ))
}

/// The usage message: what the command does and its options.
pub const USAGE: &str = "\
Checks a wasi:keyvalue implementation against the documented behaviour of the drafts: store,
list-keys paging and cursors, increment, compare-and-swap (draft2), batch, odd keys and values,
and errors without traps. One line per check (`ok NAME`, `FAIL NAME: what happened`,
`skip NAME: why`), then `N passed, M failed, K skipped`. Exit status: 0 if no check failed;
otherwise 1, also for a bad command line, which prints `error: ...` and this message on stderr
and runs nothing (WASI 0.2's `exit` carries only success or failure).

Usage: conformance [OPTIONS]

Options:
  --list              print the names of the checks, one a line, and exit
  --only NAME         run only check NAME, or the checks of area NAME (`store`, `list`, ...);
                      `PREFIX*` runs those whose name starts with PREFIX; repeatable
  --bucket ID         the one bucket identifier the host allows: every check opens ID, and
                      the checks that need several buckets are skipped (by default checks
                      open \"\" and buckets of their own)
  --no-persistence    data written through one `open` is not visible through another open of
                      the same identifier (as wasmtime's `-S keyvalue` store): the checks that
                      reopen a bucket are skipped
  --help              print this message

Run on a host:   wasmtime run -S keyvalue conformance.wasm --bucket '' --no-persistence
Run plugged:     keyvalue-virt plug conformance.wasm -o plugged.wasm && wasmtime run plugged.wasm";

/// The command line, parsed.
#[derive(Debug, Default)]
struct Options {
    list: bool,
    help: bool,
    only: Vec<String>,
    ctx: Ctx,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut options = Options::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .cloned()
                    .ok_or_else(|| format!("`{name}` needs a value"))
            };
            match arg.as_str() {
                "--list" => options.list = true,
                "--help" | "-h" => options.help = true,
                "--no-persistence" => options.ctx.no_persistence = true,
                "--only" => options.only.push(value("--only")?),
                "--bucket" => {
                    if options.ctx.bucket.is_some() {
                        return Err("`--bucket` may be given once".to_owned());
                    }
                    options.ctx.bucket = Some(value("--bucket")?);
                }
                other => return Err(format!("unknown argument `{}`", clip(other))),
            }
        }
        Ok(options)
    }
}

/// Whether `--only pattern` selects check `name`: the name itself, its area (`store` or
/// `store.`), or any name starting with `PREFIX` for `PREFIX*`.
fn selects(pattern: &str, name: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        return name.starts_with(prefix);
    }
    if name == pattern {
        return true;
    }
    let area = pattern.strip_suffix('.').unwrap_or(pattern);
    name.strip_prefix(area)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// Runs the checks the command line selects from `checks` and exits: status 0 if none failed,
/// 1 if one did. A bad command line asks for status 2, which WASI 0.2 reports as 1.
pub fn run(checks: &[Check]) -> ! {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match Options::parse(&args) {
        Ok(options) => options,
        Err(message) => usage_error(&message),
    };
    if options.help {
        println!("{USAGE}");
        exit(0);
    }
    for pattern in &options.only {
        if !checks.iter().any(|check| selects(pattern, check.name)) {
            usage_error(&format!(
                "no check matches `--only {}`; `--list` prints the checks of this draft",
                clip(pattern)
            ));
        }
    }
    let selected: Vec<&Check> = checks
        .iter()
        .filter(|check| {
            options.only.is_empty() || options.only.iter().any(|p| selects(p, check.name))
        })
        .collect();
    if options.list {
        for check in selected {
            println!("{}", check.name);
        }
        exit(0);
    }

    let mut ctx = options.ctx;
    ctx.nonce = nonce();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for check in selected {
        let outcome = match check.unmet_need(&ctx) {
            Some(reason) => Err(Fault::Skip(reason)),
            None => (check.run)(&ctx),
        };
        let mut out = std::io::stdout().lock();
        // A line that cannot be written is lost, but the run goes on to its exit status.
        let _ = match outcome {
            Ok(()) => {
                passed += 1;
                writeln!(out, "ok {}", check.name)
            }
            Err(Fault::Fail(message)) => {
                failed += 1;
                writeln!(out, "FAIL {}: {}", check.name, one_line(&message))
            }
            Err(Fault::Skip(reason)) => {
                skipped += 1;
                writeln!(out, "skip {}: {}", check.name, one_line(&reason))
            }
        };
        let _ = out.flush();
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    exit(if failed == 0 { 0 } else { 1 });
}

fn usage_error(message: &str) -> ! {
    eprintln!("error: {message}\n\n{USAGE}");
    exit(2);
}

fn exit(code: i32) -> ! {
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}

/// `message` on one line: a line break would split a result line in two.
fn one_line(message: &str) -> String {
    message.replace(['\n', '\r'], " ")
}

/// A suffix unique to this run (from the random seed std draws for its hash maps).
fn nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    format!("{:08x}", hasher.finish() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_selects_a_name_an_area_or_a_prefix() {
        assert!(selects("store.delete", "store.delete"));
        assert!(!selects("store.delete", "store.delete-missing"));
        assert!(selects("store", "store.delete"));
        assert!(selects("store.", "store.delete"));
        assert!(!selects("store", "storekeeper.x"));
        assert!(!selects("sto", "store.delete"));
        assert!(selects("store.delete*", "store.delete-missing"));
        assert!(selects("*", "anything"));
    }

    #[test]
    fn options_are_parsed_and_unknown_ones_refused() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let options = Options::parse(&args(&[
            "--only",
            "a",
            "--bucket",
            "",
            "--no-persistence",
            "--only",
            "b",
        ]))
        .unwrap();
        assert_eq!(options.only, ["a", "b"]);
        assert_eq!(options.ctx.bucket.as_deref(), Some(""));
        assert!(options.ctx.no_persistence);
        assert!(
            Options::parse(&args(&["--bogus"]))
                .unwrap_err()
                .contains("--bogus")
        );
        assert!(
            Options::parse(&args(&["--only"]))
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(Options::parse(&args(&["--bucket", "a", "--bucket", "b"])).is_err());
    }
}
