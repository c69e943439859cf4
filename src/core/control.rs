//! The live test double behind the control interface (`wit/control/control.wit`): direct
//! access to the data past the policy, `reset` to the baked seeds, the log of the app's calls,
//! and faults added at run time.
//!
//! Every app call passes through [`start`], [`inject`] and [`finish`] (from
//! [`Call`](crate::bucket)); the functions that the control interface exports do not, so they
//! are never logged, refused or failed.

use alloc::rc::Rc;
use core::cell::{Cell, RefCell};

#[cfg(feature = "fs")]
use crate::backend::fs::Fs;
use crate::backend::{BucketOps, memory};
use crate::bucket::{self, PAGE_BYTES, PAGE_KEYS};
#[cfg(feature = "fs")]
use crate::config::SyncMode;
use crate::config::{BackendKind, Config, ErrorCase, Fault, Op};
use crate::error::Error;
use crate::local::local;
use crate::policy::{self, Outcome, Target};
use crate::prelude::*;

/// How many calls the log keeps unless told otherwise.
pub const DEFAULT_LOG_LIMIT: usize = 1000;

/// One logged call of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// The operation.
    pub op: Op,
    /// The bucket the call was made on (for `open`, the identifier asked for).
    pub bucket: Rc<str>,
    /// The keys the call named, with the sizes of the values it wrote.
    pub keys: Keys,
    /// What the call returned.
    pub outcome: Returned,
}

/// The keys of a logged call; one key is kept without a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keys {
    /// No key (`open`, `list-keys`).
    None,
    /// One key.
    One(String),
    /// One key, written with a value of this many bytes.
    Written(String, u64),
    /// The keys of a batch.
    Many(Vec<String>),
    /// The keys of a written batch, each with the size of its value.
    ManyWritten(Vec<(String, u64)>),
}

/// What a logged call returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Returned {
    /// Success without a value to show.
    Ok,
    /// A value of this many bytes.
    Value(u64),
    /// No value.
    None,
    /// `exists` or `swap`.
    Flag(bool),
    /// The sum of an `increment`.
    Number(i64),
    /// The sum of a draft `increment` beyond `i64`.
    BigNumber(u64),
    /// A `list-keys` page: its keys, and whether more follow.
    Page(u32, bool),
    /// What `get-many` found, per key.
    Values(Vec<Option<u64>>),
    /// The error returned.
    Failed(ErrorCase),
}

/// The call log: the newest calls, at most `limit`, in a ring, and how many older ones were
/// dropped. Once the ring is full, a call overwrites the oldest entry in place, reusing its
/// key's buffer and (on the same bucket) its bucket name: logging a single-key call then
/// allocates nothing, moves no entry and touches no reference count.
struct Log {
    // Oldest first from `head`: `calls[head..]`, then `calls[..head]`. `head` is 0 until the
    // ring is full.
    calls: Vec<Logged>,
    head: usize,
    dropped: u64,
    limit: usize,
}

impl Log {
    /// The entry the next call goes in, or `None` while logging is off.
    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        if self.calls.len() < self.limit {
            return Some(self.calls.len());
        }
        if self.limit == 0 {
            return None;
        }
        let at = self.head;
        self.head = if at + 1 >= self.calls.len() {
            0
        } else {
            at + 1
        };
        self.dropped = self.dropped.saturating_add(1);
        Some(at)
    }

    /// Puts the calls in order (`head` 0), so that the ring can grow or shrink.
    fn straighten(&mut self) {
        let head = core::mem::take(&mut self.head);
        if head <= self.calls.len() {
            self.calls.rotate_left(head);
        }
    }
}

local! {
    static LOG: RefCell<Log> = RefCell::new(Log {
        calls: Vec::new(),
        head: 0,
        dropped: 0,
        limit: DEFAULT_LOG_LIMIT,
    });
}

local! {
    // Faults added at run time, oldest first, each with the count of calls it has matched.
    static FAULTS: RefCell<Vec<(Fault, u64)>> = RefCell::new(Vec::new());
}

local! {
    // Whether `FAULTS` holds any.
    static ANY_FAULTS: Cell<bool> = Cell::new(false);
}

