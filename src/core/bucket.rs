//! The semantics both drafts share: opening buckets, paging cursors, counters and
//! compare-and-swap, over the configured [`backend`](crate::backend).

use alloc::rc::Rc;
use core::cell::Cell;
use core::fmt;
#[cfg(feature = "control")]
use core::fmt::Write as _;
use core::str::FromStr;

#[cfg(feature = "fs")]
use crate::backend::fs::Fs;
use crate::backend::memory::Memory;
#[cfg(feature = "redis")]
use crate::backend::redis;
use crate::backend::{AnyBucket, Backend, BucketOps};
#[cfg(feature = "fs")]
use crate::config::SyncMode;
use crate::config::{BackendKind, Config, Op};
use crate::cursor::Cursor;
use crate::error::Error;
use crate::local::local;
use crate::policy::{self, Outcome, Target, Tracer};
use crate::prelude::*;

/// The most keys one `list-keys` page holds.
pub const PAGE_KEYS: usize = 1000;
/// A page stops early once its keys add up to this many bytes (it always holds at least one).
pub const PAGE_BYTES: usize = 1 << 20;

/// Opens the bucket named `identifier`.
pub fn open(identifier: &str) -> Result<Bucket, Error> {
    let name: Rc<str> = identifier.into();
    Call::begin(Op::Open, &name, Target::Bucket)?.run(|config| {
        policy::check_bucket(config, identifier)?;
        seed(config)?;
        Ok(Bucket {
            ops: backend_open(config, identifier)?,
            name: name.clone(),
        })
    })
}

/// One operation in progress: the configuration in force, whether the checks let it run, its
/// trace line and (with the control interface) its entry in the call log.
struct Call {
    config: &'static Config,
    admitted: Result<(), Error>,
    tracer: Tracer,
    #[cfg(feature = "control")]
    entry: crate::control::Entry,
}

impl Call {
    /// Reads the configuration, starts the trace line of `op` on `bucket` and passes the
    /// checks every operation passes first (see [`Call::admit`]).
    #[inline(always)]
    fn begin(op: Op, bucket: &Rc<str>, target: Target<'_>) -> Result<Call, Error> {
        let config = policy::config()?;
        Ok(Call {
            config,
            tracer: Tracer::start(config, op, bucket, target),
            #[cfg(feature = "control")]
            entry: crate::control::start(op, bucket, target),
            admitted: Call::admit(config, op, bucket, target),
        })
    }

    /// Does the `work` if the checks let it, ends the trace line with its result and logs
    /// the call.
    #[inline(always)]
    fn run<T: Outcome>(
        self,
        work: impl FnOnce(&'static Config) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let result = self.admitted.and_then(|()| work(self.config));
        #[cfg(feature = "control")]
        crate::control::finish(self.entry, &result);
        self.tracer.finish(result)
    }

    /// Injected faults (added through the control interface, then baked), then read-only
    /// mode; one copy for every operation.
    fn admit(config: &Config, op: Op, bucket: &str, target: Target<'_>) -> Result<(), Error> {
        #[cfg(feature = "control")]
        crate::control::inject(op, bucket, target)?;
        policy::inject(config, op, bucket, target)?;
        policy::check_write(config, op)
    }
}

pub(crate) fn backend_open(config: &Config, identifier: &str) -> Result<AnyBucket, Error> {
    match (config.backend, &config.dir) {
        (BackendKind::Memory, _) => Memory.open(identifier).map(AnyBucket::Memory),
        (BackendKind::Fs, None) => Err(Error::NoStoreDir),
        #[cfg(feature = "fs")]
        (BackendKind::Fs, Some(dir)) => {
            Fs::new(dir, !config.read_only, config.sync == SyncMode::Always)
                .open(identifier)
                .map(AnyBucket::Fs)
        }
        #[cfg(not(feature = "fs"))]
        (BackendKind::Fs, Some(_)) => Err(Error::BackendUnavailable("fs")),
        #[cfg(feature = "redis")]
        (BackendKind::Redis, _) => redis::shared(&config.redis)?
            .open(identifier)
            .map(AnyBucket::Redis),
        #[cfg(not(feature = "redis"))]
        (BackendKind::Redis, _) => Err(Error::BackendUnavailable("redis")),
    }
}

local! {
    // Whether this instance has stored the seeds.
    static SEEDED: Cell<bool> = Cell::new(false);
}

/// Stores the configured seeds, once per instance, under keys that have never held a value
/// (a deleted seed stays deleted; see [`BucketOps::create`]).
pub(crate) fn seed(config: &Config) -> Result<(), Error> {
    if config.seeds.is_empty() || SEEDED.get() {
        return Ok(());
    }
    for seed in &config.seeds {
        backend_open(config, &seed.bucket)?.create(seed.key.clone(), seed.value.clone())?;
    }
    SEEDED.set(true);
    Ok(())
}

/// An open bucket, shared by the `bucket` resources of both drafts.
pub struct Bucket {
    ops: AnyBucket,
    name: Rc<str>,
}

/// A key of a `get-many` and its value (`None` for a key that holds none).
pub type Pair = (String, Option<Vec<u8>>);

/// One page of keys and where the next one starts.
pub struct Page {
    /// The keys of the page.
    pub keys: Vec<String>,
    /// Where to continue, or `None` when the walk is complete.
    pub next: Option<Cursor>,
}

impl Bucket {
    /// Starts `op` on this bucket (see [`Call`]).
    #[inline(always)]
    fn begin(&self, op: Op, target: Target<'_>) -> Result<Call, Error> {
        Call::begin(op, &self.name, target)
    }

