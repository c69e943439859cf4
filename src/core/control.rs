//! The live test double behind the control interface (`wit/control/control.wit`): direct
//! access to the data past the policy, `reset` to the baked seeds, the log of the app's calls,
//! and faults added at run time.
//!
//! Every app call passes through [`start`], [`inject`] and [`finish`] (from
//! [`Call`](crate::bucket)); the functions that the control interface exports do not, so they
//! are never logged, refused or failed.

use alloc::collections::VecDeque;
use alloc::rc::Rc;
use core::cell::RefCell;

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

/// The call log: the newest calls, at most `limit`, and how many older ones were dropped.
struct Log {
    calls: VecDeque<Logged>,
    dropped: u64,
    limit: usize,
    // The key of the last call dropped from a full log, kept for the next call's key: once
    // the log is full, logging a single-key call allocates nothing.
    spare: Option<String>,
}

local! {
    static LOG: RefCell<Log> = RefCell::new(Log {
        calls: VecDeque::new(),
        dropped: 0,
        limit: DEFAULT_LOG_LIMIT,
        spare: None,
    });
}

local! {
    // Faults added at run time, oldest first, each with the count of calls it has matched.
    static FAULTS: RefCell<Vec<(Fault, u64)>> = RefCell::new(Vec::new());
}

/// The log entry of a call in progress; `None` while logging is off.
pub struct Entry(Option<(Op, Rc<str>, Keys)>);

/// Starts the log entry of a call of `op` on `bucket` naming `target`: what the log needs,
/// copied before the call consumes its keys.
#[inline(always)]
pub fn start(op: Op, bucket: &Rc<str>, target: Target<'_>) -> Entry {
    let spare = LOG.with_borrow_mut(|log| {
        if log.limit == 0 {
            return Err(());
        }
        Ok(log.spare.take())
    });
    match spare {
        Err(()) => Entry(None),
        Ok(spare) => Entry(Some((op, bucket.clone(), keys_of(target, spare)))),
    }
}

/// The keys of `target`, a single key copied into `spare` when there is one.
fn keys_of(target: Target<'_>, spare: Option<String>) -> Keys {
    let copy = |key: &str| match spare {
        Some(mut buffer) => {
            buffer.clear();
            buffer.push_str(key);
            buffer
        }
        None => key.to_owned(),
    };
    match target {
        Target::Bucket => Keys::None,
        Target::Key(key) => Keys::One(copy(key)),
        Target::Write(key, len) => Keys::Written(copy(key), len as u64),
        Target::Keys(keys) => Keys::Many(keys.to_vec()),
        Target::Pairs(pairs) => Keys::ManyWritten(
            pairs
                .iter()
                .map(|(key, value)| (key.clone(), value.len() as u64))
                .collect(),
        ),
    }
}

/// Logs the call that `entry` started, with its result.
#[inline(always)]
pub fn finish<T: Outcome>(entry: Entry, result: &Result<T, Error>) {
    if let Some((op, bucket, keys)) = entry.0 {
        let outcome = match result {
            Ok(value) => value.returned(),
            Err(error) => Returned::Failed(error.clone().into_case()),
        };
        push(Logged {
            op,
            bucket,
            keys,
            outcome,
        });
    }
}

fn push(call: Logged) {
    LOG.with_borrow_mut(|log| {
        if log.limit == 0 {
            return;
        }
        while log.calls.len() >= log.limit {
            if let Some(old) = log.calls.pop_front()
                && let Keys::One(key) | Keys::Written(key, _) = old.keys
            {
                log.spare = Some(key);
            }
            log.dropped = log.dropped.saturating_add(1);
        }
        log.calls.push_back(call);
    })
}

/// Counts the call against the faults added at run time, newest first, and returns the
/// error of the first that fires.
#[inline(always)]
pub fn inject(op: Op, bucket: &str, target: Target<'_>) -> Result<(), Error> {
    FAULTS.with_borrow_mut(|faults| {
        if faults.is_empty() {
            return Ok(());
        }
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
    LOG.with_borrow(|log| (log.calls.iter().cloned().collect(), log.dropped))
}

/// Empties the log.
pub fn clear_log() {
    LOG.with_borrow_mut(|log| {
        log.calls.clear();
        log.dropped = 0;
    })
}

/// Keeps at most `max` calls in the log from now on (0: logging off), dropping the oldest.
pub fn set_log_limit(max: usize) {
    LOG.with_borrow_mut(|log| {
        log.limit = max;
        while log.calls.len() > max {
            log.calls.pop_front();
            log.dropped = log.dropped.saturating_add(1);
        }
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
    Ok(())
}

/// Removes the faults added at run time.
pub fn clear_faults() {
    FAULTS.with_borrow_mut(Vec::clear);
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