/// The log entry of a call in progress: where [`start`] wrote it, for [`finish`] to add the
/// outcome; `None` while logging is off.
pub struct Entry(Option<usize>);

/// Logs the start of a call of `op` on `bucket` naming `target`: what the log needs, copied
/// before the call consumes its keys. [`finish`] adds the outcome (no app call can run in
/// between: an instance runs one call at a time).
#[inline(always)]
pub fn start(op: Op, bucket: &Rc<str>, target: Target<'_>) -> Entry {
    // Inlined into each operation, where `target`'s variant is known: a single-key call goes
    // to `start_key` with its key in registers, the rest out of line.
    match target {
        Target::Key(key) => start_key(op, bucket, key, None),
        Target::Write(key, len) => start_key(op, bucket, key, Some(len as u64)),
        _ => start_any(op, bucket, target),
    }
}

/// [`start`] for a call that names one key (`size`: of the value it writes).
#[inline(never)]
fn start_key(op: Op, bucket: &Rc<str>, key: &str, size: Option<u64>) -> Entry {
    LOG.with_borrow_mut(|log| {
        let at = log.next()?;
        let call = match log.calls.get_mut(at) {
            Some(call) => call,
            None => {
                log.calls.push(Logged {
                    op,
                    bucket: bucket.clone(),
                    keys: Keys::None,
                    outcome: Returned::Ok,
                });
                log.calls.last_mut()?
            }
        };
        call.op = op;
        if !Rc::ptr_eq(&call.bucket, bucket) {
            call.bucket = bucket.clone();
        }
        // The entry's own buffer when it has one (a full ring of single-key calls: always).
        match (&mut call.keys, size) {
            (Keys::One(buffer), None) => copy_key(buffer, key),
            (Keys::Written(buffer, old), Some(size)) => {
                copy_key(buffer, key);
                *old = size;
            }
            (keys, size) => set_key(keys, key, size),
        }
        Some(at)
    })
    .map_or(Entry(None), |at| Entry(Some(at)))
}

/// Copies `key` into `buffer`.
#[inline(always)]
fn copy_key(buffer: &mut String, key: &str) {
    buffer.clear();
    buffer.push_str(key);
}

/// Sets `keys` to `key` (written with a value of `size` bytes), keeping the buffer `keys`
/// has, if any.
#[cold]
#[inline(never)]
fn set_key(keys: &mut Keys, key: &str, size: Option<u64>) {
    let mut buffer = match core::mem::replace(keys, Keys::None) {
        Keys::One(buffer) | Keys::Written(buffer, _) => buffer,
        _ => String::new(),
    };
    copy_key(&mut buffer, key);
    *keys = match size {
        None => Keys::One(buffer),
        Some(size) => Keys::Written(buffer, size),
    };
}

/// [`start`] for a call on the bucket or on a batch of keys.
#[inline(never)]
fn start_any(op: Op, bucket: &Rc<str>, target: Target<'_>) -> Entry {
    let keys = match target {
        Target::Bucket => Keys::None,
        Target::Key(key) => Keys::One(key.to_owned()),
        Target::Write(key, len) => Keys::Written(key.to_owned(), len as u64),
        Target::Keys(keys) => Keys::Many(keys.to_vec()),
        Target::Pairs(pairs) => Keys::ManyWritten(
            pairs
                .iter()
                .map(|(key, value)| (key.clone(), value.len() as u64))
                .collect(),
        ),
    };
    LOG.with_borrow_mut(|log| {
        let at = log.next()?;
        let call = Logged {
            op,
            bucket: bucket.clone(),
            keys,
            outcome: Returned::Ok,
        };
        match log.calls.get_mut(at) {
            Some(old) => *old = call,
            None => log.calls.push(call),
        }
        Some(at)
    })
    .map_or(Entry(None), |at| Entry(Some(at)))
}

/// Adds the result to the log entry that `entry` started.
#[inline(always)]
pub fn finish<T: Outcome>(entry: Entry, result: &Result<T, Error>) {
    if let Some(at) = entry.0 {
        let outcome = match result {
            Ok(value) => value.returned(),
            Err(error) => failed(error),
        };
        set_outcome(at, outcome);
    }
}

#[cold]
#[inline(never)]
fn failed(error: &Error) -> Returned {
    Returned::Failed(error.clone().into_case())
}

