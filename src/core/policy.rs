//! What the baked configuration adds around every operation: injected faults, the bucket
//! allow and deny lists, read-only mode, size and key limits, seeding and the trace.

use core::cell::Cell;
use core::fmt;

use crate::config::{Config, Op};
use crate::error::{Error, ShortKey};
use crate::local::local;
use crate::prelude::*;

/// The configuration in force; a configuration that cannot be read fails every operation.
pub fn config() -> Result<&'static Config, Error> {
    crate::baked::config().map_err(|message| Error::Config(message.to_owned()))
}

local! {
    // How often each operation has been called in this instance, for `--fail OP=ERROR@N`.
    static CALLS: [Cell<u64>; Op::ALL.len()] = [const { Cell::new(0) }; Op::ALL.len()];
}

/// Counts a call of `op` and returns the error of a fault that fires on it.
pub fn inject(config: &Config, op: Op) -> Result<(), Error> {
    if config.faults.is_empty() {
        return Ok(());
    }
    let index = op.index();
    let call = CALLS.with(|calls| {
        let n = calls[index].get().saturating_add(1);
        calls[index].set(n);
        n
    });
    match config
        .faults
        .iter()
        .find(|f| f.op == op && f.nth.is_none_or(|nth| nth == call))
    {
        None => Ok(()),
        Some(fault) => Err(fault.error.clone().into()),
    }
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

/// What an operation acted on, for the trace.
pub enum Target<'a> {
    /// The bucket as a whole.
    Bucket,
    /// One key.
    Key(&'a str),
    /// Several keys.
    Keys(usize),
}

/// Writes one trace line per operation, `keyvalue-virt: OP bucket="B" key="K" -> RESULT`, when
/// `--trace` is on. The line's start is formatted before the operation runs, since the
/// operation may consume its key.
pub struct Tracer(Option<String>);

impl Tracer {
    /// Starts the line for `op` on `bucket` (nothing when tracing is off).
    #[inline(always)]
    pub fn start(config: &Config, op: Op, bucket: &str, target: Target<'_>) -> Tracer {
        if !config.trace {
            return Tracer(None);
        }
        Tracer(Some(start_line(op, bucket, target)))
    }

    /// Ends the line with the operation's result, writes it, and passes the result on.
    // Inlined so that, with tracing off, an operation pays one branch; the line is written out
    // of line.
    #[inline(always)]
    pub fn finish<T: Outcome>(self, result: Result<T, Error>) -> Result<T, Error> {
        if let Some(line) = self.0 {
            write_line(line, result.as_ref().map(|value| value as &dyn Outcome));
        }
        result
    }
}

#[cold]
#[inline(never)]
fn start_line(op: Op, bucket: &str, target: Target<'_>) -> String {
    let mut line = format!("keyvalue-virt: {} bucket={}", op.name(), ShortKey(bucket));
    match target {
        Target::Bucket => {}
        Target::Key(key) => line.push_str(&format!(" key={}", ShortKey(key))),
        Target::Keys(n) => line.push_str(&format!(" keys={n}")),
    }
    line
}

#[cold]
#[inline(never)]
fn write_line(mut line: String, result: Result<&dyn Outcome, &Error>) {
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
}

impl Outcome for Option<Vec<u8>> {
    fn summary(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            None => f.write_str(" none"),
            Some(value) => write!(f, " ({} bytes)", value.len()),
        }
    }
}

impl Outcome for u64 {
    fn summary(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, " {self}")
    }
}

impl Outcome for i64 {
    fn summary(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, " {self}")
    }
}