    /// Refuses to add `new_keys` more keys to a bucket at `--max-keys`.
    fn check_room(&self, config: &Config, new_keys: u64) -> Result<(), Error> {
        match config.max_keys {
            Some(max) if self.ops.count()?.saturating_add(new_keys) > max => {
                Err(Error::TooManyKeys {
                    bucket: self.name.to_string(),
                    max,
                })
            }
            _ => Ok(()),
        }
    }

    /// Refuses a new key in a bucket at `--max-keys`.
    fn check_room_for(&self, config: &Config, key: &str) -> Result<(), Error> {
        if config.max_keys.is_some() && !self.ops.exists(key)? {
            self.check_room(config, 1)?;
        }
        Ok(())
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.begin(Op::Get, Target::Key(key))?
            .run(|_| self.ops.get(key))
    }

    /// Stores `value` under `key`.
    pub fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
        self.begin(Op::Set, Target::Write(&key, value.len()))?
            .run(|config| {
                policy::check_value(config, &key, value.len())?;
                self.check_room_for(config, &key)?;
                self.ops.set(key, value)
            })
    }

    /// Removes `key`; a missing key is not an error.
    pub fn delete(&self, key: &str) -> Result<(), Error> {
        self.begin(Op::Delete, Target::Key(key))?
            .run(|_| self.ops.delete(key))
    }

    /// Whether `key` holds a value.
    pub fn exists(&self, key: &str) -> Result<bool, Error> {
        self.begin(Op::Exists, Target::Key(key))?
            .run(|_| self.ops.exists(key))
    }

    /// The page of keys that starts at `cursor` (`None`: the first page).
    pub fn list_keys(&self, cursor: Option<Cursor>) -> Result<Page, Error> {
        self.list_keys_from(cursor, Ok)
    }

    /// The page of keys that starts at the app's `cursor`, which `read` turns into a
    /// [`Cursor`] inside the call: a malformed cursor is traced, counted by `--fail` and
    /// refused by an injected fault like any other `list-keys`.
    pub fn list_keys_from<C>(
        &self,
        cursor: Option<C>,
        read: impl FnOnce(C) -> Result<Cursor, Error>,
    ) -> Result<Page, Error> {
        self.begin(Op::ListKeys, Target::Bucket)?.run(|config| {
            let tag = self.ops.tag();
            let cursor = cursor.map(read).transpose()?;
            let from = cursor.map_or(Ok(0), |cursor| cursor.position_in(tag))?;
            let mut keys = Vec::new();
            let page = config
                .page_keys
                .map_or(PAGE_KEYS, |n| n.clamp(1, PAGE_KEYS as u64) as usize);
            let next = self.ops.keys(from, &mut keys, page, PAGE_BYTES)?;
            Ok(Page {
                keys,
                next: next
                    .map(|position| Cursor::new(tag, position))
                    .transpose()?,
            })
        })
    }

    /// Adds `delta` to the decimal number stored under `key` (a missing key counts as 0) and
    /// returns the sum, which is stored in decimal ASCII. A value that is not such a number,
    /// or a sum out of range, is an error and leaves the value as it was.
    pub fn increment<N: Counter>(&self, key: &str, delta: N) -> Result<N, Error> {
        self.begin(Op::Increment, Target::Key(key))?.run(|config| {
            self.check_room_for(config, key)?;
            // The backend's own step (Redis `INCRBY`), unless a sum could break the size limit.
            if config.max_value_size.is_none_or(|max| max >= 20)
                && let Some(delta) = delta.to_i64()
                && let Some(sum) = self.ops.add(key, delta, N::UNSIGNED)?
                && let Some(sum) = N::from_i64(sum)
            {
                return Ok(sum);
            }
            let mut sum = N::default();
            self.ops.update(key, &mut |old| {
                let current = match old {
                    None => N::default(),
                    // Decimal ASCII as stored: digits, with a `-` for a negative s64, never `+`.
                    Some(bytes) => core::str::from_utf8(bytes)
                        .ok()
                        .filter(|text| !text.starts_with('+'))
                        .and_then(|text| text.parse::<N>().ok())
                        .ok_or_else(|| Error::NotANumber {
                            key: key.to_owned(),
                            ty: N::WIT_TYPE,
                        })?,
                };
                sum = current.checked_add(delta).ok_or_else(|| Error::Overflow {
                    key: key.to_owned(),
                    ty: N::WIT_TYPE,
                    current: current.to_string(),
                    delta: delta.to_string(),
                })?;
                let value = sum.to_string().into_bytes();
                policy::check_value(config, key, value.len())?;
                Ok(value)
            })?;
            Ok(sum)
        })
    }