#[inline(never)]
fn set_outcome(at: usize, outcome: Returned) {
    LOG.with_borrow_mut(|log| {
        if let Some(call) = log.calls.get_mut(at) {
            call.outcome = outcome;
        }
    })
}

/// Counts the call against the faults added at run time, newest first, and returns the
/// error of the first that fires.
#[inline(always)]
pub fn inject(op: Op, bucket: &str, target: Target<'_>) -> Result<(), Error> {
    // One load and a branch while no fault was added, so that the checks stay inlined.
    if !ANY_FAULTS.get() {
        return Ok(());
    }
    inject_added(op, bucket, target)
}

#[inline(never)]
fn inject_added(op: Op, bucket: &str, target: Target<'_>) -> Result<(), Error> {
    FAULTS.with_borrow_mut(|faults| {
        policy::fire(
            faults
                .iter_mut()
                .rev()
                .map(|(fault, count)| (&*fault, count)),
            op,
            bucket,
            target,
        )
    })
}

/// The logged calls, oldest first, and how many older ones were dropped.
pub fn log() -> (Vec<Logged>, u64) {
    LOG.with_borrow(|log| {
        let (newer, older) = log.calls.split_at(log.head.min(log.calls.len()));
        (older.iter().chain(newer).cloned().collect(), log.dropped)
    })
}

/// Empties the log.
pub fn clear_log() {
    LOG.with_borrow_mut(|log| {
        log.calls.clear();
        log.head = 0;
        log.dropped = 0;
    })
}

/// Keeps at most `max` calls in the log from now on (0: logging off), dropping the oldest.
pub fn set_log_limit(max: usize) {
    LOG.with_borrow_mut(|log| {
        log.straighten();
        let excess = log.calls.len().saturating_sub(max);
        log.calls.drain(..excess);
        log.dropped = log.dropped.saturating_add(excess as u64);
        log.limit = max;
    })
}

/// Adds a fault, checked before the baked ones and those added earlier.
pub fn add_fault(fault: Fault) -> Result<(), String> {
    if fault.nth == Some(0) {
        return Err(format!(
            "a fault on `{}` with `nth` 0 would never fire: calls count from 1 (the next \
             call), or pass no `nth` for every call",
            fault.op.name()
        ));
    }
    FAULTS.with_borrow_mut(|faults| faults.push((fault, 0)));
    ANY_FAULTS.set(true);
    Ok(())
}

/// Removes the faults added at run time.
pub fn clear_faults() {
    FAULTS.with_borrow_mut(Vec::clear);
    ANY_FAULTS.set(false);
}

/// The configuration, with the seeds stored (as an app's first `open` would).
fn ready() -> Result<&'static Config, Error> {
    let config = policy::config()?;
    bucket::seed(config)?;
    Ok(config)
}

/// The buckets that hold at least one key, sorted.
pub fn buckets() -> Result<Vec<String>, Error> {
    let config = ready()?;
    let mut names = match config.backend {
        BackendKind::Memory => memory::Memory::buckets(),
        #[cfg(feature = "fs")]
        // The fs backend keeps a bucket's directory once its last key is deleted.
        BackendKind::Fs => match &config.dir {
            Some(dir) => {
                let names =
                    Fs::new(dir, !config.read_only, config.sync == SyncMode::Always).buckets()?;
                let mut held = Vec::with_capacity(names.len());
                for name in names {
                    if bucket::backend_open(config, &name)?.count()? > 0 {
                        held.push(name);
                    }
                }
                held
            }
            None => return Err(Error::NoStoreDir),
        },
        #[cfg(feature = "redis")]
        BackendKind::Redis => crate::backend::redis::shared(&config.redis)?.buckets()?,
        #[allow(unreachable_patterns)]
        _ => return bucket::backend_open(config, "").map(|_| Vec::new()),
    };
    names.sort_unstable();
    Ok(names)
}

/// Every key of `bucket`, sorted.
pub fn keys(bucket: &str) -> Result<Vec<String>, Error> {
    let config = ready()?;
    let ops = bucket::backend_open(config, bucket)?;
    let mut keys = Vec::new();
    let mut from = Some(0);
    while let Some(position) = from {
        from = ops.keys(position, &mut keys, PAGE_KEYS, PAGE_BYTES)?;
    }
    keys.sort_unstable();
    Ok(keys)
}

