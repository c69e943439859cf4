//! What the baked configuration adds around every operation: injected faults, the bucket
//! allow and deny lists, read-only mode, size and key limits, seeding and the trace.

use core::cell::RefCell;
use core::fmt;
#[cfg(feature = "control")]
use core::fmt::Write as _;

use crate::config::{Config, Fault, Op, Trace};
use crate::error::{Error, ShortKey};
use crate::local::local;
use crate::prelude::*;

/// The configuration in force; a configuration that cannot be read fails every operation.
pub fn config() -> Result<&'static Config, Error> {
    crate::baked::config().map_err(|message| Error::Config(message.to_owned()))
}

local! {
    // How many calls each baked fault has matched in this instance, for `--fail ...@N`
    // (allocated on the first call that meets a fault).
    static MATCHED: RefCell<Vec<u64>> = RefCell::new(Vec::new());
}

/// Counts the call of `op` on `bucket` naming `target` against every baked fault it matches,
/// and returns the error of the first fault that fires on it.
pub fn inject(config: &Config, op: Op, bucket: &str, target: Target<'_>) -> Result<(), Error> {
    if config.faults.is_empty() {
        return Ok(());
    }
    inject_baked(config, op, bucket, target)
}

#[inline(never)]
fn inject_baked(config: &Config, op: Op, bucket: &str, target: Target<'_>) -> Result<(), Error> {
    MATCHED.with_borrow_mut(|matched| {
        matched.resize(config.faults.len(), 0);
        fire(
            config.faults.iter().zip(matched.iter_mut()),
            op,
            bucket,
            target,
        )
    })
}

/// Counts the call against each of `faults` it matches (each fault with its count of matched
/// calls), and returns the error of the first that fires.
pub fn fire<'f>(
    faults: impl Iterator<Item = (&'f Fault, &'f mut u64)>,
    op: Op,
    bucket: &str,
    target: Target<'_>,
) -> Result<(), Error> {
    let mut fired = None;
    for (fault, count) in faults {
        if !matches(fault, op, bucket, target) {
            continue;
        }
        *count = count.saturating_add(1);
        if fired.is_none() && fault.nth.is_none_or(|nth| nth == *count) {
            fired = Some(fault);
        }
    }
    match fired {
        None => Ok(()),
        Some(fault) => Err(fault.error.clone().into()),
    }
}

/// Whether `fault` applies to a call of `op` on `bucket` naming `target`.
fn matches(fault: &Fault, op: Op, bucket: &str, target: Target<'_>) -> bool {
    fault.op == op
        && fault.bucket.as_deref().is_none_or(|b| b == bucket)
        && fault.key.as_deref().is_none_or(|key| target.names(key))
}

/// Forgets how many calls the baked faults have matched (the control interface's `reset`).
#[cfg(feature = "control")]
pub fn restart_faults() {
    MATCHED.with_borrow_mut(Vec::clear);
}

/// Refuses a bucket that the allow and deny lists keep closed.
pub fn check_bucket(config: &Config, bucket: &str) -> Result<(), Error> {
    let denied = config.deny.iter().any(|name| name == bucket);
    let allowed = config.allow.is_empty() || config.allow.iter().any(|name| name == bucket);
    if denied || !allowed {
        return Err(Error::BucketNotAllowed {
            bucket: bucket.to_owned(),
            allowed: config.allow.clone(),
        });
    }
    Ok(())
}

/// Refuses writes to a read-only store.
pub fn check_write(config: &Config, op: Op) -> Result<(), Error> {
    if config.read_only && op.writes() {
        return Err(Error::ReadOnly);
    }
    Ok(())
}

/// Refuses a value larger than `--max-value-size`.
pub fn check_value(config: &Config, key: &str, len: usize) -> Result<(), Error> {
    match config.max_value_size {
        Some(max) if len as u64 > max => Err(Error::ValueTooLarge {
            key: key.to_owned(),
            len,
            max,
        }),
        _ => Ok(()),
    }
}