    /// Each of `keys`, in order, with its value (`None` for a key that holds none); each
    /// draft's adapter shapes the result as its `get-many` returns it.
    pub fn get_many(&self, keys: Vec<String>) -> Result<Vec<Pair>, Error> {
        self.begin(Op::GetMany, Target::Keys(&keys))?.run(|_| {
            let values = self.ops.get_many(&keys)?;
            Ok(keys.into_iter().zip(values).collect())
        })
    }

    /// Stores every pair, in order. Value sizes are checked for the whole batch first, so a
    /// batch with one value too large stores nothing; a batch that reaches `--max-keys` stores
    /// the pairs before the first key that does not fit (batches are not atomic).
    pub fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        self.begin(Op::SetMany, Target::Pairs(&pairs))?
            .run(|config| {
                for (key, value) in &pairs {
                    policy::check_value(config, key, value.len())?;
                }
                if config.max_keys.is_none() {
                    return self.ops.set_many(pairs);
                }
                pairs.into_iter().try_for_each(|(key, value)| {
                    self.check_room_for(config, &key)?;
                    self.ops.set(key, value)
                })
            })
    }

    /// Removes every key.
    pub fn delete_many(&self, keys: Vec<String>) -> Result<(), Error> {
        self.begin(Op::DeleteMany, Target::Keys(&keys))?
            .run(|_| self.ops.delete_many(&keys))
    }

    /// Starts a compare-and-swap on `key`.
    pub fn cas(&self, key: String) -> Result<Cas, Error> {
        self.begin(Op::CasNew, Target::Key(&key))?.run(|_| {
            let seen = self.ops.watch(&key)?;
            Ok(Cas {
                bucket: Bucket {
                    ops: self.ops.clone(),
                    name: self.name.clone(),
                },
                key,
                seen: Cell::new(seen),
            })
        })
    }
}

/// A number type that `increment` counts in: `u64` for draft, `s64` for draft2.
pub trait Counter: Copy + Default + FromStr + fmt::Display + Outcome {
    /// The type's name in WIT, for messages.
    const WIT_TYPE: &'static str;
    /// Whether the type has no negative numbers.
    const UNSIGNED: bool;

    /// `self + delta`, or `None` when out of range.
    fn checked_add(self, delta: Self) -> Option<Self>;

    /// The number as an `i64`, if it is one.
    fn to_i64(self) -> Option<i64>;

    /// `value` as this type, if it is one.
    fn from_i64(value: i64) -> Option<Self>;
}

impl Counter for u64 {
    const WIT_TYPE: &'static str = "u64";
    const UNSIGNED: bool = true;

    fn checked_add(self, delta: Self) -> Option<Self> {
        u64::checked_add(self, delta)
    }

    fn to_i64(self) -> Option<i64> {
        i64::try_from(self).ok()
    }

    fn from_i64(value: i64) -> Option<Self> {
        u64::try_from(value).ok()
    }
}

impl Counter for i64 {
    const WIT_TYPE: &'static str = "s64";
    const UNSIGNED: bool = false;

    fn checked_add(self, delta: Self) -> Option<Self> {
        i64::checked_add(self, delta)
    }

    fn to_i64(self) -> Option<i64> {
        Some(self)
    }

    fn from_i64(value: i64) -> Option<Self> {
        Some(value)
    }
}

/// A compare-and-swap in progress: the version of one key as it was last seen.
pub struct Cas {
    bucket: Bucket,
    key: String,
    seen: Cell<u64>,
}

impl Cas {
    /// The value the key holds now.
    pub fn current(&self) -> Result<Option<Vec<u8>>, Error> {
        self.bucket
            .begin(Op::CasCurrent, Target::Key(&self.key))?
            .run(|_| self.bucket.ops.get(&self.key))
    }

    /// Stores `value` if nothing wrote or deleted the key since this handle last saw it.
    /// `Ok(false)` means the key changed; the handle then holds the latest version, so that the
    /// caller can retry with it.
    pub fn swap(&self, value: Vec<u8>) -> Result<bool, Error> {
        let bucket = &self.bucket;
        bucket
            .begin(Op::Swap, Target::Write(&self.key, value.len()))?
            .run(|config| {
                policy::check_value(config, &self.key, value.len())?;
                bucket.check_room_for(config, &self.key)?;
                match bucket.ops.swap(&self.key, self.seen.get(), value)? {
                    Ok(()) => Ok(true),
                    Err(now) => {
                        self.seen.set(now);
                        Ok(false)
                    }
                }
            })
    }
}