/// The value of `key` in `bucket`.
pub fn get(bucket: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
    bucket::backend_open(ready()?, bucket)?.get(key)
}

/// Whether the store's data never changes: an fs store baked `--read-only`, whose directory
/// keyvalue-virt never writes, for the app or for the control interface. (Read-only mode
/// refuses only the app's writes with the other backends.)
fn fixed(config: &Config) -> bool {
    config.read_only && config.backend == BackendKind::Fs
}

/// The configuration, with the seeds stored, for a control call that writes.
fn ready_to_write() -> Result<&'static Config, Error> {
    let config = ready()?;
    if fixed(config) {
        return Err(Error::ControlReadOnly);
    }
    Ok(config)
}

/// Stores `value` under `key` in `bucket`.
pub fn set(bucket: &str, key: String, value: Vec<u8>) -> Result<(), Error> {
    bucket::backend_open(ready_to_write()?, bucket)?.set(key, value)
}

/// Removes `key` from `bucket`.
pub fn delete(bucket: &str, key: &str) -> Result<(), Error> {
    bucket::backend_open(ready_to_write()?, bucket)?.delete(key)
}

/// Back to the baked seeds: every key of every bucket removed, the seeds stored again, the
/// log and the added faults cleared, the baked faults' counts restarted. A read-only fs store
/// is left as it is: nothing could change it.
pub fn reset() -> Result<(), Error> {
    let config = ready()?;
    if fixed(config) {
        clear_log();
        clear_faults();
        policy::restart_faults();
        return Ok(());
    }
    for name in buckets()? {
        let ops = bucket::backend_open(config, &name)?;
        for key in keys(&name)? {
            ops.delete(&key)?;
        }
    }
    for seed in &config.seeds {
        bucket::backend_open(config, &seed.bucket)?.set(seed.key.clone(), seed.value.clone())?;
    }
    clear_log();
    clear_faults();
    policy::restart_faults();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::open;

    #[test]
    fn calls_are_logged_in_order_and_control_calls_are_not() {
        clear_log();
        let b = open("control-log").unwrap();
        b.set("k".into(), vec![1, 2, 3]).unwrap();
        assert_eq!(b.get("k").unwrap(), Some(vec![1, 2, 3]));
        assert_eq!(b.get("missing").unwrap(), None);
        set("control-log", "direct".into(), vec![9]).unwrap();
        assert_eq!(get("control-log", "direct").unwrap(), Some(vec![9]));
        let (calls, dropped) = log();
        assert_eq!(dropped, 0);
        let summary: Vec<(Op, Keys, Returned)> = calls
            .into_iter()
            .map(|call| {
                assert_eq!(&*call.bucket, "control-log");
                (call.op, call.keys, call.outcome)
            })
            .collect();
        assert_eq!(
            summary,
            [
                (Op::Open, Keys::None, Returned::Ok),
                (Op::Set, Keys::Written("k".into(), 3), Returned::Ok),
                (Op::Get, Keys::One("k".into()), Returned::Value(3)),
                (Op::Get, Keys::One("missing".into()), Returned::None),
            ]
        );
    }

    #[test]
    fn the_log_keeps_the_newest_calls_and_counts_the_dropped() {
        clear_log();
        set_log_limit(2);
        let b = open("control-bound").unwrap();
        for key in ["a", "b", "c"] {
            b.exists(key).unwrap();
        }
        let (calls, dropped) = log();
        assert_eq!(dropped, 2);
        let keys: Vec<Keys> = calls.into_iter().map(|call| call.keys).collect();
        assert_eq!(keys, [Keys::One("b".into()), Keys::One("c".into())]);
        set_log_limit(0);
        b.exists("d").unwrap();
        assert_eq!(log().0, []);
        set_log_limit(DEFAULT_LOG_LIMIT);
    }

    #[test]
    fn the_ring_keeps_its_order_across_wraps_and_limit_changes() {
        clear_log();
        set_log_limit(3);
        let b = open("control-ring").unwrap();
        let other = open("control-ring-other").unwrap();
        clear_log();
        // Five calls in a ring of three: the last three, the oldest two dropped, each entry
        // overwritten with a call of another kind of keys and another bucket.
        b.exists("a").unwrap();
        b.set("b".into(), vec![1]).unwrap();
        other.get_many(vec!["c".into(), "d".into()]).unwrap();
        other.set("e".into(), vec![1, 2]).unwrap();
        b.get("b").unwrap();
        let summary = |calls: Vec<Logged>| -> Vec<(String, Op, Keys, Returned)> {
            calls
                .into_iter()
                .map(|call| (call.bucket.to_string(), call.op, call.keys, call.outcome))
                .collect()
        };
        let (calls, dropped) = log();
        assert_eq!(dropped, 2);
        let newest = [
            (
                "control-ring-other".to_owned(),
                Op::GetMany,
                Keys::Many(vec!["c".into(), "d".into()]),
                Returned::Values(vec![None, None]),
            ),
            (
                "control-ring-other".to_owned(),
                Op::Set,
                Keys::Written("e".into(), 2),
                Returned::Ok,
            ),
            (
                "control-ring".to_owned(),
                Op::Get,
                Keys::One("b".into()),
                Returned::Value(1),
            ),
        ];
        assert_eq!(summary(calls), newest);
        // Growing the ring keeps the order, and new calls go after the newest.
        set_log_limit(4);
        b.delete("zz").unwrap();
        let (calls, dropped) = log();
        assert_eq!(dropped, 2);
        let delete = (
            "control-ring".to_owned(),
            Op::Delete,
            Keys::One("zz".into()),
            Returned::Ok,
        );
        assert_eq!(
            summary(calls),
            [&newest[..], core::slice::from_ref(&delete)].concat()
        );
        // One more wraps again; shrinking while wrapped drops the oldest.
        b.exists("y").unwrap();
        set_log_limit(2);
        let (calls, dropped) = log();
        assert_eq!(dropped, 5);
        let exists = (
            "control-ring".to_owned(),
            Op::Exists,
            Keys::One("y".into()),
            Returned::Flag(false),
        );
        assert_eq!(summary(calls), [delete, exists]);
        set_log_limit(DEFAULT_LOG_LIMIT);
        clear_log();
        assert_eq!(log(), (vec![], 0));
    }

    #[test]
    fn added_faults_fire_on_their_bucket_key_and_nth_and_are_logged() {
        clear_log();
        let b = open("control-faults").unwrap();
        let other = open("control-faults-other").unwrap();
        add_fault(Fault {
            bucket: Some("control-faults".into()),
            key: Some("session:42".into()),
            ..Fault::new(Op::Get, Some(2), ErrorCase::Other("boom".into()))
        })
        .unwrap();
        assert_eq!(b.get("session:42").unwrap(), None);
        assert_eq!(b.get("session:7").unwrap(), None);
        assert_eq!(other.get("session:42").unwrap(), None);
        assert_eq!(
            b.get("session:42").unwrap_err().into_case(),
            ErrorCase::Other("boom".into())
        );
        assert_eq!(b.get("session:42").unwrap(), None);
        let batch = b.get_many(vec!["x".into(), "session:42".into()]);
        assert!(batch.is_ok(), "a get fault does not fail get-many");
        let (calls, _) = log();
        let failed = calls
            .iter()
            .filter(|call| matches!(call.outcome, Returned::Failed(_)))
            .count();
        assert_eq!(failed, 1);
        assert_eq!(
            add_fault(Fault::new(Op::Get, Some(0), ErrorCase::AccessDenied)).unwrap_err(),
            "a fault on `get` with `nth` 0 would never fire: calls count from 1 (the next \
             call), or pass no `nth` for every call"
        );
        clear_faults();
        b.get("session:42").unwrap();
    }

    #[test]
    fn direct_access_lists_buckets_and_keys() {
        set("control-direct", "b".into(), vec![]).unwrap();
        set("control-direct", "a".into(), vec![1]).unwrap();
        assert_eq!(keys("control-direct").unwrap(), ["a", "b"]);
        assert!(buckets().unwrap().contains(&"control-direct".to_owned()));
        delete("control-direct", "a").unwrap();
        delete("control-direct", "b").unwrap();
        assert!(!buckets().unwrap().contains(&"control-direct".to_owned()));
    }
}