/// What an operation acted on, for faults, the trace and the call log.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// The bucket as a whole.
    Bucket,
    /// One key.
    Key(&'a str),
    /// One key, written with a value of this many bytes (the size is for the call log and
    /// the JSON trace).
    Write(
        &'a str,
        #[cfg_attr(not(feature = "control"), allow(dead_code))] usize,
    ),
    /// Several keys.
    Keys(&'a [String]),
    /// Several keys, written with their values.
    Pairs(&'a [(String, Vec<u8>)]),
}

impl Target<'_> {
    /// Whether the operation names `key` (a batch: among its keys).
    pub fn names(&self, key: &str) -> bool {
        match *self {
            Target::Bucket => false,
            Target::Key(k) | Target::Write(k, _) => k == key,
            Target::Keys(keys) => keys.iter().any(|k| k == key),
            Target::Pairs(pairs) => pairs.iter().any(|(k, _)| k == key),
        }
    }
}

/// Writes one trace line per operation when `--trace` is on: `keyvalue-virt: OP bucket="B"
/// key="K" -> RESULT`, or with `--trace=json` a JSON object (the `json` module, which only the
/// control builds carry). The line's start is formatted before the operation runs, since the
/// operation may consume its keys.
pub struct Tracer(Option<(String, Trace)>);

impl Tracer {
    /// Starts the line for `op` on `bucket` (nothing when tracing is off).
    #[inline(always)]
    pub fn start(config: &Config, op: Op, bucket: &str, target: Target<'_>) -> Tracer {
        if config.trace == Trace::Off {
            return Tracer(None);
        }
        Tracer(Some((
            start_line(config.trace, op, bucket, target),
            config.trace,
        )))
    }

    /// Ends the line with the operation's result, writes it, and passes the result on.
    // Inlined so that, with tracing off, an operation pays one branch; the line is written out
    // of line.
    #[inline(always)]
    pub fn finish<T: Outcome>(self, result: Result<T, Error>) -> Result<T, Error> {
        if let Some((line, trace)) = self.0 {
            write_line(
                line,
                trace,
                result.as_ref().map(|value| value as &dyn Outcome),
            );
        }
        result
    }
}

#[cold]
#[inline(never)]
fn start_line(trace: Trace, op: Op, bucket: &str, target: Target<'_>) -> String {
    #[cfg(feature = "control")]
    if trace == Trace::Json {
        return crate::json::start(op.name(), bucket, target);
    }
    #[cfg(not(feature = "control"))]
    let _ = trace;
    let mut line = format!("keyvalue-virt: {} bucket={}", op.name(), ShortKey(bucket));
    match target {
        Target::Bucket => {}
        Target::Key(key) | Target::Write(key, _) => {
            line.push_str(&format!(" key={}", ShortKey(key)))
        }
        Target::Keys(keys) => line.push_str(&format!(" keys={}", keys.len())),
        Target::Pairs(pairs) => line.push_str(&format!(" keys={}", pairs.len())),
    }
    line
}

#[cold]
#[inline(never)]
fn write_line(mut line: String, trace: Trace, result: Result<&dyn Outcome, &Error>) {
    #[cfg(feature = "control")]
    if trace == Trace::Json {
        line = crate::json::finish(line, result);
        crate::wasi::write_stderr(line.as_bytes());
        return;
    }
    #[cfg(not(feature = "control"))]
    let _ = trace;
    match result {
        Ok(value) => line.push_str(&format!(" -> ok{}", Shown(value))),
        Err(error) => line.push_str(&format!(" -> error {}: {error}", error.case_name())),
    }
    line.push('\n');
    crate::wasi::write_stderr(line.as_bytes());
}

/// How an operation's result reads in a trace line.
pub trait Outcome {
    /// Writes what follows `ok` (nothing, or a space and a summary).
    fn summary(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;

    /// Writes the value of the JSON trace's `result` member and the members of its payload
    /// (see [`json`](crate::json)); without a value to show, `"ok"`.
    #[cfg(feature = "control")]
    #[cfg(feature = "control")]
    fn json(&self, out: &mut String) {
        out.push_str("\"ok\"");
    }

    /// What the call log records of the result.
    #[cfg(feature = "control")]
    fn returned(&self) -> crate::control::Returned {
        crate::control::Returned::Ok
    }
}

struct Shown<'a, T: ?Sized>(&'a T);

impl<T: Outcome + ?Sized> fmt::Display for Shown<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.summary(f)
    }
}

impl Outcome for () {
    fn summary(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

impl Outcome for bool {
    fn summary(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, " {self}")
    }

    #[cfg(feature = "control")]
    fn json(&self, out: &mut String) {
        out.push_str(if *self {
            "\"flag\",\"flag\":true"
        } else {
            "\"flag\",\"flag\":false"
        });
    }

    #[cfg(feature = "control")]
    fn returned(&self) -> crate::control::Returned {
        crate::control::Returned::Flag(*self)
    }
}

impl Outcome for Option<Vec<u8>> {
    fn summary(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            None => f.write_str(" none"),
            Some(value) => {
                let plural = if value.len() == 1 { "" } else { "s" };
                write!(f, " ({} byte{plural})", value.len())
            }
        }
    }

    #[cfg(feature = "control")]
    fn json(&self, out: &mut String) {
        match self {
            None => out.push_str("\"none\""),
            Some(value) => {
                let _ = write!(out, "\"value\",\"size\":{}", value.len());
            }
        }
    }

    #[cfg(feature = "control")]
    fn returned(&self) -> crate::control::Returned {
        match self {
            None => crate::control::Returned::None,
            Some(value) => crate::control::Returned::Value(value.len() as u64),
        }
    }
}

impl Outcome for u64 {
    fn summary(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, " {self}")
    }

    #[cfg(feature = "control")]
    fn json(&self, out: &mut String) {
        let _ = write!(out, "\"number\",\"number\":{self}");
    }

    #[cfg(feature = "control")]
    fn returned(&self) -> crate::control::Returned {
        match i64::try_from(*self) {
            Ok(n) => crate::control::Returned::Number(n),
            Err(_) => crate::control::Returned::BigNumber(*self),
        }
    }
}

impl Outcome for i64 {
    fn summary(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, " {self}")
    }

    #[cfg(feature = "control")]
    fn json(&self, out: &mut String) {
        let _ = write!(out, "\"number\",\"number\":{self}");
    }

    #[cfg(feature = "control")]
    fn returned(&self) -> crate::control::Returned {
        crate::control::Returned::Number(*self)
    }
}