impl Drop for Cas {
    fn drop(&mut self) {
        self.bucket.ops.unwatch(&self.key);
    }
}

impl Outcome for Page {
    fn summary(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let more = if self.next.is_some() { ", more" } else { "" };
        let n = self.keys.len();
        let plural = if n == 1 { "" } else { "s" };
        write!(f, " ({n} key{plural}{more})")
    }

    #[cfg(feature = "control")]
    fn json(&self, out: &mut String) {
        let more = self.next.is_some();
        let _ = write!(
            out,
            "\"page\",\"count\":{},\"more\":{more}",
            self.keys.len()
        );
    }

    #[cfg(feature = "control")]
    fn returned(&self) -> crate::control::Returned {
        let len = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        crate::control::Returned::Page(len, self.next.is_some())
    }
}

impl Outcome for Vec<Pair> {
    fn summary(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let found = self.iter().filter(|(_, value)| value.is_some()).count();
        write!(f, " ({found} of {} found)", self.len())
    }

    #[cfg(feature = "control")]
    fn json(&self, out: &mut String) {
        out.push_str("\"values\",\"found\":[");
        for (i, (_, value)) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match value {
                None => out.push_str("null"),
                Some(value) => {
                    let _ = write!(out, "{}", value.len());
                }
            }
        }
        out.push(']');
    }

    #[cfg(feature = "control")]
    fn returned(&self) -> crate::control::Returned {
        crate::control::Returned::Values(
            self.iter()
                .map(|(_, value)| value.as_ref().map(|value| value.len() as u64))
                .collect(),
        )
    }
}

impl Outcome for Bucket {
    fn summary(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

impl Outcome for Cas {
    fn summary(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_of_another_bucket_are_refused() {
        let a = open("core-cursor-a").unwrap();
        let b = open("core-cursor-b").unwrap();
        for i in 0..(PAGE_KEYS + 1) {
            a.set(i.to_string(), vec![]).unwrap();
        }
        let page = a.list_keys(None).unwrap();
        assert_eq!(page.keys.len(), PAGE_KEYS);
        let next = page.next.expect("a second page");
        assert_eq!(b.list_keys(Some(next)).err(), Some(Error::ForeignCursor));
        let last = a.list_keys(Some(next)).unwrap();
        assert_eq!(last.keys.len(), 1);
        assert!(last.next.is_none());
    }

    #[test]
    fn increment_counts_from_zero_and_checks_range() {
        let b = open("core-increment").unwrap();
        assert_eq!(b.increment("n", 5u64), Ok(5));
        assert_eq!(b.increment("n", 3u64), Ok(8));
        assert_eq!(b.get("n").unwrap(), Some(b"8".to_vec()));

        b.set("max".into(), u64::MAX.to_string().into_bytes())
            .unwrap();
        assert!(matches!(
            b.increment("max", 1u64),
            Err(Error::Overflow { .. })
        ));
        assert_eq!(
            b.get("max").unwrap(),
            Some(u64::MAX.to_string().into_bytes())
        );

        assert_eq!(b.increment("s", -5i64), Ok(-5));
        assert_eq!(b.get("s").unwrap(), Some(b"-5".to_vec()));
        assert!(matches!(
            b.increment("s", 1u64),
            Err(Error::NotANumber { .. })
        ));
        b.set("min".into(), i64::MIN.to_string().into_bytes())
            .unwrap();
        assert!(matches!(
            b.increment("min", -1i64),
            Err(Error::Overflow { .. })
        ));

        for junk in [&b"abc"[..], b"", b"1.5", b"\xff", b" 1", b"+5", b"+0"] {
            b.set("junk".into(), junk.to_vec()).unwrap();
            assert!(matches!(
                b.increment("junk", 1i64),
                Err(Error::NotANumber { .. })
            ));
            assert_eq!(b.get("junk").unwrap(), Some(junk.to_vec()));
        }
    }

    #[test]
    fn cas_handle_catches_up_after_a_conflict() {
        let b = open("core-cas").unwrap();
        b.set("k".into(), b"1".to_vec()).unwrap();
        let cas = b.cas("k".into()).unwrap();
        b.set("k".into(), b"2".to_vec()).unwrap();
        assert_eq!(cas.swap(b"3".to_vec()), Ok(false));
        assert_eq!(cas.current().unwrap(), Some(b"2".to_vec()));
        assert_eq!(cas.swap(b"3".to_vec()), Ok(true));
        assert_eq!(b.get("k").unwrap(), Some(b"3".to_vec()));
    }
}
